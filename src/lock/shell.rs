//! The lock shell (`src/scripts/lock.sh`, and `lock-here.sh` before it in a cluster) and the
//! host command lines that run it; the first line it prints is one of the markers below.

use super::{holder_path, lock_path, Holder, DIR, GIVE_UP_AFTER};
use crate::remote::quote::join;

/// What the lock shell prints first.
pub(super) const HELD: &str = "pxdeploy-lock: held";
/// What [`command_here`] prints instead when the container lives on another node.
pub(super) const ELSEWHERE: &str = "pxdeploy-lock: elsewhere";
pub(super) const BUSY: &str = "pxdeploy-lock: busy";
/// Followed by what is wrong with the lock folder.
pub(super) const UNSAFE: &str = "pxdeploy-lock: unsafe ";

/// The lock shell (POSIX sh: dash, busybox; `timeout` from coreutils). `$1` lock folder,
/// `$2` lock file, `$3` holder file, `$4` holder line, `$5` seconds without a heartbeat
/// after which the lock is given up, `$6` this run's token (the holder file's second line;
/// a second deploy is shown the first only).
///
/// The folder is created (root, 0700) if missing; one that exists is used only when it is a
/// real directory (not a symlink: `stat` does not follow it) owned by root that neither group
/// nor others can write; otherwise `unsafe …` and exit 1. Inside it only root can create
/// anything, and still: the lock file is never a symlink, and the holder is written to a
/// fresh `mktemp` file renamed over the old one (a rename replaces a symlink, never follows
/// it). Exit 7 when another process holds the lock; anything else is a failure to take it.
pub(crate) const SCRIPT: &str = crate::scripts::script!("lock.sh");

/// The host command that takes (and holds) the lock of container `vmid` for the run with
/// `token` ([`super::held::token`]).
pub(crate) fn command(vmid: u32, holder: &Holder, token: &str) -> String {
    join(&[
        "sh",
        "-c",
        SCRIPT,
        "sh",
        DIR,
        &lock_path(vmid),
        &holder_path(vmid),
        &holder.line(),
        &GIVE_UP_AFTER.as_secs().to_string(),
        token,
    ])
}

/// In a cluster the lock must be on the node that owns the container (deploys entering
/// through different nodes must exclude each other), and the lock is the first thing a
/// deploy runs. So first: when the guest's config is not this node's
/// (`/etc/pve/lxc` is pmxcfs' link to this node's `nodes/<node>/lxc`; a VM's:
/// `/etc/pve/qemu-server`, `nodes/<node>/qemu-server`) but another node's,
/// print [`ELSEWHERE`] and stop; otherwise run [`SCRIPT`]. A container that is nowhere
/// (yet) is locked here. `$1`: the vmid.
const HERE: &str = crate::scripts::script!("lock-here.sh");

/// [`command`], run only when container `vmid` lives on this node or nowhere (else it
/// prints [`ELSEWHERE`]): costs no extra remote call.
pub(crate) fn command_here(vmid: u32, holder: &Holder, token: &str) -> String {
    format!(
        "{} {}",
        join(&["sh", "-c", HERE, "sh", &vmid.to_string()]),
        command(vmid, holder, token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn command_line_quotes_the_holder() {
        let h = Holder {
            user: "o'brien".into(),
            machine: "lap top".into(),
            since: "2026-11-25T20:40:20Z".into(),
        };
        let c = command(210, &h, "5eed");
        assert!(c.starts_with("sh -c 'unsafe() {"), "{c}");
        assert!(c.ends_with(
            " sh /run/pxdeploy /run/pxdeploy/pxdeploy-210.lock /run/pxdeploy/pxdeploy-210.holder 'o'\\''brien@lap top since 2026-11-25T20:40:20Z' 45 5eed"
        ), "{c}");
    }

    #[test]
    fn the_node_check_runs_the_lock_command_for_a_container_no_node_has() {
        let out = Command::new("sh")
            .args(["-c", HERE, "sh", "4000000", "echo", "locking"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "locking\n");
        let h = Holder {
            user: "alice".into(),
            machine: "laptop".into(),
            since: "T1".into(),
        };
        let c = command_here(210, &h, TOKEN);
        assert!(c.starts_with("sh -c 'if [ ! -e "), "{c}");
        assert!(
            c.ends_with(&format!(" sh 210 {}", command(210, &h, TOKEN))),
            "{c}"
        );
    }
}
