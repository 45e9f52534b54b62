//! The simulated Proxmox node checks its formats, stderr texts and exit codes (the real
//! sources' texts, with their lines, are in src/conformance/; docs/proxmox-compatibility.md)
//! and drives real Docker + Compose in a namespaced container.

use std::process::Command;

use crate::support::repo_root;

#[test]
fn simulator_self_test_passes() {
    let out = Command::new("bash")
        .arg(repo_root().join("sim/selftest.sh"))
        .current_dir(repo_root())
        .output()
        .expect("run sim/selftest.sh (needs bash)");
    assert!(
        out.status.success(),
        "sim/selftest.sh failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
