//! The SSH session inside a VM (contract §3, §4): over the node's one connection, a
//! `direct-tcpip` channel to `<address>:22` and an SSH session in it
//! ([`Session::connect_via`], the bastion mechanism), as `[vm] user` with the client
//! identity pxdeploy uses for the node. The VM's host key is checked against the
//! known_hosts alias `pxdeploy-vm-<vmid>.<node>` that `create` recorded before the VM's
//! first start (never by address: addresses on a LAN are reused), with strict checking:
//! no key recorded, or another key, is refused (exit 4). Opened once per command, on the
//! first command that runs inside ([`crate::guest::Guest::inside_host`]), after one node
//! call that asks the VM's state, the node's name and the VM's address together
//! ([`ask`], `src/scripts/vm-open.sh`).

use std::path::Path;

use super::Vm;
use crate::cluster::address;
use crate::error::{Error, Result};
use crate::guest::container;
use crate::guest::kind::Kind;
use crate::output::{display_path, sanitize};
use crate::proxmox::pct::CtState;
use crate::proxmox::qm::{self, open};
use crate::remote::host::Host;
use crate::remote::ssh::Session;
use crate::remote::{HostKeyCheck, Output as RemoteOutput, SshTarget};

/// The name the VM's host key has in known_hosts (like OpenSSH's `HostKeyAlias`).
pub(crate) fn alias(vmid: u32, node: &str) -> String {
    super::host_key::alias(vmid, node)
}

/// The session target of VM `vmid` at `address`: the node's identity, agent and
/// known_hosts files, `[vm] user`, port 22, the alias, strict checking, no jump (the VM is
/// reached through the node's session).
pub(crate) fn target(
    node_target: &SshTarget,
    vmid: u32,
    node: &str,
    address: &str,
    user: &str,
) -> SshTarget {
    let mut t = node_target.clone();
    t.alias = format!("VM {vmid} ({address})");
    t.hostname = address.to_string();
    t.port = 22;
    t.user = user.to_string();
    t.host_key_alias = Some(alias(vmid, node));
    t.host_key_check = HostKeyCheck::Strict;
    t.host_key_algorithms = None;
    t.jump = Vec::new();
    t.cluster_record = None;
    t
}

/// The node's name as Proxmox knows it (`hostname` on the node the VM is on: the host has
/// moved there by the time this is asked), checked as a node name.
pub(crate) fn node_name(host: &Host) -> Result<String> {
    let out = host.probe_ok("hostname")?;
    checked_node_name(out.stdout_str().trim())
}

/// `name` (what `hostname` printed on the VM's node), when it is a node name.
fn checked_node_name(name: &str) -> Result<String> {
    address::node_name(name).map_err(|why| {
        Error::ssh(format!(
            "the node calls itself {}, which is not a node name",
            address::shown(name)
        ))
        .cause(why)
    })?;
    Ok(name.to_string())
}

/// Asks the node, in one call, what opening the session inside `vm` needs (`qm status`
/// first: a VM on another node of a cluster moves the host there, and the call runs again
/// on that node). A failed `qm status` is the error it was as a call of its own.
pub(crate) fn ask(vm: &Vm<'_>, host: &Host) -> Result<open::Facts> {
    let vmid = vm.vmid;
    let command = open::line(vmid, vm.access.address.is_none());
    let out = host.probe(&command)?;
    let facts = open::parse(&out.stdout_str(), &out.stderr_str());
    // The failed command's own output: its stderr and exit code, no stdout.
    let alone = RemoteOutput {
        stdout: Vec::new(),
        ..out
    };
    match facts.failed {
        Some(open::Failed::Status) => {
            return Err(container::refused(
                Kind::Vm,
                host,
                vmid,
                &qm::status(vmid),
                alone,
            ))
        }
        Some(open::Failed::Config) => {
            return Err(Error::remote(format!(
                "cannot read VM {vmid}'s configuration `{}`",
                open::config_file(vmid)
            ))
            .cause(format!(
                "{}: {}",
                alone.status,
                sanitize(alone.stderr_str().trim())
            )))
        }
        None if !alone.status.success() => {
            return Err(container::failed(
                &format!("{} (src/scripts/vm-open.sh)", qm::status(vmid)),
                alone,
            ))
        }
        None => {}
    }
    if facts.state().is_none() {
        return Err(
            Error::remote(format!("`{}` printed no status", qm::status(vmid)))
                .cause("expected `status: running` or `status: stopped`"),
        );
    }
    Ok(facts)
}

/// Opens the session inside `vm` (it must be running and have an address): at the node
/// and address remembered from the last run when the VM answers there
/// ([`super::remembered`]: no node call), else after asking the node ([`ask`]).
pub(crate) fn open(vm: &Vm<'_>, host: &Host) -> Result<(Session, String)> {
    if let Some(opened) = open_remembered(vm, host)? {
        return Ok(opened);
    }
    let facts = ask(vm, host)?;
    connect(vm, host, &facts)
}

/// The session at the node and address remembered for `vm`, when the VM answers there with
/// its own host key (checked as always); `None` (and the entry forgotten) when it does not.
/// Only an error that leaves the node's connection unusable is returned.
fn open_remembered(vm: &Vm<'_>, host: &Host) -> Result<Option<(Session, String)>> {
    let Some((t, _)) = remembered_target(vm, host) else {
        return Ok(None);
    };
    let opened = Session::connect_via(host.session(), &t);
    answered(vm, host, &t, opened)
}

/// The session target at the address remembered for `vm`, and whether its node is the one
/// entered; `None` when nothing (usable) is remembered.
fn remembered_target(vm: &Vm<'_>, host: &Host) -> Option<(SshTarget, bool)> {
    let node_target = host.target()?;
    let r = super::remembered::recall(node_target, vm.vmid)?;
    if vm
        .access
        .address
        .is_some_and(|a| a.to_string() != r.address)
    {
        // A static `ip` that changed in pxdeploy.toml.
        return None;
    }
    let t = target(node_target, vm.vmid, &r.node, &r.address, vm.access.user);
    Some((t, r.direct))
}

/// What trying the remembered target `t` gave: the session, or `None` after forgetting the
/// address (the caller asks the node), or the error when the node's connection is gone.
fn answered(
    vm: &Vm<'_>,
    host: &Host,
    t: &SshTarget,
    opened: Result<Session>,
) -> Result<Option<(Session, String)>> {
    let (vmid, addr) = (vm.vmid, &t.hostname);
    match opened {
        Ok(session) => {
            tracing::debug!(%addr, "VM {vmid} answered at its remembered address");
            Ok(Some((session, t.alias.clone())))
        }
        Err(e) => {
            if let Some(node_target) = host.target() {
                super::remembered::forget(node_target, vmid);
            }
            tracing::debug!(%addr, error = %e.message, "VM {vmid} did not answer at its remembered address: asking the node");
            if host.session().usable().is_err() {
                return Err(e
                    .cause(format!(
                        "{addr} is where VM {vmid} answered last time (remembered by pxdeploy); it is forgotten now"
                    ))
                    .hint("run the command again: pxdeploy then asks the node where the VM is"));
            }
            Ok(None)
        }
    }
}

/// Runs `lock` (taking the deploy lock on the node) while the session inside `vm` is
/// opened at its remembered address, when its node is the one entered: the channel is
/// opened first, then the SSH handshake and authentication inside it run on a thread of
/// their own while the lock's node call answers (the lock's reading carries their bytes).
/// Whatever happens to that session, `lock`'s result is returned; a session that did not
/// open is opened the usual way afterwards ([`open`]).
pub(crate) fn open_while<T>(vm: &Vm<'_>, lock: impl FnOnce() -> Result<T>) -> Result<T> {
    let host = vm.host;
    if host.dry_run() || host.inside_opened().is_some() {
        return lock();
    }
    let Some((t, true)) = remembered_target(vm, host) else {
        return lock();
    };
    let forwarded = match Session::forward(host.session(), &t) {
        Ok(f) => f,
        Err(e) => {
            answered(vm, host, &t, Err(e))?;
            return lock();
        }
    };
    let (locked, opened) = std::thread::scope(|s| {
        let opening = s.spawn(|| forwarded.establish(&t));
        let locked = lock();
        let opened = opening
            .join()
            .unwrap_or_else(|_| Err(Error::unexpected("opening the VM's session panicked")));
        (locked, opened)
    });
    let locked = locked?;
    if let Some(found) = answered(vm, host, &t, opened)? {
        host.inside(|_| Ok(found))?;
    }
    Ok(locked)
}

/// The session inside `vm` (the one of this command once opened), or `None` when the VM
/// is stopped: its state is asked in the same node call that opening the session makes
/// (a VM that answers at its remembered address runs: no node call).
pub(crate) fn inside_if_running<'h>(vm: &Vm<'h>) -> Result<Option<&'h Host>> {
    let host = vm.host;
    if let Some(inner) = host.inside_opened() {
        return Ok(Some(inner));
    }
    if let Some(opened) = open_remembered(vm, host)? {
        return host.inside(|_| Ok(opened)).map(Some);
    }
    let facts = ask(vm, host)?;
    if facts.state() == Some(CtState::Stopped) {
        return Ok(None);
    }
    host.inside(|h| connect(vm, h, &facts)).map(Some)
}

/// Opens the session inside `vm` with what [`ask`] found.
fn connect(vm: &Vm<'_>, host: &Host, facts: &open::Facts) -> Result<(Session, String)> {
    let vmid = vm.vmid;
    if facts.state() != Some(CtState::Running) {
        return Err(Error::remote(format!("VM {vmid} is not running"))
            .hint("start it with `pxdeploy start`"));
    }
    let Some(addr) = vm.address_in(facts)? else {
        return Err(Error::remote(format!("VM {vmid} has no address yet"))
            .cause("the QEMU guest agent reports no IPv4 address on the interface with net0's MAC")
            .hint(
                "wait until the VM has booted (`pxdeploy status`), or set a static `ip` in `[vm]`",
            ));
    };
    if addr.parse::<std::net::IpAddr>().is_err() {
        return Err(Error::ssh(format!(
            "VM {vmid}'s address {} is not an IP address; refusing to connect to it",
            address::shown(&addr)
        )));
    }
    let node = checked_node_name(facts.node.as_deref().unwrap_or_default())?;
    let Some(node_target) = host.target() else {
        return Err(Error::unexpected(
            "the session inside the VM needs the node's SSH settings",
        ));
    };
    let t = target(node_target, vmid, &node, &addr, vm.access.user);
    let session = Session::connect_via(host.session(), &t).map_err(|e| {
        e.cause(format!(
            "VM {vmid} is reached through {} (a direct-tcpip channel to {addr}:22), its host key checked against `{}` in known_hosts",
            host.alias,
            alias(vmid, &node)
        ))
    })?;
    if !host.dry_run() {
        let what = super::remembered::Remembered {
            node,
            address: addr,
            direct: !host.on_another_node(),
        };
        super::remembered::remember(node_target, vmid, &what);
    }
    Ok((session, t.alias))
}

/// Removes the VM's line from the node's known_hosts file (`destroy`).
pub(crate) fn forget_host_key(node_target: &SshTarget, vmid: u32, node: &str) -> Result<()> {
    match &node_target.known_hosts {
        Some(file) => remove_alias(file, &alias(vmid, node)),
        None => Ok(()),
    }
}

/// Rewrites `file` without the lines whose host field is exactly `name` (atomically: a
/// temporary file beside it, renamed over it). A missing file is fine.
fn remove_alias(file: &Path, name: &str) -> Result<()> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(
                Error::unexpected(format!("cannot read {}", display_path(file)))
                    .cause(e.to_string()),
            )
        }
    };
    let kept = without_alias(&text, name);
    if kept == text {
        return Ok(());
    }
    let tmp = file.with_extension("pxdeploy-tmp");
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        std::io::Write::write_all(&mut f, kept.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    };
    write().map_err(|e| {
        Error::unexpected(format!("cannot rewrite {}", display_path(file))).cause(e.to_string())
    })
}

/// `text` without the lines whose first field is exactly `name`.
fn without_alias(text: &str, name: &str) -> String {
    text.split_inclusive('\n')
        .filter(|l| l.split_whitespace().next() != Some(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alias_names_vm_and_node() {
        assert_eq!(alias(220, "pve"), "pxdeploy-vm-220.pve");
    }

    #[test]
    fn the_target_is_the_nodes_identity_with_the_alias() {
        let mut node = SshTarget::new("pve.lan", 2222);
        node.identity_files = vec!["/home/me/.ssh/id_ed25519".into()];
        node.host_key_check = HostKeyCheck::AcceptNew;
        node.host_key_alias = Some("other".into());
        node.jump = vec![SshTarget::new("bastion", 22)];
        let t = target(&node, 220, "pve", "127.0.200.1", "pxdeploy");
        assert_eq!(t.hostname, "127.0.200.1");
        assert_eq!(t.port, 22);
        assert_eq!(t.user, "pxdeploy");
        assert_eq!(t.host_key_alias.as_deref(), Some("pxdeploy-vm-220.pve"));
        assert_eq!(t.host_key_check, HostKeyCheck::Strict);
        assert!(t.jump.is_empty());
        assert_eq!(t.identity_files, node.identity_files);
        assert_eq!(t.known_hosts, node.known_hosts);
    }

    #[test]
    fn forgetting_removes_only_the_vms_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut node = SshTarget::new("pve", 22);
        let file = dir.path().join("known_hosts");
        node.known_hosts = Some(file.clone());
        let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc0b3QdGxnV0sCvqPcyj6ABgVUGtAZCVb0ug9ImgNKR";
        std::fs::write(
            &file,
            format!("pve {k}\npxdeploy-vm-2200.pve {k}\npxdeploy-vm-220.pve {k}\n"),
        )
        .unwrap();
        forget_host_key(&node, 220, "pve").unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("pve {k}\npxdeploy-vm-2200.pve {k}\n")
        );
    }
}
