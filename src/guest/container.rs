//! The LXC container as a [`super::Guest`], and the lifecycle both kinds of guest share
//! (state, start / stop / reboot, the one mapping of what `pct` or `qm` refused to an
//! [`Error`] that says what to do): those functions take the [`Kind`], which gives the
//! tool's lines and words (`pct` for a container, `qm` for a VM: `vm.rs`).

use std::time::Duration;

use super::kind::Kind;
use crate::cluster::ha::{self, Wanted};
use crate::error::{Error, Result};
use crate::output::{sanitize, Output};
use crate::progress::{done, Ending, Reporter};
use crate::proxmox::pct::snapshot as snap;
use crate::proxmox::{self, pct, pct::CtState, pct::Said};
use crate::remote::host::{ensure_success, Host};
use crate::remote::quote::join;
use crate::remote::Output as RemoteOutput;

/// How long `pct shutdown` lets the container stop by itself before `pct stop`.
const SHUTDOWN_TIMEOUT_SECS: u64 = 60;
/// How long `pct reboot` waits for the shutdown part.
const REBOOT_TIMEOUT_SECS: u64 = 60;
/// Bound of `pct start` / `pct stop` on the host.
const START_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Slack on top of the Proxmox-side timeouts before we give up on the command itself.
const SLACK: Duration = Duration::from_secs(60);

/// An LXC container on a node.
#[derive(Clone, Copy)]
pub(crate) struct Container<'h> {
    pub(super) host: &'h Host,
    pub(super) vmid: u32,
}

impl<'h> Container<'h> {
    pub(crate) fn new(host: &'h Host, vmid: u32) -> Self {
        Container { host, vmid }
    }

    /// The `pct` line of a lifecycle operation.
    pub(crate) fn line(&self, op: super::Op<'_>) -> String {
        use super::Op;
        let vmid = self.vmid;
        match op {
            Op::Snapshot(name) => snap::snapshot(vmid, name),
            Op::DeleteSnapshot(name) => snap::delete(vmid, name),
            Op::Rollback(name) => snap::rollback(vmid, name),
            Op::Restore { volid, storage } => snap::restore(vmid, volid, storage),
            Op::Destroy => pct::destroy(vmid),
            Op::Start => pct::start(vmid),
            Op::Config => pct::config(vmid),
            Op::Set { key, value } => {
                join(&["pct", "set", &vmid.to_string(), &format!("--{key}"), value])
            }
            Op::Enter => pct::enter(vmid),
            Op::List => pct::list(),
            Op::Address => pct::ipv4_probe(vmid),
        }
    }

    /// The mount points of `pct config`.
    pub(crate) fn volumes(&self) -> Result<Vec<(String, String)>> {
        Ok(snap::mount_points(
            &self.host.probe_ok(&pct::config(self.vmid))?.stdout_str(),
        ))
    }

    /// `pct listsnapshot`, parsed.
    pub(crate) fn snapshots(&self) -> Result<Vec<snap::Snapshot>> {
        Ok(snap::parse_list(
            &self.host.probe_ok(&snap::list(self.vmid))?.stdout_str(),
        ))
    }

    /// `pct destroy --purge`; a container that is already gone is fine. Whether the task
    /// removed the container's HA resource.
    pub(crate) fn destroy(&self, timeout: Duration) -> Result<bool> {
        let (host, vmid) = (self.host, self.vmid);
        let command = pct::destroy(vmid);
        let out = host.change(&command, timeout)?;
        if out.status.success() || pct::said(&out.stderr_str()) == Some(Said::Missing) {
            return Ok(proxmox::purge::ha_removed(&out.stdout_str(), vmid));
        }
        Err(refused(Kind::Container, host, vmid, &command, out))
    }

    /// `pct config`, parsed.
    pub(crate) fn config(&self) -> Result<pct::PctConfig> {
        Ok(pct::parse_config(
            &self.host.probe_ok(&pct::config(self.vmid))?.stdout_str(),
        ))
    }
}

/// What `pct exec`'s stderr says when it did not run the command.
pub(crate) fn not_run(k: Kind, stderr: &str) -> Option<super::NotRun> {
    match k.said(stderr) {
        Some(Said::ExecNotRunning) => Some(super::NotRun::Stopped),
        Some(Said::Missing) => Some(super::NotRun::Missing),
        _ => None,
    }
}

/// The guest's state; `None` when it does not exist on this node.
pub(crate) fn state(k: Kind, host: &Host, vmid: u32) -> Result<Option<CtState>> {
    Ok(probe(k, host, vmid)?.ok())
}

/// The guest's state; a missing guest is an error with the `create` hint (exit 5).
pub(crate) fn require_state(k: Kind, host: &Host, vmid: u32) -> Result<CtState> {
    probe(k, host, vmid)?
}

/// `pct status` / `qm status`: Ok(Ok(state)), Ok(Err(missing-guest error)), or Err for
/// anything else.
fn probe(k: Kind, host: &Host, vmid: u32) -> Result<Result<CtState>> {
    let command = k.status(vmid);
    let out = host.probe(&command)?;
    if !out.status.success() {
        let missing = k.said(&out.stderr_str()) == Some(Said::Missing);
        let err = refused(k, host, vmid, &command, out);
        return if missing { Ok(Err(err)) } else { Err(err) };
    }
    match pct::parse_status(&out.stdout_str()) {
        Some(state) => Ok(Ok(state)),
        None => Err(Error::remote(format!("`{command}` printed no status"))
            .cause("expected `status: running` or `status: stopped`")),
    }
}

/// The container's IPv4 address as seen from inside (`ip -4 -o addr show dev eth0`);
/// `None` when it has none (yet).
pub(crate) fn current_ip(host: &Host, vmid: u32) -> Result<Option<String>> {
    let probe = host.probe(&pct::ipv4_probe(vmid))?;
    Ok(pct::parse_ipv4(&probe.stdout_str()))
}

/// `pct start`; "already running" is success. An HA-managed container's `pct start` only
/// asks the HA manager: then this waits until it has started it ([`ha::wait_for`]).
/// Returns the task warnings.
pub(crate) fn start(
    k: Kind,
    host: &Host,
    vmid: u32,
    reporter: &dyn Reporter,
    out: &Output,
) -> Result<Vec<String>> {
    let command = k.start(vmid);
    let result = reporter.step(&format!("Starting {} {vmid}", k.noun()), || {
        let result = host.change(&command, START_TIMEOUT)?;
        if result.status.success() || k.said(&result.stderr_str()) == Some(Said::AlreadyRunning) {
            return Ok(result);
        }
        Err(with_debug_hint(
            k,
            vmid,
            refused(k, host, vmid, &command, result),
        ))
    })?;
    if let Some(wanted) = ha::queued(&result.stdout_str(), vmid) {
        ha::await_queued(host, (vmid, k == Kind::Vm), wanted, reporter, &|| {
            state(k, host, vmid)
        })?;
    }
    Ok(show_task_warnings(out, &command, &result))
}

/// How `pct shutdown` ended.
enum Shutdown {
    Stopped,
    /// HA-managed: the HA manager was asked to stop it.
    Queued(Wanted),
    TimedOut,
}

/// `pct shutdown --timeout N`, then `pct stop` if it did not stop in time; an HA-managed
/// container's shutdown only asks the HA manager, then this waits until it has stopped it.
/// "not running" is success.
pub(crate) fn stop(k: Kind, host: &Host, vmid: u32, reporter: &dyn Reporter) -> Result<()> {
    let command = k.shutdown(vmid, SHUTDOWN_TIMEOUT_SECS);
    let shutdown = reporter.step_with(
        &format!("Shutting down {} {vmid}", k.noun()),
        |s: &Shutdown| match s {
            Shutdown::Stopped => done(""),
            Shutdown::Queued(_) => done("asked the HA manager"),
            Shutdown::TimedOut => {
                Ending::Failed(format!("did not stop within {SHUTDOWN_TIMEOUT_SECS}s"))
            }
        },
        || {
            let timeout = Duration::from_secs(SHUTDOWN_TIMEOUT_SECS) + SLACK;
            let out = host.change(&command, timeout)?;
            match k.said(&out.stderr_str()) {
                _ if out.status.success() => Ok(match ha::queued(&out.stdout_str(), vmid) {
                    Some(wanted) => Shutdown::Queued(wanted),
                    None => Shutdown::Stopped,
                }),
                Some(Said::NotRunning) => Ok(Shutdown::Stopped),
                Some(Said::Locked(lock)) => Err(locked(k, vmid, &lock, &command)),
                _ => Ok(Shutdown::TimedOut),
            }
        },
    )?;
    match shutdown {
        Shutdown::Stopped => return Ok(()),
        Shutdown::Queued(wanted) => {
            return ha::await_queued(host, (vmid, k == Kind::Vm), wanted, reporter, &|| {
                state(k, host, vmid)
            })
        }
        Shutdown::TimedOut => {}
    }
    let command = k.stop(vmid);
    reporter.step(&format!("Stopping {} {vmid}", k.noun()), || {
        let out = host.change(&command, STOP_TIMEOUT)?;
        if out.status.success() || k.said(&out.stderr_str()) == Some(Said::NotRunning) {
            return Ok(());
        }
        Err(refused(k, host, vmid, &command, out))
    })
}

/// `pct reboot`; its `VM <vmid> not running` (the container stopped meanwhile) means start.
/// A reboot that failed may have left the container stopped (Proxmox stops it before the
/// start that fails, e.g. on a lock): the error says so. Returns the task warnings.
pub(crate) fn reboot(
    k: Kind,
    host: &Host,
    vmid: u32,
    reporter: &dyn Reporter,
    out: &Output,
) -> Result<Vec<String>> {
    let command = k.reboot(vmid, REBOOT_TIMEOUT_SECS);
    let rebooted = reporter.step_with(
        &format!("Rebooting {} {vmid}", k.noun()),
        |r: &Option<RemoteOutput>| {
            done(if r.is_some() {
                ""
            } else {
                "it was not running"
            })
        },
        || {
            let timeout = Duration::from_secs(REBOOT_TIMEOUT_SECS) + START_TIMEOUT;
            let result = host.change(&command, timeout)?;
            if result.status.success() {
                return Ok(Some(result));
            }
            match k.said(&result.stderr_str()) {
                Some(Said::NotRunning) => Ok(None),
                _ => Err(reboot_failed(k, host, vmid, &command, result)),
            }
        },
    )?;
    match rebooted {
        Some(result) => Ok(show_task_warnings(out, &command, &result)),
        None => start(k, host, vmid, reporter, out),
    }
}

/// A failed `pct reboot`: when the container is stopped now, the error says so first (the
/// app is down), with the lock that refused the start if there is one.
fn reboot_failed(k: Kind, host: &Host, vmid: u32, command: &str, result: RemoteOutput) -> Error {
    let err = refused(k, host, vmid, command, result);
    if !matches!(state(k, host, vmid), Ok(Some(CtState::Stopped))) {
        return err;
    }
    let lock = host.probe_ok(&k.config(vmid)).ok().and_then(|o| {
        pct::parse_config(&o.stdout_str())
            .lock()
            .map(str::to_string)
    });
    let mut err = err.hint(match &lock {
        Some(lock) => format!(
            "Proxmox refused the start: the {} is locked (`{}`); `pxdeploy start` once that task has finished",
            k.noun(),
            sanitize(lock)
        ),
        None => k.debug_hint(vmid),
    });
    err.message = format!(
        "{} {vmid} is stopped: `{command}` stopped it, then its start failed",
        k.noun()
    );
    err
}

/// The container is not on this node (exit 5, with the `pxdeploy create` hint).
pub(crate) fn missing(k: Kind, host: &Host, vmid: u32, cause: String) -> Error {
    Error::remote(format!(
        "{} {vmid} does not exist on {}",
        k.noun(),
        host.alias
    ))
    .cause(cause)
    .hint("run `pxdeploy create` first")
}

/// A `pct` (or `vzdump`) command that exited non-zero, as the error that says what to do:
/// the container is missing, locked or protected, the vmid is taken, the create task
/// failed, or else the command and its stderr.
pub(crate) fn refused(k: Kind, host: &Host, vmid: u32, command: &str, out: RemoteOutput) -> Error {
    let stderr = out.stderr_str();
    let said = sanitize(stderr.trim());
    let noun = k.noun();
    match k.said(&stderr) {
        Some(Said::Missing) => missing(k, host, vmid, format!("`{command}` {}: {said}", out.status)),
        Some(Said::Locked(lock)) => locked(k, vmid, &lock, command),
        Some(Said::Protected) => protected(k, vmid),
        Some(Said::AlreadyExists) => Error::remote(format!("vmid {vmid} is already taken"))
            .cause(said)
            .hint(format!("choose another `{}.vmid`; `pvesh get /cluster/nextid` on the host prints a free one", k.key())),
        Some(Said::CreateFailed(reason)) => Error::remote(format!("could not create {noun} {vmid}"))
            .cause(sanitize(&reason))
            .hint(format!("nothing was left behind: Proxmox removes a half-created {noun}; fix the cause and run `pxdeploy create` again")),
        _ => {
            let code = out.status.code;
            let err = failed(command, out);
            if code == 127 {
                err.hint("is this a Proxmox VE node? `pxdeploy check` tells")
            } else {
                err
            }
        }
    }
}

/// A remote step that exited non-zero: the command and its stderr (exit 5).
pub(crate) fn failed(command: &str, out: RemoteOutput) -> Error {
    ensure_success(command, out)
        .err()
        .unwrap_or_else(|| Error::remote(format!("`{command}` failed")))
}

/// `CT is locked (<lock>)` / `VM is locked (<lock>)` as an error that says what to do.
pub(crate) fn locked(k: Kind, vmid: u32, lock: &str, command: &str) -> Error {
    let (noun, tool) = (k.noun(), k.tool());
    let short = match k {
        Kind::Container => "CT",
        Kind::Vm => "VM",
    };
    Error::remote(format!("{noun} {vmid} is locked (`{lock}`)"))
        .cause(format!("`{command}`: {short} is locked ({lock})"))
        .hint(format!(
            "wait for the `{lock}` task to finish, or remove a stale lock with `{tool} unlock {vmid}` on the host"
        ))
}

/// `protection: 1`: Proxmox refuses to destroy the guest (exit 8).
pub(crate) fn protected(k: Kind, vmid: u32) -> Error {
    let (noun, tool) = (k.noun(), k.tool());
    Error::refused(format!(
        "{noun} {vmid} has `protection: 1`: Proxmox refuses to destroy it, nothing was done"
    ))
    .hint(format!(
        "turn protection off on the host with `{tool} set {vmid} --protection 0`, then run `pxdeploy destroy` again"
    ))
}

/// A start that failed for no named reason: where the node says why.
fn with_debug_hint(k: Kind, vmid: u32, err: Error) -> Error {
    if err.hint.is_some() {
        return err;
    }
    err.hint(k.debug_hint(vmid))
}

/// Shows the `WARN:` lines and the `Task finished with N warning(s)!` of a task as warnings.
pub(crate) fn show_task_warnings(
    out: &Output,
    command: &str,
    result: &RemoteOutput,
) -> Vec<String> {
    let w = proxmox::task_warnings(&result.stdout_str(), &result.stderr_str());
    for line in &w.lines {
        out.warn(format!("`{command}`: {}", sanitize(line)));
    }
    if w.lines.is_empty() && w.count > 0 {
        out.warn(format!("`{command}` finished with {} warning(s)", w.count));
    }
    w.lines
}
