//! Issue 22: links planted by a service that can write into the app folder are never
//! followed by the store scripts (real `sh`, temporary folders standing in for the guest).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};

use super::*;

fn empty(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().count() == 0
}

/// `conf.d` replaced by a link out of the app folder: the next deploy that changes a file in
/// it is refused naming the link, and nothing is written where it points.
#[test]
fn a_folder_of_the_tree_linked_out_of_the_app_folder_is_never_written_through() {
    let s = src();
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = dir.path();
    deploy(d, s.path(), A);
    fs::remove_dir_all(d.join("conf.d")).unwrap();
    symlink(outside.path(), d.join("conf.d")).unwrap();
    fs::write(s.path().join("conf.d/keep.conf"), "changed\n").unwrap();
    let (code, err, _) = try_deploy(d, s.path(), B);
    assert_eq!(code, UNSAFE_EXIT, "{err}");
    let named = format!("{} is a symbolic link", d.join("conf.d").display());
    assert!(err.contains(&named), "{err}");
    assert!(empty(outside.path()), "wrote through the link");
}

/// A link planted as the temporary name a changed file is written to first: removed, not
/// written into (`install` would copy into a linked folder).
#[test]
fn a_temporary_name_planted_as_a_link_is_not_written_through() {
    let s = src();
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = dir.path();
    deploy(d, s.path(), A);
    symlink(outside.path(), d.join("conf.d/keep.conf.pxdeploy-new")).unwrap();
    fs::write(s.path().join("conf.d/keep.conf"), "changed\n").unwrap();
    deploy(d, s.path(), B);
    assert!(empty(outside.path()), "wrote through the link");
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "changed\n"
    );
}

/// A link on the way to the app folder (or the store itself): nothing is created there.
#[test]
fn an_app_folder_below_a_link_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), base.path().join("link")).unwrap();
    let remote = base.path().join("link/app");
    let (code, err) = run(
        SWITCH,
        &[remote.to_str().unwrap()],
        format!("{A}\nend\n").as_bytes(),
    );
    assert_eq!(code, UNSAFE_EXIT, "{err}");
    let named = format!("{} is a symbolic link", base.path().join("link").display());
    assert!(err.contains(&named), "{err}");
    assert!(
        empty(outside.path()),
        "created the app folder through the link"
    );
}

/// `data` (pushed once, then moved elsewhere by hand and linked) survives a deploy that
/// deletes the file pxdeploy pushed into it, and a first deploy over a linked folder does
/// not replace the link by an empty folder.
#[test]
fn a_linked_data_folder_survives_a_deploy_that_deletes_files() {
    let s = src();
    fs::create_dir_all(s.path().join("data")).unwrap();
    fs::write(s.path().join("data/seed.txt"), "seed\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = dir.path();
    deploy(d, s.path(), A);
    let moved = outside.path().join("data");
    fs::rename(d.join("data"), &moved).unwrap();
    fs::write(moved.join("service.txt"), "precious\n").unwrap();
    symlink(&moved, d.join("data")).unwrap();
    fs::remove_file(s.path().join("data/seed.txt")).unwrap();
    let (code, err, _) = try_deploy(d, s.path(), B);
    assert_eq!(code, UNSAFE_EXIT, "{err}");
    assert!(err.contains(&d.join("data").display().to_string()), "{err}");
    assert!(moved.join("seed.txt").exists() && moved.join("service.txt").exists());
    assert!(fs::symlink_metadata(d.join("data")).unwrap().is_symlink());

    // A first deploy into a folder where `data` is already a link.
    let fresh = tempfile::tempdir().unwrap();
    symlink(&moved, fresh.path().join("data")).unwrap();
    let (code, err, _) = try_deploy(fresh.path(), s.path(), A);
    assert_eq!(code, UNSAFE_EXIT, "{err}");
    assert!(
        fs::symlink_metadata(fresh.path().join("data"))
            .unwrap()
            .is_symlink(),
        "the link was replaced by an empty folder"
    );
    assert!(moved.join("service.txt").exists());
}

/// Putting a release's `.env` back: a link planted as the temporary file is removed, not
/// written through; `.env` itself linked elsewhere is refused.
#[test]
fn the_env_restore_never_writes_through_a_link() {
    let s = src();
    // A space in the app folder's path: it is matched as a string, never as a pattern.
    let dir = tempfile::Builder::new()
        .prefix("app [*] ")
        .tempdir()
        .unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = dir.path();
    let remote = d.to_str().unwrap();
    deploy(d, s.path(), A);
    let victim = outside.path().join("victim");
    fs::write(&victim, "victim\n").unwrap();
    symlink(&victim, d.join(".env.pxdeploy-new")).unwrap();
    let journal = format!("{A}\ne {A} {remote}\nend\n");
    let (code, err) = run(SWITCH, &[remote], journal.as_bytes());
    assert_eq!(code, 0, "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "victim\n");
    assert_eq!(fs::read_to_string(d.join(".env")).unwrap(), "A=1\n");
    let mode = fs::metadata(d.join(".env")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    fs::remove_file(d.join(".env")).unwrap();
    symlink(outside.path(), d.join(".env")).unwrap();
    let (code, err) = run(SWITCH, &[remote], journal.as_bytes());
    assert_eq!(code, UNSAFE_EXIT, "{err}");
    assert!(
        err.contains(&format!("{remote}/.env is a symbolic link")),
        "{err}"
    );
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
}

/// A journal left in the guest is data a service may have written: every line is checked
/// before any is applied, and a path that leaves the app folder, enters the store, or
/// passes a link is refused.
#[test]
fn a_journal_left_in_the_guest_is_checked_before_it_is_replayed() {
    let s = src();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    let h = "a".repeat(64);
    let far = outside.path().to_str().unwrap().to_string();
    for (line, says) in [
        (
            "r ../victim".to_string(),
            "is not a path inside the app folder",
        ),
        (
            format!("r {far}/victim"),
            "is not a path inside the app folder",
        ),
        (
            "r .pxdeploy/current".into(),
            "is not a path inside the app folder",
        ),
        ("x a/./b".into(), "is not a path inside the app folder"),
        (
            format!("f 0644 {h} ../victim"),
            "is not a path inside the app folder",
        ),
        (
            format!("e {A} {far}"),
            "is not a path inside the app folder",
        ),
        (format!("e ../../x {far}"), "is not a release id"),
        ("f 0644 ../../../victim x".into(), "is not an object name"),
        ("r out/victim".into(), "out is a symbolic link"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let remote = d.to_str().unwrap();
        deploy(d, s.path(), A);
        symlink(outside.path(), d.join("out")).unwrap();
        fs::write(&victim, "victim\n").unwrap();
        fs::write(
            d.join(".pxdeploy/journal"),
            format!("{B}\nr run.sh\n{line}\nend\n"),
        )
        .unwrap();
        let (code, err) = run(SWITCH, &[remote], format!("{A}\nend\n").as_bytes());
        assert_eq!(code, UNSAFE_EXIT, "{line}: {err}");
        assert!(err.contains(says), "{line}: {err}");
        assert!(victim.exists(), "{line}: deleted outside the app folder");
        if !line.starts_with("r out/") {
            assert!(d.join("run.sh").exists(), "{line}: applied before checking");
        }
        assert!(d.join(".pxdeploy/current").exists());
    }
}

/// While a store script runs it holds the store's `flock`: work left running by a pxdeploy
/// that vanished is finished before the next one changes the store.
#[test]
fn a_store_change_holds_the_guest_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{CHECKS}{GUARD}{LOCK}{SWITCH}"))
        .arg("sh")
        .arg(d)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The switch reads its journal: it has taken the lock by then.
    let started = std::time::Instant::now();
    while !d.join(".pxdeploy/journal.tmp").exists() {
        assert!(started.elapsed().as_secs() < 30, "the switch never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let free = |store: &Path| {
        Command::new("flock")
            .args(["-n"])
            .arg(store)
            .arg("true")
            .status()
            .unwrap()
            .success()
    };
    assert!(!free(&d.join(".pxdeploy")), "the store is not locked");
    drop(child.stdin.take());
    assert_eq!(child.wait().unwrap().code(), Some(1), "a cut list");
    assert!(free(&d.join(".pxdeploy")), "the lock outlived the script");
}

/// The archive arrives before the store's lock is taken: a push whose connection hangs (a
/// laptop gone without closing it) does not keep the next deploy waiting for hours.
#[test]
fn a_stage_waiting_for_its_archive_does_not_hold_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(stage_and_switch_script())
        .arg("sh")
        .arg(d)
        .args([A, "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let staging = || {
        fs::read_dir(d.join(".pxdeploy"))
            .map(|r| {
                r.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("incoming"))
            })
            .unwrap_or(false)
    };
    while !staging() {
        assert!(started.elapsed().as_secs() < 30, "the stage never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let free = Command::new("flock")
        .arg("-n")
        .arg(d.join(".pxdeploy"))
        .arg("true")
        .status()
        .unwrap();
    assert!(
        free.success(),
        "the store is locked while the archive arrives"
    );
    drop(child.stdin.take());
    assert_ne!(child.wait().unwrap().code(), Some(0));
}

/// A push made against release A while the tree went to B meanwhile (a push left running by
/// a pxdeploy that vanished finished first) changes nothing: its journal is a change from A.
#[test]
fn a_push_made_against_another_release_changes_nothing() {
    let s = src();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    deploy(d, s.path(), A);
    fs::write(s.path().join("conf.d/keep.conf"), "B\n").unwrap();
    let (late, _, base) = archive(d, s.path(), B);
    assert_eq!(base.as_deref(), Some(A));
    fs::write(s.path().join("conf.d/keep.conf"), "C\n").unwrap();
    const C: &str = "20261129T191503Z-00000003";
    deploy(d, s.path(), C);
    let (code, err) = run_script(
        &stage_and_switch_script(),
        &[d.to_str().unwrap(), B, A],
        &late,
    );
    assert_eq!(code, CHANGED_EXIT, "{err}");
    assert!(err.contains(&format!("on release {C}, not {A}")), "{err}");
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "C\n"
    );
    assert_eq!(
        fs::read_to_string(d.join(".pxdeploy/current")).unwrap(),
        format!("{C}\n")
    );
    assert!(!d.join(".pxdeploy/journal").exists());
}
