//! The deploy lock: at most one deploy per container at a time.
//!
//! The lock is a `flock` on `/run/pxdeploy/pxdeploy-<vmid>.lock` on the Proxmox host, held by a
//! small shell on its own channel of the run's one SSH session. After taking the lock the
//! shell becomes `cat`, reading the channel's stdin: the lock lives exactly as long as that
//! stdin stays open. When pxdeploy finishes, is interrupted, is killed with SIGKILL, or its
//! connection drops, sshd closes the channel, `cat` sees end-of-file and exits, and the
//! kernel releases the `flock` with the process's last file descriptor. No lock file ever
//! has to be cleaned by hand: the file stays, the lock on it does not.
//!
//! The holder (`user@machine since <RFC3339>`) is written to a side file
//! `/run/pxdeploy/pxdeploy-<vmid>.holder` once the lock is taken; a second deploy prints it.
//! Its second line is a random token of this run: the deploy's last step checks, on the
//! host and in the same call, that the lock is still held and still has this token
//! ([`held`]). `/run/pxdeploy` is root's alone (see [`shell::SCRIPT`]).
//!
//! `shell.rs`: the lock shell and the host commands that run it; `acquire.rs`: reading its
//! answer through the [`Channel`] that holds it; `held.rs`: the finishing step's check that
//! the lock is still this run's.

mod acquire;
pub(crate) mod held;
mod shell;

pub(crate) use self::acquire::Channel;

use self::acquire::{acquire, acquire_here};
use self::shell::{command, command_here};

use std::time::{Duration, SystemTime};

use crate::error::Result;
use crate::progress::Reporter;
use crate::remote::host::Host;
use crate::timestamp::rfc3339;

/// How long taking the lock may take (it never waits for another holder).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// After this long without a heartbeat the host gives the lock up (a frozen or vanished
/// pxdeploy; its TCP connection could take hours to time out). The most a holder asks for.
pub(crate) const GIVE_UP_AFTER: Duration = Duration::from_secs(45);

/// The least a holder asks for (see [`give_up_after`]).
const GIVE_UP_AT_LEAST: Duration = Duration::from_secs(5);

/// For tests only, not a user option (docs/testing.md, "The frozen-lock test"): this run's
/// give-up time in whole seconds, clamped to 5–45 s.
const GIVE_UP_ENV: &str = "PXDEPLOY_LOCK_GIVE_UP_SECS";

/// This run's give-up time: [`GIVE_UP_AFTER`], or a shorter one from `PXDEPLOY_LOCK_GIVE_UP_SECS`.
/// The holder's own lock shell enforces it ([`shell::command`] passes it), so only the
/// holder's value counts and a waiter never waits for it: a second deploy is refused at once
/// (exit 7) either way. It can only shorten the real limit, never lengthen it.
pub(crate) fn give_up_after() -> Duration {
    give_up_from(std::env::var(GIVE_UP_ENV).ok().as_deref())
}

fn give_up_from(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(GIVE_UP_AFTER, |secs| {
            Duration::from_secs(secs).clamp(GIVE_UP_AT_LEAST, GIVE_UP_AFTER)
        })
}

/// How often pxdeploy tells the lock shell it is still there: 2/9 of the give-up time
/// (10 s of 45 s): four heartbeats in a row can go missing before the lock is lost.
pub(crate) fn heartbeat_every(give_up: Duration) -> Duration {
    give_up * 2 / 9
}

/// Who holds the lock, as a second deploy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    pub user: String,
    pub machine: String,
    /// RFC 3339, UTC.
    pub since: String,
}

impl Holder {
    /// This process: `$USER` (or `$LOGNAME`) at this machine's host name, now.
    pub(crate) fn current() -> Holder {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        let machine = gethostname::gethostname().to_string_lossy().into_owned();
        Holder {
            user,
            machine,
            since: rfc3339(SystemTime::now()),
        }
    }

    /// `alice@laptop since 2026-11-25T23:16:05Z`
    pub(crate) fn line(&self) -> String {
        format!("{}@{} since {}", self.user, self.machine, self.since)
    }
}

/// The lock folder on the host: root's alone (0700), so no other local user can create,
/// fake or redirect a lock or holder file (unlike the world-writable `/run/lock`).
pub(crate) const DIR: &str = "/run/pxdeploy";

pub(crate) fn lock_path(vmid: u32) -> String {
    format!("{DIR}/pxdeploy-{vmid}.lock")
}

pub(crate) fn holder_path(vmid: u32) -> String {
    format!("{DIR}/pxdeploy-{vmid}.holder")
}

/// The guest a lock is for, as messages name it: its noun ("container" / "VM") and vmid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Guest<'a> {
    pub noun: &'a str,
    pub vmid: u32,
}

impl Guest<'_> {
    /// `container 210` / `VM 220`.
    pub(crate) fn named(&self) -> String {
        format!("{} {}", self.noun, self.vmid)
    }
}

/// A held deploy lock. Released when dropped.
pub(crate) struct DeployLock {
    channel: Option<Box<dyn Channel>>,
    pub vmid: u32,
    /// This run's token in the holder file.
    pub token: String,
}

impl DeployLock {
    /// What the deploy's last step checks on the host before it records anything.
    pub(crate) fn held(&self) -> held::Held {
        held::Held {
            vmid: self.vmid,
            token: self.token.clone(),
        }
    }

    /// Exit 7 when the host gave this lock up meanwhile (this run was frozen or suspended
    /// longer than the give-up time): what a deploy that changes nothing checks before it
    /// reports (a deploy that changes something checks on the host, [`held::CHECK`]). No
    /// round trip: the host's end of the lock's channel is already in what was received.
    pub(crate) fn still_held(&self) -> Result<()> {
        self.channel.as_ref().map_or(Ok(()), |c| c.still_held())
    }
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        if self.channel.take().is_some() {
            tracing::debug!(vmid = self.vmid, "deploy lock released");
        }
    }
}

/// Opens the long-lived channel that holds the deploy lock (`Session::spawn`).
pub(crate) type SpawnLock<'a> = &'a (dyn Fn(&str) -> Result<Box<dyn Channel>> + Sync);

/// Step 1: the deploy lock (not taken under `--dry-run`, which changes nothing).
pub(crate) fn take(
    host: &Host,
    (noun, vmid): (&str, u32),
    reporter: &dyn Reporter,
    spawn_lock: SpawnLock<'_>,
) -> Result<Option<DeployLock>> {
    if host.dry_run() {
        return Ok(None);
    }
    let holder = Holder::current();
    let token = held::token();
    let guest = Guest { noun, vmid };
    reporter
        .step(&format!("Taking the deploy lock of {noun} {vmid}"), || {
            let here = spawn_lock(&command_here(vmid, &holder, &token))?;
            if let Some(lock) = acquire_here(here, guest, &host.alias, &token)? {
                return Ok(lock);
            }
            // The guest is another node's: take its lock there (`spawn_lock` runs
            // on `host.session()`, which is the owner's once routed).
            let owner = match host.to_owner()? {
                true => host.node()?.map(|n| format!("node {n}")),
                false => None,
            };
            let on = owner.unwrap_or_else(|| host.alias.clone());
            acquire(
                spawn_lock(&command(vmid, &holder, &token))?,
                guest,
                &on,
                &token,
            )
        })
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_give_up_time_is_45_s_unless_a_test_shortens_it_within_5_to_45_s() {
        assert_eq!(give_up_from(None), Duration::from_secs(45));
        assert_eq!(give_up_from(Some("10")), Duration::from_secs(10));
        assert_eq!(give_up_from(Some(" 12 ")), Duration::from_secs(12));
        assert_eq!(give_up_from(Some("0")), Duration::from_secs(5));
        assert_eq!(give_up_from(Some("99999999999")), Duration::from_secs(45));
        assert_eq!(give_up_from(Some("-3")), Duration::from_secs(45));
        assert_eq!(give_up_from(Some("soon")), Duration::from_secs(45));
        assert_eq!(heartbeat_every(GIVE_UP_AFTER), Duration::from_secs(10));
        assert!(heartbeat_every(Duration::from_secs(5)) * 2 < Duration::from_secs(5));
    }
}
