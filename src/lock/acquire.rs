//! Taking the lock: the lock shell's first answer, read through the long-lived [`Channel`]
//! that runs it, becomes a held [`DeployLock`], "another deploy is running" (exit 7) or a
//! failure (exit 5).

use std::time::Duration;

use super::shell::{BUSY, ELSEWHERE, HELD, UNSAFE};
use super::{give_up_after, heartbeat_every, lock_path, DeployLock, Guest, ACQUIRE_TIMEOUT, DIR};
use crate::error::{Error, Result};

/// One line of the lock shell's output: what the transport reads.
pub(crate) use crate::remote::ssh::ReadLine as Line;

/// The long-lived remote process that holds the lock (an SSH channel whose stdin stays
/// open; `Session::spawn`). Dropping it closes the channel, which releases the lock.
pub(crate) trait Channel: Send {
    fn read_line(&mut self, timeout: Duration) -> Result<Line>;
    /// What the process wrote on stderr so far.
    fn stderr(&self) -> String;
    /// Sends a heartbeat every `every` from now on; once the process ends, everything
    /// done over this connection fails with `lost`.
    fn keep_alive(&mut self, every: Duration, lost: Error);
    /// `Err(lost)` when the process ended since (the host gave the lock up): reads what
    /// the connection has already received, sends nothing but a heartbeat that is due.
    fn still_held(&self) -> Result<()> {
        Ok(())
    }
}

/// Takes the lock of `guest` (its noun, "container" or "VM", and vmid) through `channel`,
/// which runs [`super::command`]. Another holder → exit 7 naming it; any other failure →
/// exit 5 with the shell's stderr.
pub(crate) fn acquire(
    channel: Box<dyn Channel>,
    guest: Guest<'_>,
    host: &str,
    token: &str,
) -> Result<DeployLock> {
    acquire_here(channel, guest, host, token)?.ok_or_else(|| {
        Error::remote(format!(
            "cannot take the deploy lock of {} on {host}: the {} lives on another node",
            guest.named(),
            guest.noun
        ))
    })
}

/// [`acquire`], through a channel that may run [`super::command_here`]: `None` when the guest
/// lives on another node of the cluster (no lock taken).
pub(super) fn acquire_here(
    mut channel: Box<dyn Channel>,
    guest: Guest<'_>,
    host: &str,
    token: &str,
) -> Result<Option<DeployLock>> {
    let (vmid, named) = (guest.vmid, guest.named());
    let failed = |ch: &dyn Channel, why: &str| {
        let stderr = ch.stderr();
        let mut e = Error::remote(format!("cannot take the deploy lock of {named} on {host}"))
            .cause(why.to_string());
        let detail = crate::output::sanitize(stderr.trim());
        if !detail.is_empty() {
            e = e.cause(detail);
        }
        if stderr.contains("flock") && stderr.contains("not found") {
            e = e.hint(
                "install util-linux on the host (`apt install util-linux`): it provides `flock`",
            );
        }
        e
    };
    match channel.read_line(ACQUIRE_TIMEOUT)? {
        Line::Line(l) if l == HELD => {
            channel.keep_alive(heartbeat_every(give_up_after()), lost(guest, host));
            Ok(Some(DeployLock {
                channel: Some(channel),
                vmid,
                token: token.to_string(),
            }))
        }
        Line::Line(l) if l == ELSEWHERE => Ok(None),
        Line::Line(l) if l == BUSY => {
            let holder = match channel.read_line(Duration::from_secs(5))? {
                Line::Line(h) if !h.trim().is_empty() => crate::output::sanitize(h.trim()),
                _ => "another pxdeploy run".to_string(),
            };
            Err(Error::locked(format!(
                "another deploy of {named} is running: {holder}"
            ))
            .hint(format!(
                "wait for it to finish; the lock goes away by itself when that run ends (`{}` on {host})",
                lock_path(vmid)
            ))
            .facts(serde_json::json!({ "vmid": vmid, "lock_holder": holder })))
        }
        Line::Line(l) if l.starts_with(UNSAFE) => {
            let what = crate::output::sanitize(&l[UNSAFE.len()..]);
            Err(Error::remote(format!(
                "cannot take the deploy lock of {named} on {host}: {what}"
            ))
            .cause(format!(
                "the lock folder {DIR} must be a directory owned by root that no one else can write, \
                 or the lock and its holder could be faked or redirected by another local user"
            ))
            .hint(format!(
                "as root on {host}, find out who made it and why; then `rm -rf {DIR}` \
                 (pxdeploy creates it again, owned by root with mode 0700) and deploy again"
            )))
        }
        Line::Line(other) => Err(failed(
            &*channel,
            &format!("unexpected answer: {}", crate::output::sanitize(&other)),
        )),
        Line::Eof => Err(failed(
            &*channel,
            "the lock command ended without taking the lock",
        )),
        Line::TimedOut => Err(failed(
            &*channel,
            &format!("no answer within {}s", ACQUIRE_TIMEOUT.as_secs()),
        )),
    }
}

/// What every step after losing the lock fails with (exit 7).
fn lost(guest: Guest<'_>, host: &str) -> Error {
    let vmid = guest.vmid;
    Error::locked(format!(
        "the deploy lock of {} on {host} was lost; stopped before changing anything more",
        guest.named()
    ))
    .hint(format!(
        "another deploy may have taken it meanwhile: check `pxdeploy status`, then deploy again. \
         The host gives the lock up when no heartbeat came for {}s (pxdeploy suspended or frozen, \
         the network gone)",
        give_up_after().as_secs()
    ))
    .facts(serde_json::json!({ "vmid": vmid, "lock_lost": true }))
}

/// The SSH transport's long-lived process is the lock's channel.
impl Channel for crate::remote::ssh::RemoteProcess {
    fn read_line(&mut self, timeout: Duration) -> Result<Line> {
        crate::remote::ssh::RemoteProcess::read_line(self, timeout)
    }
    fn stderr(&self) -> String {
        crate::remote::ssh::RemoteProcess::stderr(self)
    }
    fn keep_alive(&mut self, every: Duration, lost: Error) {
        crate::remote::ssh::RemoteProcess::keep_alive(self, every, lost)
    }
    fn still_held(&self) -> Result<()> {
        crate::remote::ssh::RemoteProcess::still_held(self)
    }
}

#[cfg(test)]
#[path = "acquire_tests.rs"]
mod tests;
