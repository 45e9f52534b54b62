//! The last step of a deploy records its result only while the run still holds its lock.
//!
//! The lock shell can give the lock up (no heartbeat for [`super::give_up_after`]: a laptop
//! suspended, the network gone) while the deploy waits for health, and another deploy can
//! take it meanwhile. So the finishing call first checks on the host, in the same call, that
//! the lock file is still locked and that the holder file still has this run's token; only
//! then does it run the finish in the container. A lost or taken-over lock is exit 7, and
//! nothing is recorded: the release stays `pending`, the fingerprint marker unwritten.

use crate::error::Error;
use crate::remote::quote::join;

/// Exit status of [`CHECK`] when the lock is not this run's any more (as the lock shell's
/// "busy": the deploy's exit code 7).
pub(crate) const LOST_EXIT: i32 = 7;

/// `$1` lock file, `$2` holder file, `$3` token, then the command to run if the lock is
/// still this run's. `flock -n` succeeds only on a lock no one holds (it is released at once).
pub(crate) const CHECK: &str = crate::scripts::script!("lock-check.sh");

/// A new token for a run: 128 random bits, hex.
pub(crate) fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// What identifies the lock of a run ([`super::DeployLock::held`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub vmid: u32,
    pub token: String,
}

impl Held {
    /// The host command that runs `command` (already quoted for the host's shell) only while
    /// the lock is this run's; `gate` goes first (a prepared command waits for its `go`
    /// before it checks anything).
    pub(crate) fn guard(&self, gate: &str, command: &str) -> String {
        let check = format!("{gate}{CHECK}");
        format!(
            "{} {command}",
            join(&[
                "sh",
                "-c",
                &check,
                "sh",
                &super::lock_path(self.vmid),
                &super::holder_path(self.vmid),
                &self.token,
            ])
        )
    }
}

/// The error of a finish refused by [`CHECK`] (exit 7), with what the host said.
pub(crate) fn lost(guest: super::Guest<'_>, host: &str, said: &str) -> Error {
    let vmid = guest.vmid;
    Error::locked(format!(
        "the deploy lock of {} on {host} was lost before the deploy finished: its result was not recorded",
        guest.named()
    ))
    .cause(crate::output::sanitize(said.trim()))
    .hint(format!(
        "another deploy may be running now: check `pxdeploy status` and `pxdeploy releases`, then deploy again. \
         The host gives the lock up when no heartbeat came for {}s (pxdeploy suspended or frozen, the network gone)",
        super::give_up_after().as_secs()
    ))
    .facts(serde_json::json!({ "vmid": vmid, "lock_lost": true }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn check(dir: &std::path::Path, token: &str) -> std::process::Output {
        Command::new("sh")
            .args(["-c", CHECK, "sh"])
            .arg(dir.join("x.lock"))
            .arg(dir.join("x.holder"))
            .args([token, "echo", "finished"])
            .output()
            .unwrap()
    }

    /// Runs the command while the lock is held with this token; refuses (exit 7) when the
    /// token was replaced (another run took over) or when no one holds the lock.
    #[test]
    fn the_finish_runs_only_while_the_lock_is_this_runs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mine = token();
        assert_eq!(mine.len(), 32);
        assert_ne!(mine, token());
        std::fs::write(
            d.join("x.holder"),
            format!("alice@laptop since T1\n{mine}\n"),
        )
        .unwrap();
        let mut holder = Command::new("flock")
            .arg(d.join("x.lock"))
            .arg("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // `cat` echoes once flock has the lock.
        let mut stdin = holder.stdin.take().unwrap();
        stdin.write_all(b"locked\n").unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "locked\n");

        let out = check(d, &mine);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "finished\n");

        std::fs::write(d.join("x.holder"), "mallory@ci since T2\nf00dfeed\n").unwrap();
        let out = check(d, &mine);
        assert_eq!(out.status.code(), Some(LOST_EXIT));
        assert!(out.stdout.is_empty(), "ran the finish");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("held by another run now: mallory@ci since T2"),
            "{said}"
        );
        assert!(
            !said.contains("f00dfeed"),
            "printed the other run's token: {said}"
        );

        std::fs::write(
            d.join("x.holder"),
            format!("alice@laptop since T1\n{mine}\n"),
        )
        .unwrap();
        drop(stdin);
        holder.wait().unwrap();
        let out = check(d, &mine);
        assert_eq!(out.status.code(), Some(LOST_EXIT));
        assert!(out.stdout.is_empty(), "ran the finish");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("is no longer held"), "{said}");
    }

    #[test]
    fn a_lost_lock_names_the_guest_by_its_kind() {
        let vm = super::super::Guest {
            noun: "VM",
            vmid: 220,
        };
        let e = lost(
            vm,
            "node pve2",
            "pxdeploy: the deploy lock is no longer held\n",
        );
        assert_eq!(e.exit_code(), 7);
        assert_eq!(
            e.message,
            "the deploy lock of VM 220 on node pve2 was lost before the deploy finished: its result was not recorded"
        );
        let ct = super::super::Guest {
            noun: "container",
            vmid: 210,
        };
        assert!(lost(ct, "pve", "")
            .message
            .starts_with("the deploy lock of container 210 on pve was lost"));
    }

    #[test]
    fn the_guard_runs_the_gate_then_the_check_then_the_command() {
        let held = Held {
            vmid: 210,
            token: "ab12".into(),
        };
        let c = held.guard("read -r go || exit 0; ", "pct exec 210 -- true");
        assert!(
            c.starts_with("sh -c 'read -r go || exit 0; if flock -n "),
            "{c}"
        );
        assert!(
            c.ends_with(" sh /run/pxdeploy/pxdeploy-210.lock /run/pxdeploy/pxdeploy-210.holder ab12 pct exec 210 -- true"),
            "{c}"
        );
    }
}
