//! `qm` (and `qmrestore`): the command builders of a QEMU VM's lifecycle, snapshots and
//! guest agent. Texts as qemu-server's `PVE/CLI/qm.pm` takes them
//! (/work/shared/reference/proxmox-vm-and-monitoring.md §3, §4).

use crate::remote::quote::join;

/// `qm list`
pub(crate) fn list() -> String {
    "qm list".to_string()
}

/// `qm status <vmid>`
pub(crate) fn status(vmid: u32) -> String {
    format!("qm status {vmid}")
}

/// `qm config <vmid> --current 1`: the applied values (pending ones are shown as applied
/// without `--current`).
pub(crate) fn config(vmid: u32) -> String {
    format!("qm config {vmid} --current 1")
}

/// `qm start <vmid>`
pub(crate) fn start(vmid: u32) -> String {
    format!("qm start {vmid}")
}

/// `qm stop <vmid>`: QMP `quit`, then SIGTERM/SIGKILL.
pub(crate) fn stop(vmid: u32) -> String {
    format!("qm stop {vmid}")
}

/// `qm shutdown <vmid> --timeout <secs>`: the agent's `guest-shutdown` (or ACPI); fails
/// with `VM quit/powerdown failed - got timeout`.
pub(crate) fn shutdown(vmid: u32, timeout_secs: u64) -> String {
    format!("qm shutdown {vmid} --timeout {timeout_secs}")
}

/// `qm reboot <vmid> --timeout <secs>`: a shutdown (waited for at most `timeout_secs`, as
/// `qm shutdown --timeout`), then qmeventd starts it again.
pub(crate) fn reboot(vmid: u32, timeout_secs: u64) -> String {
    format!("qm reboot {vmid} --timeout {timeout_secs}")
}

/// `qm destroy <vmid> --purge 1 --destroy-unreferenced-disks 1`: also its backup-job
/// entries, HA resource, firewall file, and the disks no config line names.
pub(crate) fn destroy(vmid: u32) -> String {
    format!("qm destroy {vmid} --purge 1 --destroy-unreferenced-disks 1")
}

/// `qm set <vmid> --<key> <value>`
pub(crate) fn set(vmid: u32, key: &str, value: &str) -> String {
    join(&["qm", "set", &vmid.to_string(), &format!("--{key}"), value])
}

/// `qm snapshot <vmid> <name>`
pub(crate) fn snapshot(vmid: u32, name: &str) -> String {
    join(&["qm", "snapshot", &vmid.to_string(), name])
}

/// `qm listsnapshot <vmid>` (the same tree as `pct listsnapshot`)
pub(crate) fn list_snapshots(vmid: u32) -> String {
    format!("qm listsnapshot {vmid}")
}

/// `qm rollback <vmid> <name>`: leaves the VM stopped (no `--start`).
pub(crate) fn rollback(vmid: u32, name: &str) -> String {
    join(&["qm", "rollback", &vmid.to_string(), name])
}

/// `qm delsnapshot <vmid> <name>`
pub(crate) fn delete_snapshot(vmid: u32, name: &str) -> String {
    join(&["qm", "delsnapshot", &vmid.to_string(), name])
}

/// `qmrestore <archive> <vmid> --force 1 --storage <storage>` (the VM must be stopped).
pub(crate) fn restore(vmid: u32, volid: &str, storage: &str) -> String {
    join(&[
        "qmrestore",
        volid,
        &vmid.to_string(),
        "--force",
        "1",
        "--storage",
        storage,
    ])
}

/// `qm cloudinit update <vmid>`: rebuilds the cloud-init drive from the snippets now (not
/// only at the next start).
pub(crate) fn cloudinit_update(vmid: u32) -> String {
    format!("qm cloudinit update {vmid}")
}

/// `qm guest cmd <vmid> <command>` (`ping` prints nothing when the agent answers).
pub(crate) fn guest_cmd(vmid: u32, command: &str) -> String {
    join(&["qm", "guest", "cmd", &vmid.to_string(), command])
}

/// `qm guest exec <vmid> --timeout <secs> -- <argv…>`: no shell; prints JSON and exits 0
/// whatever the program did ([`super::agent::parse_exec`]).
pub(crate) fn guest_exec<S: AsRef<str>>(vmid: u32, timeout_secs: u64, argv: &[S]) -> String {
    format!(
        "qm guest exec {vmid} --timeout {timeout_secs} -- {}",
        join(argv)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands() {
        assert_eq!(list(), "qm list");
        assert_eq!(status(220), "qm status 220");
        assert_eq!(config(220), "qm config 220 --current 1");
        assert_eq!(start(220), "qm start 220");
        assert_eq!(stop(220), "qm stop 220");
        assert_eq!(shutdown(220, 60), "qm shutdown 220 --timeout 60");
        assert_eq!(reboot(220, 60), "qm reboot 220 --timeout 60");
        assert_eq!(
            destroy(220),
            "qm destroy 220 --purge 1 --destroy-unreferenced-disks 1"
        );
        assert_eq!(set(220, "protection", "0"), "qm set 220 --protection 0");
    }

    #[test]
    fn snapshots_and_restore() {
        assert_eq!(
            snapshot(220, "pxdeploy_20261207T171500Z"),
            "qm snapshot 220 pxdeploy_20261207T171500Z"
        );
        assert_eq!(list_snapshots(220), "qm listsnapshot 220");
        assert_eq!(rollback(220, "before"), "qm rollback 220 before");
        assert_eq!(delete_snapshot(220, "x y"), "qm delsnapshot 220 'x y'");
        assert_eq!(
            restore(220, "local:backup/vzdump-qemu-220-2026_12_07-17_15_00.vma.zst", "local-lvm"),
            "qmrestore local:backup/vzdump-qemu-220-2026_12_07-17_15_00.vma.zst 220 --force 1 --storage local-lvm"
        );
    }

    #[test]
    fn disks_and_agent() {
        assert_eq!(guest_cmd(220, "ping"), "qm guest cmd 220 ping");
        assert_eq!(cloudinit_update(220), "qm cloudinit update 220");
        assert_eq!(
            guest_cmd(220, "network-get-interfaces"),
            "qm guest cmd 220 network-get-interfaces"
        );
        assert_eq!(
            guest_exec(
                220,
                900,
                &["cloud-init", "status", "--wait", "--format", "json"]
            ),
            "qm guest exec 220 --timeout 900 -- cloud-init status --wait --format json"
        );
        assert_eq!(
            guest_exec(
                220,
                30,
                &["tail", "-n", "40", "/var/log/cloud-init-output.log"]
            ),
            "qm guest exec 220 --timeout 30 -- tail -n 40 /var/log/cloud-init-output.log"
        );
    }
}
