//! The simulated Proxmox node checks its formats, stderr texts and exit codes (the real
//! sources' texts, with their lines, are in src/conformance/; docs/proxmox-compatibility.md)
//! and drives real Docker + Compose in a namespaced container, and (a test of its own, so
//! that the two parts run in parallel) boots VMs.

use std::process::Command;

use crate::support::repo_root;

/// Runs `bash sim/<script> args…` from the repository's root; panics with its output
/// unless it exits 0.
fn self_test(script: &str, args: &[&str]) {
    let out = Command::new("bash")
        .arg(repo_root().join("sim").join(script))
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("run sim/{script} (needs bash): {e}"));
    assert!(
        out.status.success(),
        "sim/{script} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Containers, storage, templates, backups, HA, the cluster, Docker and Compose in a CT.
#[test]
fn simulator_self_test_passes() {
    self_test("selftest.sh", &["--no-vm"]);
}

/// VMs: qm, cloud-init, the guest agent, the VM's own sshd, download-url, vzdump/qmrestore.
#[test]
fn simulator_vm_self_test_passes() {
    self_test("selftest_vm.sh", &[]);
}
