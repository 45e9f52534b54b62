//! Tests of taking the deploy lock: the real lock shell run by a local `sh`, and canned
//! answers.

use super::*;
use crate::lock::shell::{ELSEWHERE, HELD, SCRIPT};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const CT: Guest = Guest {
    noun: "container",
    vmid: 210,
};

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
        CT,
        "pve",
        TOKEN,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let err = acquire(spawn(dir.path(), "bob@ci since T2"), CT, "pve", TOKEN)
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), 7, "{}", err.render());
    drop(beating);

    let frozen = acquire(
        spawn_with(dir.path(), "alice@laptop since T3", 1, None),
        CT,
        "pve",
        TOKEN,
    )
    .unwrap();
    let err = acquire(spawn(dir.path(), "bob@ci since T4"), CT, "pve", TOKEN)
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), 7, "{}", err.render());
    std::thread::sleep(Duration::from_millis(2500));
    let next = acquire(spawn(dir.path(), "bob@ci since T5"), CT, "pve", TOKEN).unwrap();
    drop((frozen, next));
}

/// A channel that answers with canned lines (then end-of-file).
struct Canned(Vec<String>);

impl Channel for Canned {
    fn read_line(&mut self, _timeout: Duration) -> Result<Line> {
        Ok(match self.0.is_empty() {
            true => Line::Eof,
            false => Line::Line(self.0.remove(0)),
        })
    }
    fn stderr(&self) -> String {
        String::new()
    }
    fn keep_alive(&mut self, _every: Duration, _lost: Error) {}
}

fn canned(lines: &[&str]) -> Box<dyn Channel> {
    Box::new(Canned(lines.iter().map(|l| l.to_string()).collect()))
}

#[test]
fn a_vms_lock_is_named_as_the_vms() {
    let vm = Guest {
        noun: "VM",
        vmid: 220,
    };
    let dir = tempfile::tempdir().unwrap();
    let first = acquire(spawn(dir.path(), "alice@laptop since T1"), vm, "pve", TOKEN).unwrap();
    let err = acquire(spawn(dir.path(), "bob@ci since T2"), vm, "pve", TOKEN)
        .err()
        .unwrap();
    assert_eq!(
        err.message,
        "another deploy of VM 220 is running: alice@laptop since T1"
    );
    drop(first);
    let err = acquire(canned(&[ELSEWHERE]), vm, "node pve2", TOKEN)
        .err()
        .unwrap();
    assert_eq!(
        err.message,
        "cannot take the deploy lock of VM 220 on node pve2: the VM lives on another node"
    );
    let err = acquire(canned(&["what?"]), vm, "pve", TOKEN).err().unwrap();
    assert_eq!(err.message, "cannot take the deploy lock of VM 220 on pve");
    let err = acquire(
        canned(&["pxdeploy-lock: unsafe is a symbolic link"]),
        vm,
        "pve",
        TOKEN,
    )
    .err()
    .unwrap();
    assert_eq!(
        err.message,
        "cannot take the deploy lock of VM 220 on pve: is a symbolic link"
    );
    assert_eq!(
        lost(vm, "pve").message,
        "the deploy lock of VM 220 on pve was lost; stopped before changing anything more"
    );
    assert_eq!(
        lost(CT, "pve").message,
        "the deploy lock of container 210 on pve was lost; stopped before changing anything more"
    );
}

#[test]
fn second_holder_is_refused_with_the_first_ones_name_and_the_lock_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let first = acquire(spawn(dir.path(), "alice@laptop since T1"), CT, "pve", TOKEN).unwrap();
    let err = acquire(spawn(dir.path(), "bob@ci since T2"), CT, "pve", TOKEN)
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
    let again = acquire(spawn(dir.path(), "bob@ci since T3"), CT, "pve", TOKEN).unwrap();
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
        let err = acquire(spawn(dir, "alice@laptop since T1"), CT, "pve", TOKEN)
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
    let held = acquire(spawn(&fresh, "alice@laptop since T1"), CT, "pve", TOKEN).unwrap();
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
    acquire(spawn(dir.path(), "bob@ci since T2"), CT, "pve", TOKEN).unwrap();
}
