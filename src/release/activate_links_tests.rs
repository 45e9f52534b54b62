//! Issue 22: the fingerprint marker is never written or removed through a planted link.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::{Command, Stdio};

use super::*;

fn sh(script: &str, marker: &std::path::Path, more: &[&str]) -> (i32, String) {
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(marker)
        .args(more)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

/// The marker's folder linked elsewhere: neither the removal before `up` nor the write after
/// the health wait touches what the link points to.
#[test]
fn the_marker_is_never_written_or_removed_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join(".pxdeploy-deployed");
    fs::write(&victim, "theirs\n").unwrap();
    symlink(outside.path(), dir.path().join("app")).unwrap();
    let marker = dir.path().join("app/.pxdeploy-deployed");
    for script in [UP_SCRIPT, MARK_SCRIPT] {
        let (code, err) = sh(script, &marker, &["true"]);
        assert_eq!(code, crate::release::store::UNSAFE_EXIT, "{err}");
        let named = format!("{} is a symbolic link", dir.path().join("app").display());
        assert!(err.contains(&named), "{err}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "theirs\n");
    }

    // The temporary file planted as a link: removed, not written through.
    let app = tempfile::tempdir().unwrap();
    let marker = app.path().join(".pxdeploy-deployed");
    let tmp = app.path().join(".pxdeploy-deployed.tmp");
    symlink(&victim, &tmp).unwrap();
    let mut child = Command::new("sh")
        .args(["-c", MARK_SCRIPT, "sh"])
        .arg(&marker)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"sha256:x\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "theirs\n");
    assert_eq!(fs::read_to_string(&marker).unwrap(), "sha256:x\n");
}
