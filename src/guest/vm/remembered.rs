//! The VM's address and node, remembered between runs (docs/vm.md, "Reaching the VM"):
//! the next command that works inside the VM connects there first, without asking the node
//! (`src/scripts/vm-open.sh`: `qm status` and the guest agent, two program starts on the
//! node, Perl on a real one). Nothing is trusted from this file: the session there is
//! checked against the VM's known_hosts alias as always, and when the address does not
//! answer as the VM (stopped, another address now, another machine there, any error) the
//! entry is forgotten and the node is asked as before.
//!
//! One small file per VM and node connection, `<vmid>@<host>_<port>` in
//! `$XDG_STATE_HOME/pxdeploy/vm/` (else `~/.local/state/pxdeploy/vm/`), holding
//! `<node> <address> <how>`: `direct` when the VM's node is the one entered (its session
//! can then be opened while the deploy lock is taken, [`super::link::open_while`]),
//! `routed` when it is another node of the cluster (opened after the lock has moved the
//! connection there); the folder is made private (0700), each file written whole (a
//! temporary file renamed), and a file that is not the user's own or that others can write
//! is not read. Nothing is remembered under `--dry-run`.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use crate::cluster::address;
use crate::remote::SshTarget;

/// The folder of the remembered addresses, from the environment.
fn folder() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            let home = PathBuf::from(std::env::var_os("HOME")?);
            home.is_absolute().then(|| home.join(".local/state"))
        })?;
    Some(state.join("pxdeploy").join("vm"))
}

/// The file name of VM `vmid` reached through `node` (its host and port: the same VM id on
/// another cluster or node is another VM). Characters other than letters, digits, `.` and
/// `-` become `_`.
fn name(node: &SshTarget, vmid: u32) -> String {
    let host: String = node
        .hostname
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                true => c,
                false => '_',
            },
        )
        .collect();
    format!("{vmid}@{host}_{}", node.port)
}

/// What is remembered of a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remembered {
    /// The node it ran on (its known_hosts alias names it).
    pub node: String,
    /// Where it answered.
    pub address: String,
    /// Its node was the one entered (not another node of the cluster).
    pub direct: bool,
}

/// `<node> <address> direct|routed`, when each is what it must be (a node name, an IP
/// address).
fn parse(text: &str) -> Option<Remembered> {
    let mut fields = text.split_whitespace();
    let (node, addr, how) = (fields.next()?, fields.next()?, fields.next()?);
    let direct = match how {
        "direct" => true,
        "routed" => false,
        _ => return None,
    };
    if fields.next().is_some()
        || address::node_name(node).is_err()
        || addr.parse::<std::net::IpAddr>().is_err()
    {
        return None;
    }
    Some(Remembered {
        node: node.to_string(),
        address: addr.to_string(),
        direct,
    })
}

/// The node and address remembered for VM `vmid` through `node`, if any (and readable,
/// the user's own, and not writable by others).
pub(crate) fn recall(node: &SshTarget, vmid: u32) -> Option<Remembered> {
    let file = folder()?.join(name(node, vmid));
    let meta = std::fs::symlink_metadata(&file).ok()?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if !meta.is_file() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
        tracing::debug!(file = %file.display(), "not read: not a file of this user's own");
        return None;
    }
    parse(&std::fs::read_to_string(&file).ok()?)
}

/// Remembers `what` for VM `vmid` through `through`. Best effort: a cache that cannot be
/// written costs the next run one node call, never this run.
pub(crate) fn remember(through: &SshTarget, vmid: u32, what: &Remembered) {
    if recall(through, vmid).as_ref() == Some(what) {
        return;
    }
    let how = if what.direct { "direct" } else { "routed" };
    let line = format!("{} {} {how}\n", what.node, what.address);
    let Some(dir) = folder() else { return };
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let file = dir.join(name(through, vmid));
        let tmp = dir.join(format!(".{}.{}", name(through, vmid), std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let done = std::io::Write::write_all(&mut f, line.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &file));
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done
    };
    if let Err(e) = write() {
        tracing::debug!(error = %e, dir = %dir.display(), "the VM's address is not remembered");
    }
}

/// Forgets what is remembered for VM `vmid` through `through` (it did not answer there, or
/// it was destroyed).
pub(crate) fn forget(through: &SshTarget, vmid: u32) {
    if let Some(dir) = folder() {
        let _ = std::fs::remove_file(dir.join(name(through, vmid)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_by_vm_host_and_port() {
        let node = SshTarget::new("fe80::1%vmbr0", 2222);
        assert_eq!(name(&node, 220), "220@fe80__1_vmbr0_2222");
        assert_eq!(name(&SshTarget::new("pve.lan", 22), 7), "7@pve.lan_22");
    }

    #[test]
    fn only_a_node_name_an_ip_address_and_how_are_read() {
        let r = |node: &str, address: &str, direct| Remembered {
            node: node.into(),
            address: address.into(),
            direct,
        };
        assert_eq!(
            parse("pve 10.0.0.5 direct\n"),
            Some(r("pve", "10.0.0.5", true))
        );
        assert_eq!(
            parse("pve2 fd00::5 routed"),
            Some(r("pve2", "fd00::5", false))
        );
        for bad in [
            "",
            "pve",
            "pve 10.0.0.5",
            "pve 10.0.0.5 sideways",
            "pve vm.lan direct",
            "pve 10.0.0.5 direct extra",
            "-oProxyCommand=x 10.0.0.5 direct",
            "pve 10.0.0.5;reboot direct",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
