//! The store scripts, run by a real `sh` against a temporary folder.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::*;
use crate::guest::Inside;
use crate::push::{Archive, Item, Payload};
use crate::release::manifest::{read_local, Local};
use crate::release::plan::{self, Op};
use crate::release::{parse_read, State, Store};

/// Runs `script` (after the guard) with `args`, feeding `stdin`; (status, stderr).
fn run(script: &str, args: &[&str], stdin: &[u8]) -> (i32, String) {
    run_script(&format!("{CHECKS}{GUARD}{LOCK}{script}"), args, stdin)
}

/// Runs the whole `script` with `args`, feeding `stdin`; (status, stderr).
fn run_script(script: &str, args: &[&str], stdin: &[u8]) -> (i32, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), err)
}

fn read(dir: &Path, mode: ReadMode) -> Store {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{READ_FN}pxr \"$1\" \"$2\""))
        .arg("sh")
        .arg(dir)
        .arg(mode.word())
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut rest = &out.stdout[..];
    let store = parse_read(&mut rest).unwrap();
    assert!(rest.is_empty());
    store
}

/// Stages and switches to the app folder `src` as release `id` (the deploy's steps).
fn deploy(dir: &Path, src: &Path, id: &str) -> Local {
    let (code, err, local) = try_deploy(dir, src, id);
    assert_eq!(code, 0, "{err}");
    assert!(
        !dir.join(".pxdeploy/releases")
            .join(id)
            .join("journal")
            .exists(),
        "the journal stays in the release folder"
    );
    local
}

/// [`deploy`]'s steps; (status, stderr, the local manifest).
fn try_deploy(dir: &Path, src: &Path, id: &str) -> (i32, String, Local) {
    let (tar, local, base) = archive(dir, src, id);
    let base = base.unwrap_or_else(|| "-".into());
    let (code, err) = run_script(
        &stage_and_switch_script(),
        &[dir.to_str().unwrap(), id, &base],
        &tar,
    );
    (code, err, local)
}

/// The push's archive for `src` as release `id` against the store in `dir`, and the release
/// it was made against.
fn archive(dir: &Path, src: &Path, id: &str) -> (Vec<u8>, Local, Option<String>) {
    let (items, local, base) = items(dir, src, id);
    let mut tar = Vec::new();
    let mut archive = Archive::gzip(items).unwrap();
    archive.read_to_end(&mut tar).unwrap();
    archive.finish().unwrap();
    (tar, local, base)
}

/// The members of the push's archive for `src` as release `id` against the store in `dir`,
/// and the release it was made against.
fn items(dir: &Path, src: &Path, id: &str) -> (Vec<Item>, Local, Option<String>) {
    let store = read(dir, ReadMode::Objects);
    let local = read_local(src).unwrap();
    let d = plan::diff(store.current_manifest(), &local.manifest);
    let missing = plan::missing(&local.manifest, &store.objects);
    let items = super::super::store_calls::archive_items(
        &local,
        &missing,
        &d.ops,
        [
            ("release/manifest", local.manifest.render()),
            ("release/facts", format!("id={id}\n")),
            ("release/env", "A=1\n".to_string()),
            ("release/journal", plan::journal(id, &d.ops)),
        ],
    );
    (items, local, store.current)
}

const A: &str = "20261129T191501Z-00000001";
const B: &str = "20261129T191502Z-00000002";

fn src() -> tempfile::TempDir {
    let s = tempfile::tempdir().unwrap();
    let p = s.path();
    fs::create_dir_all(p.join("conf.d")).unwrap();
    fs::write(p.join("conf.d/old.conf"), "old\n").unwrap();
    fs::write(p.join("conf.d/keep.conf"), "keep\n").unwrap();
    fs::write(p.join("run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(p.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("run.sh", p.join("start")).unwrap();
    s
}

#[test]
fn stage_switch_read_and_prune_through_a_real_shell() {
    let s = src();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    deploy(d, s.path(), A);
    assert_eq!(
        fs::read_to_string(d.join("conf.d/old.conf")).unwrap(),
        "old\n"
    );
    assert_eq!(fs::read_link(d.join("start")).unwrap(), Path::new("run.sh"));
    let mode = fs::metadata(d.join("run.sh")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let store_mode = fs::metadata(d.join(".pxdeploy"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(store_mode & 0o777, 0o700);
    // A remote_dir made by the first deploy is not the store's 0700 (services running as
    // other users may need to enter it).
    let fresh = d.join("fresh/app");
    let made = Command::new("sh")
        .arg("-c")
        .arg(format!("umask 022; {CHECKS}{GUARD}{FINISH}"))
        .args(["sh", fresh.to_str().unwrap(), "-"])
        .status()
        .unwrap();
    assert!(made.success());
    let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "remote_dir made {mode:o}");

    // Data the services wrote, and files pxdeploy never pushed, stay.
    fs::write(d.join("conf.d/written-by-service"), "data").unwrap();
    fs::write(d.join(".env"), "SECRET=1\n").unwrap();
    fs::remove_file(s.path().join("conf.d/old.conf")).unwrap();
    fs::write(s.path().join("conf.d/keep.conf"), "changed\n").unwrap();
    deploy(d, s.path(), B);
    assert!(!d.join("conf.d/old.conf").exists());
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "changed\n"
    );
    assert!(d.join("conf.d/written-by-service").exists() && d.join(".env").exists());

    let store = read(d, ReadMode::All);
    assert_eq!(store.state, State::Ok);
    assert_eq!(store.current.as_deref(), Some(B));
    assert_eq!(store.ids(), [A, B]);
    assert_eq!(store.releases[0].result, "pending");
    // 5 distinct contents: old, keep, changed, run.sh, the link target.
    assert_eq!(read(d, ReadMode::Objects).objects.len(), 5);

    // Back to A from the store alone, .env included.
    let ops = {
        let mut d = plan::diff(store.manifests.get(B), &store.manifests[A]);
        d.ops.push(Op::Env {
            id: A.into(),
            dir: dir.path().to_str().unwrap().into(),
        });
        d.ops
    };
    let (code, err) = run(
        SWITCH,
        &[d.to_str().unwrap()],
        plan::journal(A, &ops).as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        fs::read_to_string(d.join("conf.d/old.conf")).unwrap(),
        "old\n"
    );
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "keep\n"
    );
    assert_eq!(fs::read_to_string(d.join(".env")).unwrap(), "A=1\n");
    assert_eq!(read(d, ReadMode::Current).current.as_deref(), Some(A));

    // Results, then keep only A: B and the object only B used are gone.
    let keep = [A.to_string()];
    let (code, err) = run(
        FINISH,
        &[
            d.to_str().unwrap(),
            &keep.join(" "),
            A,
            "healthy",
            B,
            "failed",
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let store = read(d, ReadMode::Objects);
    assert_eq!(store.ids(), [A]);
    assert_eq!(store.releases[0].result, "healthy");
    assert_eq!(store.objects.len(), 4);
}

#[test]
fn an_interrupted_switch_is_finished_by_the_next_one_and_a_cut_list_changes_nothing() {
    let s = src();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let remote = d.to_str().unwrap();
    deploy(d, s.path(), A);
    // A list cut short (no `end` line): refused, nothing changed.
    let (code, err) = run(SWITCH, &[remote], format!("{B}\nr run.sh\n").as_bytes());
    assert_eq!(code, 1);
    assert!(err.contains("incomplete"), "{err}");
    assert!(d.join("run.sh").exists());
    assert!(!d.join(".pxdeploy/journal.tmp").exists());
    // A journal whose switch was cut half-way (its first operation done, `current` still A):
    // the next switch finishes it first, then applies its own.
    fs::remove_file(s.path().join("conf.d/old.conf")).unwrap();
    fs::remove_file(s.path().join("run.sh")).unwrap();
    let old = read(d, ReadMode::All);
    let local = read_local(s.path()).unwrap();
    let half = plan::diff(old.current_manifest(), &local.manifest);
    fs::write(d.join(".pxdeploy/journal"), plan::journal(B, &half.ops)).unwrap();
    fs::remove_file(d.join("conf.d/old.conf")).unwrap();
    assert_eq!(
        read(d, ReadMode::Current).current.as_deref(),
        Some(B),
        "the journal's target"
    );
    let (code, err) = run(SWITCH, &[remote], format!("{B}\nend\n").as_bytes());
    assert_eq!(code, 0, "{err}");
    assert!(!d.join("run.sh").exists() && !d.join("conf.d/old.conf").exists());
    assert!(!d.join(".pxdeploy/journal").exists());
    assert_eq!(
        fs::read_to_string(d.join(".pxdeploy/current")).unwrap(),
        format!("{B}\n")
    );
}

#[test]
fn a_store_that_is_or_holds_a_symbolic_link_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    for plant in [".pxdeploy", ".pxdeploy/objects"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join(".pxdeploy")).unwrap();
        if plant == ".pxdeploy" {
            fs::remove_dir(d.join(plant)).unwrap();
        }
        std::os::unix::fs::symlink(outside.path(), d.join(plant)).unwrap();
        let remote = d.to_str().unwrap();
        let (code, err) = run(SWITCH, &[remote], format!("{A}\nend\n").as_bytes());
        assert_eq!(code, UNSAFE_EXIT, "{plant}: {err}");
        assert!(err.contains("symbolic link"), "{err}");
        let (code, _) = run(FINISH, &[remote, A], b"");
        assert_eq!(code, UNSAFE_EXIT);
        assert!(
            matches!(read(d, ReadMode::All).state, State::Unsafe(_)),
            "{plant}"
        );
        assert_eq!(
            fs::read_dir(outside.path()).unwrap().count(),
            0,
            "wrote outside"
        );
    }
}

/// The stage does not hash the objects again: pxdeploy stops the archive at a file that
/// changed since it was hashed, and the journal comes last. What arrived of such an
/// archive (a plain tar cut after a whole member, or a gzip stream cut short) changes
/// nothing: no object stored, no release, the tree untouched.
#[test]
fn an_archive_stopped_at_a_changed_file_changes_nothing() {
    for gzip in [false, true] {
        let s = src();
        for i in 0..3 {
            fs::write(s.path().join(format!("z-{i}.txt")), format!("text {i}\n")).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (members, _, _) = items(d, s.path(), A);
        // Changed after the scan hashed it, before the archive reads it.
        fs::write(s.path().join("z-1.txt"), "changed meanwhile\n").unwrap();
        let mut packed = crate::push::pack(members);
        packed.gzip = gzip;
        let mut tar = Vec::new();
        let mut archive = crate::push::Archive::packed(packed).unwrap();
        archive.read_to_end(&mut tar).unwrap();
        let e = archive.finish().unwrap_err();
        assert!(e.message.contains("changed while it was pushed"), "{e:?}");
        let unpack = if gzip { "gzip" } else { "plain" };
        let remote = d.to_str().unwrap();
        let (code, err) = run_script(&stage_and_switch_script(), &[remote, A, "-", unpack], &tar);
        assert_ne!(code, 0, "gzip {gzip}: {err}");
        let store = read(d, ReadMode::Objects);
        assert!(store.objects.is_empty(), "gzip {gzip}: {:?}", store.objects);
        assert!(store.releases.is_empty() && store.current.is_none());
        let tree: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != ".pxdeploy")
            .collect();
        assert!(tree.is_empty(), "gzip {gzip}: {tree:?}");
    }
}

/// The push's one call: a switch that fails after a good stage is exit 66 (not the stage's
/// 1), the release stays staged, and the journal left behind is what the next switch replays.
#[test]
fn a_switch_failing_after_the_stage_is_its_own_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let items = ["manifest", "facts", "env"]
        .into_iter()
        .map(|n| (n, Vec::new()))
        .chain([("journal", format!("{A}\nbogus line\nend\n").into_bytes())])
        .map(|(name, bytes)| Item {
            name: format!("release/{name}"),
            mode: 0o600,
            payload: Payload::Bytes(bytes),
        })
        .collect();
    let mut tar = Vec::new();
    let mut archive = Archive::gzip(items).unwrap();
    archive.read_to_end(&mut tar).unwrap();
    archive.finish().unwrap();
    let remote = dir.path().to_str().unwrap();
    let (code, err) = run_script(&stage_and_switch_script(), &[remote, A], &tar);
    assert_eq!(code, SWITCH_FAILED_EXIT, "{err}");
    assert!(err.contains("bad journal line: bogus line"), "{err}");
    let store = dir.path().join(".pxdeploy");
    assert!(store.join("releases").join(A).join("facts").exists());
    assert!(store.join("journal").exists(), "no journal left to replay");
    assert!(
        !store.join("current").exists(),
        "switched despite the failure"
    );
}

#[test]
fn command_lines() {
    let c = switch_command(Inside::Container(210), "/opt/my app");
    assert!(c.starts_with("pct exec 210 -- sh -c 'bad() {"), "{c}");
    assert!(c.ends_with("' sh '/opt/my app'"), "{c}");
    let f = finish_command(
        Inside::Container(210),
        "/opt/app",
        Some(&[A.to_string()]),
        &[(B, "failed")],
    );
    assert!(f.ends_with(&format!("' sh /opt/app {A} {B} failed")), "{f}");
    let f = finish_command(Inside::Container(210), "/opt/app", None, &[]);
    assert!(f.ends_with("' sh /opt/app -"), "{f}");
    let r = read_command(Inside::Container(210), "/opt/app", ReadMode::All);
    assert!(r.ends_with("pxr \"$1\" \"$2\"' sh /opt/app all"), "{r}");
}

#[path = "store_links_tests.rs"]
mod links;

#[path = "store_once_tests.rs"]
mod once;
