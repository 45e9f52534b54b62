//! The reader of what `qm` (and `qmrestore`, `vzdump` of a VM) says on stderr when it
//! refuses or fails, as qemu-server writes it (`PVE/API2/Qemu.pm`, `PVE/QemuServer.pm`,
//! `pve-guest-common AbstractConfig.pm`), as the same verdicts as `pct`'s
//! ([`crate::proxmox::pct::Said`]).

use crate::proxmox::pct::Said;

/// What stderr says, if it is one of `qm`'s refusals.
pub(crate) fn said(stderr: &str) -> Option<Said> {
    let lines = || stderr.lines().map(str::trim);
    if lines().any(|l| {
        l.starts_with("Configuration file 'nodes/")
            && l.contains("/qemu-server/")
            && l.ends_with(".conf' does not exist")
    }) {
        return Some(Said::Missing);
    }
    if stderr.contains("protection mode enabled") {
        return Some(Said::Protected);
    }
    if let Some(lock) = lines().find_map(|l| {
        let rest = &l[l.find("VM is locked (")? + "VM is locked (".len()..];
        Some(rest.split(')').next()?.to_string())
    }) {
        return Some(Said::Locked(lock));
    }
    let ct_or_vm = |l: &str| l.starts_with("CT ") || l.starts_with("VM ");
    if lines().any(|l| l.contains(" already exists on node '")) {
        return Some(Said::AlreadyExists);
    }
    if let Some(reason) = lines().find_map(|l| {
        let rest = l.strip_prefix("unable to create VM ")?;
        Some(rest.split_once(" - ").map_or(rest, |(_, r)| r).to_string())
    }) {
        return Some(Said::CreateFailed(reason));
    }
    if lines().any(|l| l.starts_with("VM ") && l.ends_with(" already running")) {
        return Some(Said::AlreadyRunning);
    }
    if lines()
        .any(|l| ct_or_vm(l) && (l.ends_with(" not running") || l.ends_with(" is not running")))
    {
        return Some(Said::NotRunning);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_of_the_reference() {
        let cases = [
            (
                "Configuration file 'nodes/pve/qemu-server/220.conf' does not exist\n",
                Some(Said::Missing),
            ),
            (
                "Configuration file 'nodes/pve/lxc/220.conf' does not exist\n",
                None,
            ),
            (
                "can't remove VM 220 - protection mode enabled\n",
                Some(Said::Protected),
            ),
            (
                "VM is locked (backup)\n",
                Some(Said::Locked("backup".into())),
            ),
            (
                "ERROR: Backup of VM 220 failed - VM is locked (snapshot)",
                Some(Said::Locked("snapshot".into())),
            ),
            (
                "unable to create VM 220 - VM 220 already exists on node 'pve'\n",
                Some(Said::AlreadyExists),
            ),
            (
                "unable to create VM 220 - storage 'nope' does not exist\n",
                Some(Said::CreateFailed("storage 'nope' does not exist".into())),
            ),
            ("VM 220 already running\n", Some(Said::AlreadyRunning)),
            ("VM 220 not running\n", Some(Said::NotRunning)),
            ("VM 220 is not running\n", Some(Said::NotRunning)),
            ("VM quit/powerdown failed - got timeout\n", None),
            ("", None),
        ];
        for (stderr, want) in cases {
            assert_eq!(said(stderr), want, "{stderr:?}");
        }
    }
}
