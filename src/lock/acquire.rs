//! Taking the lock: the lock shell's first answer, read through the long-lived [`Channel`]
//! that runs it, becomes a held [`DeployLock`], "another deploy is running" (exit 7) or a
//! failure (exit 5).

use std::time::Duration;

use super::shell::{BUSY, ELSEWHERE, HELD, UNSAFE};
use super::{give_up_after, heartbeat_every, lock_path, DeployLock, ACQUIRE_TIMEOUT, DIR};
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
}

/// Takes the lock through `channel`, which runs [`super::command`]. Another holder → exit 7
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

/// [`acquire`], through a channel that may run [`super::command_here`]: `None` when the container
/// lives on another node of the cluster (no lock taken).
pub(super) fn acquire_here(
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
            channel.keep_alive(heartbeat_every(give_up_after()), lost(vmid, host));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::shell::{HELD, SCRIPT};
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::mpsc::{channel, Receiver};
    use std::sync::{Arc, Mutex};

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

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
