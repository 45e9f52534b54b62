//! The one reader of what `pct` (and `vzdump`, for the lock) says on stderr when it refuses
//! or fails, as Proxmox VE's pve-container writes it (`src/PVE/CLI/pct.pm`, `PVE::LXC`);
//! `crate::guest` turns each verdict into an error.

/// A refusal or failure `pct` named, read from its stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Said {
    /// `Configuration file 'nodes/<node>/lxc/<vmid>.conf' does not exist`
    Missing,
    /// `can't remove CT <vmid> - protection mode enabled`
    Protected,
    /// `CT is locked (<lock>)`, also inside vzdump's `ERROR: Backup of VM <vmid> failed - …`:
    /// the lock's name.
    Locked(String),
    /// `CT <vmid> already exists on node '<node>'` (or `VM …`)
    AlreadyExists,
    /// `unable to create CT <vmid> - <reason>`: the reason.
    CreateFailed(String),
    /// `CT <vmid> already running` (start when running)
    AlreadyRunning,
    /// `CT <vmid> not running` (stop/shutdown when stopped) or `VM <vmid> not running` (reboot)
    NotRunning,
    /// `container '<vmid>' not running!` (`pct exec` on a stopped container)
    ExecNotRunning,
}

/// What stderr says, if it is one of the texts above.
pub(crate) fn said(stderr: &str) -> Option<Said> {
    let lines = || stderr.lines().map(str::trim);
    if lines().any(|l| {
        l.starts_with("Configuration file 'nodes/")
            && l.contains("/lxc/")
            && l.ends_with(".conf' does not exist")
    }) {
        return Some(Said::Missing);
    }
    if stderr.contains("protection mode enabled") {
        return Some(Said::Protected);
    }
    if let Some(lock) = lines().find_map(|l| {
        let rest = &l[l.find("CT is locked (")? + "CT is locked (".len()..];
        Some(rest.split(')').next()?.to_string())
    }) {
        return Some(Said::Locked(lock));
    }
    let ct_or_vm = |l: &str| l.starts_with("CT ") || l.starts_with("VM ");
    if lines().any(|l| ct_or_vm(l) && l.contains(" already exists on node '")) {
        return Some(Said::AlreadyExists);
    }
    if let Some(reason) = lines().find_map(|l| {
        let rest = l.strip_prefix("unable to create CT ")?;
        Some(rest.split_once(" - ").map_or(rest, |(_, r)| r).to_string())
    }) {
        return Some(Said::CreateFailed(reason));
    }
    if lines().any(|l| l.starts_with("CT ") && l.ends_with(" already running")) {
        return Some(Said::AlreadyRunning);
    }
    if lines().any(|l| ct_or_vm(l) && l.ends_with(" not running")) {
        return Some(Said::NotRunning);
    }
    if lines().any(|l| l.starts_with("container '") && l.ends_with("' not running!")) {
        return Some(Said::ExecNotRunning);
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
                "Configuration file 'nodes/pve/lxc/210.conf' does not exist\n",
                Some(Said::Missing),
            ),
            (
                "Configuration file 'nodes/prox/lxc/101.conf' does not exist",
                Some(Said::Missing),
            ),
            ("storage 'local' does not exist\n", None),
            (
                "can't remove CT 210 - protection mode enabled\n",
                Some(Said::Protected),
            ),
            (
                "CT is locked (backup)\n",
                Some(Said::Locked("backup".into())),
            ),
            (
                "ERROR: Backup of VM 100 failed - CT is locked (snapshot)",
                Some(Said::Locked("snapshot".into())),
            ),
            (
                "CT 150 already exists on node 'pve'\n",
                Some(Said::AlreadyExists),
            ),
            (
                "unable to create CT 109 - can't find file 'local:vztmpl/x.tar.zst'\n",
                Some(Said::CreateFailed(
                    "can't find file 'local:vztmpl/x.tar.zst'".into(),
                )),
            ),
            ("CT 210 already running\n", Some(Said::AlreadyRunning)),
            ("CT 210 not running\n", Some(Said::NotRunning)),
            ("VM 210 not running\n", Some(Said::NotRunning)),
            ("container '210' not running!\n", Some(Said::ExecNotRunning)),
            ("container did not stop\n", None),
            ("", None),
        ];
        for (stderr, want) in cases {
            assert_eq!(said(stderr), want, "{stderr:?}");
        }
    }
}
