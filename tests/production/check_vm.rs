//! `check` on a `[vm]` target (issue 25), on the file's node.

use std::path::Path;

use super::{node, TEST_BASE};
use crate::support::{pxdeploy, small_app, unique_vmid};

/// Issue 25: `check` on a `[vm]` target says what a VM needs on the node, each with the
/// command that enables it: KVM, a storage with content `import` for the image (the
/// `pvesm set` with the storage's whole list, since the list is replaced), `snippets` for
/// the cloud-init files, `images` for the disk, the bridge; the vmid free.
#[test]
fn check_explains_what_a_vm_needs_with_the_commands() {
    let sim = node();
    let app = small_app();
    let vmid = unique_vmid(TEST_BASE + 18);
    let mut table = sim.config_table();
    table.remove("container");
    let vm: toml::Table = format!("vmid = {vmid}\nname = \"vmapp\"\nmemory_mb = 512\ncores = 1\n")
        .parse()
        .unwrap();
    table.insert("vm".into(), toml::Value::Table(vm));
    std::fs::write(
        app.path().join("pxdeploy.toml"),
        toml::to_string(&table).unwrap(),
    )
    .unwrap();
    // The node's `local` as on a fresh install: neither `import` nor `snippets`.
    sim.set_knob("local_vm_content", "0");
    let r = pxdeploy().current_dir(app.path()).arg("check").run();
    sim.unset_knob("local_vm_content");
    r.assert_code(5);
    r.assert_stdout_contains("`qm` works");
    r.assert_stdout_contains("✗ image storage: `local` does not hold `import` (its content: ");
    let fix = r
        .stdout
        .lines()
        .skip_while(|l| !l.contains("✗ image storage"))
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        fix.contains("fix: `pvesm set local --content ") && fix.contains(",import` on the node"),
        "{}",
        r.dump()
    );
    // The whole list: every content `local` has now, then `import`.
    assert!(fix.contains("backup") && fix.contains("vztmpl"), "{fix}");
    r.assert_stdout_contains("✗ snippets storage: `local` does not hold `snippets`");
    r.assert_stdout_contains("✓ storage: `local-lvm` (lvmthin) has content `images`");
    r.assert_stdout_contains("✓ bridge: `vmbr0` exists");
    r.assert_stdout_contains(&format!(
        "✓ vmid: {vmid} is free: `pxdeploy create` will create the VM"
    ));
    // KVM: what the node (this machine) has.
    if Path::new("/dev/kvm").exists() {
        r.assert_stdout_contains("✓ kvm: /dev/kvm is there");
    } else {
        r.assert_stdout_contains("✗ kvm: /dev/kvm is missing on the node");
    }
    assert!(
        !r.stdout.contains("template") && !r.stdout.contains("docker features"),
        "container checks on a VM:\n{}",
        r.dump()
    );

    // With the node's default contents, the storages pass.
    let r = pxdeploy().current_dir(app.path()).arg("check").run();
    r.assert_stdout_contains("✓ image storage: `local` (dir) has content `import`");
    r.assert_stdout_contains("✓ snippets storage: `local` (dir) has content `snippets`");
}
