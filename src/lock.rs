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
//! ([`held`]). `/run/pxdeploy` is root's alone (see [`SCRIPT`]).

pub(crate) mod held;

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::progress::Reporter;
use crate::remote::host::Host;
use crate::remote::quote::join;
use crate::timestamp::rfc3339;

/// How long taking the lock may take (it never waits for another holder).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often pxdeploy tells the lock shell it is still there.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// After this long without a heartbeat the host gives the lock up (a frozen or vanished
/// pxdeploy; its TCP connection could take hours to time out).
pub(crate) const GIVE_UP_AFTER: Duration = Duration::from_secs(45);

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

/// What the lock shell prints first.
const HELD: &str = "pxdeploy-lock: held";
/// What [`command_here`] prints instead when the container lives on another node.
const ELSEWHERE: &str = "pxdeploy-lock: elsewhere";
const BUSY: &str = "pxdeploy-lock: busy";
/// Followed by what is wrong with the lock folder.
const UNSAFE: &str = "pxdeploy-lock: unsafe ";

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
/// `token` ([`held::token`]).
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
/// deploy runs. So first: when the container's config is not this node's
/// (`/etc/pve/lxc` is pmxcfs' link to this node's `nodes/<node>/lxc`) but another node's,
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
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        if self.channel.take().is_some() {
            tracing::debug!(vmid = self.vmid, "deploy lock released");
        }
    }
}

/// Takes the lock through `channel`, which runs [`command`]. Another holder → exit 7
/// naming it; any other failure → exit 5 with the shell's stderr.
pub(crate) fn acquire(
    channel: Box<dyn Channel>,
    vmid: u32,
    host: &str,
    token: &str,
) -> Result<DeployLock> {
    acquire_here(channel, vmid, host, token)?.ok_or_else(|| {
        Error::remote(format!(
            "cannot take the deploy lock of container {vmid} on {host}: the container lives on another node"
        ))
    })
}

/// [`acquire`], through a channel that may run [`command_here`]: `None` when the container
/// lives on another node of the cluster (no lock taken).
fn acquire_here(
    mut channel: Box<dyn Channel>,
    vmid: u32,
    host: &str,
    token: &str,
) -> Result<Option<DeployLock>> {
    let failed = |ch: &dyn Channel, why: &str| {
        let stderr = ch.stderr();
        let mut e = Error::remote(format!(
            "cannot take the deploy lock of container {vmid} on {host}"
        ))
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
            channel.keep_alive(HEARTBEAT_EVERY, lost(vmid, host));
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
                "another deploy of container {vmid} is running: {holder}"
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
                "cannot take the deploy lock of container {vmid} on {host}: {what}"
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
fn lost(vmid: u32, host: &str) -> Error {
    Error::locked(format!(
        "the deploy lock of container {vmid} on {host} was lost; stopped before changing anything more"
    ))
    .hint(format!(
        "another deploy may have taken it meanwhile: check `pxdeploy status`, then deploy again. \
         The host gives the lock up when no heartbeat came for {}s (pxdeploy suspended or frozen, \
         the network gone)",
        GIVE_UP_AFTER.as_secs()
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
}

/// Opens the long-lived channel that holds the deploy lock (`Session::spawn`).
pub(crate) type SpawnLock<'a> = &'a (dyn Fn(&str) -> Result<Box<dyn Channel>> + Sync);

/// Step 1: the deploy lock (not taken under `--dry-run`, which changes nothing).
pub(crate) fn take(
    host: &Host,
    vmid: u32,
    reporter: &dyn Reporter,
    spawn_lock: SpawnLock<'_>,
) -> Result<Option<DeployLock>> {
    if host.dry_run() {
        return Ok(None);
    }
    let holder = Holder::current();
    let token = held::token();
    reporter
        .step(
            &format!("Taking the deploy lock of container {vmid}"),
            || {
                let here = spawn_lock(&command_here(vmid, &holder, &token))?;
                if let Some(lock) = acquire_here(here, vmid, &host.alias, &token)? {
                    return Ok(lock);
                }
                // The container is another node's: take its lock there (`spawn_lock` runs
                // on `host.session()`, which is the owner's once routed).
                let owner = match host.to_owner()? {
                    true => host.node()?.map(|n| format!("node {n}")),
                    false => None,
                };
                let on = owner.unwrap_or_else(|| host.alias.clone());
                acquire(
                    spawn_lock(&command(vmid, &holder, &token))?,
                    vmid,
                    &on,
                    &token,
                )
            },
        )
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::mpsc::{channel, Receiver};
    use std::sync::{Arc, Mutex};

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

    /// The lock shell run by a local `sh`, standing in for the SSH channel. `beat`: the
    /// heartbeat it sends once the lock is held (none: a frozen pxdeploy).
    struct Local {
        child: Child,
        stdin: Arc<Mutex<Option<ChildStdin>>>,
        lines: Receiver<String>,
        beat: Option<Duration>,
    }

    impl Channel for Local {
        fn read_line(&mut self, timeout: Duration) -> Result<Line> {
            match self.lines.recv_timeout(timeout) {
                Ok(l) => Ok(Line::Line(l)),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(Line::TimedOut),
                Err(_) => Ok(Line::Eof),
            }
        }
        fn stderr(&self) -> String {
            String::new()
        }
        fn keep_alive(&mut self, _every: Duration, _lost: Error) {
            let (Some(every), stdin) = (self.beat, self.stdin.clone()) else {
                return;
            };
            std::thread::spawn(move || loop {
                std::thread::sleep(every);
                let sent = stdin.lock().unwrap().as_mut().map(|s| s.write_all(b".\n"));
                if !matches!(sent, Some(Ok(()))) {
                    return;
                }
            });
        }
    }

    impl Drop for Local {
        fn drop(&mut self) {
            // Like a closed channel: stdin ends, the shell exits.
            drop(self.stdin.lock().unwrap().take());
            let _ = self.child.wait();
        }
    }

    fn spawn(dir: &std::path::Path, who: &str) -> Box<dyn Channel> {
        spawn_with(dir, who, 45, None)
    }

    /// `give_up`: seconds without a heartbeat before the shell gives the lock up.
    fn spawn_with(
        dir: &std::path::Path,
        who: &str,
        give_up: u32,
        beat: Option<Duration>,
    ) -> Box<dyn Channel> {
        let mut child = Command::new("sh")
            .args(["-c", SCRIPT, "sh"])
            .arg(dir)
            .arg(dir.join("x.lock"))
            .arg(dir.join("x.holder"))
            .arg(who)
            .arg(give_up.to_string())
            .arg(TOKEN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let stdin = Arc::new(Mutex::new(child.stdin.take()));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Box::new(Local {
            child,
            stdin,
            lines: rx,
            beat,
        })
    }

    #[test]
    fn a_holder_without_heartbeat_loses_the_lock_and_one_with_it_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let beating = acquire(
            spawn_with(
                dir.path(),
                "alice@laptop since T1",
                1,
                Some(Duration::from_millis(200)),
            ),
            210,
            "pve",
            TOKEN,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        let err = acquire(spawn(dir.path(), "bob@ci since T2"), 210, "pve", TOKEN)
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), 7, "{}", err.render());
        drop(beating);

        let frozen = acquire(
            spawn_with(dir.path(), "alice@laptop since T3", 1, None),
            210,
            "pve",
            TOKEN,
        )
        .unwrap();
        let err = acquire(spawn(dir.path(), "bob@ci since T4"), 210, "pve", TOKEN)
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), 7, "{}", err.render());
        std::thread::sleep(Duration::from_millis(2500));
        let next = acquire(spawn(dir.path(), "bob@ci since T5"), 210, "pve", TOKEN).unwrap();
        drop((frozen, next));
    }

    #[test]
    fn second_holder_is_refused_with_the_first_ones_name_and_the_lock_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(
            spawn(dir.path(), "alice@laptop since T1"),
            210,
            "pve",
            TOKEN,
        )
        .unwrap();
        let err = acquire(spawn(dir.path(), "bob@ci since T2"), 210, "pve", TOKEN)
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), 7);
        assert!(
            err.message.contains("alice@laptop since T1"),
            "{}",
            err.message
        );
        assert!(!err.render().contains(TOKEN), "{}", err.render());
        drop(first);
        let again = acquire(spawn(dir.path(), "bob@ci since T3"), 210, "pve", TOKEN).unwrap();
        drop(again);
    }

    #[test]
    fn an_unsafe_lock_folder_is_refused_and_nothing_is_written_through_it() {
        use std::os::unix::fs::{chown, symlink, PermissionsExt};
        let base = tempfile::tempdir().unwrap();
        let mkdir = |name: &str, mode: u32| {
            let d = base.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
            d
        };
        let target = mkdir("target", 0o700);
        let link = base.path().join("link");
        symlink(&target, &link).unwrap();
        let open = mkdir("open", 0o777);
        let group = mkdir("group", 0o770);
        let other = mkdir("other", 0o700);
        chown(&other, Some(1000), Some(1000)).unwrap();
        let file = base.path().join("file");
        std::fs::write(&file, "").unwrap();
        for (dir, words) in [
            (&link, "is a symbolic link, not a directory"),
            (&open, "can be written by group or others (mode 777)"),
            (&group, "can be written by group or others (mode 770)"),
            (&other, "is owned by uid 1000, not root"),
            (&file, "is a regular empty file, not a directory"),
        ] {
            let err = acquire(spawn(dir, "alice@laptop since T1"), 210, "pve", TOKEN)
                .err()
                .unwrap();
            assert_eq!(err.exit_code(), 5, "{}", err.render());
            assert!(err.message.contains(words), "{}", err.render());
            assert!(
                err.render().contains("rm -rf /run/pxdeploy"),
                "{}",
                err.render()
            );
        }
        for dir in [&target, &open, &group, &other] {
            let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
            assert!(left.is_empty(), "{} has {left:?}", dir.display());
        }
        // A missing folder is created, root's alone.
        let fresh = base.path().join("fresh");
        let held = acquire(spawn(&fresh, "alice@laptop since T1"), 210, "pve", TOKEN).unwrap();
        let meta = std::fs::symlink_metadata(&fresh).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        let holder = std::fs::read_to_string(fresh.join("x.holder")).unwrap();
        assert_eq!(holder, format!("alice@laptop since T1\n{TOKEN}\n"));
        drop(held);
    }

    #[test]
    fn killed_holder_leaves_no_lock() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("sh")
            .args(["-c", SCRIPT, "sh"])
            .arg(dir.path())
            .arg(dir.path().join("x.lock"))
            .arg(dir.path().join("x.holder"))
            .arg("alice@laptop since T1")
            .arg("45")
            .arg(TOKEN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert_eq!(first.trim(), HELD);
        child.kill().unwrap();
        child.wait().unwrap();
        acquire(spawn(dir.path(), "bob@ci since T2"), 210, "pve", TOKEN).unwrap();
    }
}
