//! A push writes each byte it receives once: the staged files become the tree's by rename,
//! the store keeps its own copy (never a hard link a service could write through).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

/// The switch's own count: (files made live by rename, files copied from the store).
fn counted(err: &str) -> (u32, u32) {
    let line = err
        .lines()
        .find(|l| l.contains("made live by rename"))
        .unwrap_or_else(|| panic!("no count in: {err}"));
    let n: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

/// Every stored object still hashes to its name.
fn objects_intact(d: &Path) {
    let store = read(d, ReadMode::Objects);
    assert!(!store.objects.is_empty());
    for h in &store.objects {
        let o = d.join(".pxdeploy/objects").join(&h[..2]).join(&h[2..]);
        let bytes = fs::read(&o).unwrap();
        assert_eq!(&format!("{:x}", Sha256::digest(&bytes)), h, "{o:?} changed");
        assert_eq!(fs::metadata(&o).unwrap().nlink(), 1, "{o:?} is linked");
    }
}

#[test]
fn a_fresh_push_renames_what_arrived_into_the_tree_and_copies_nothing_from_the_store() {
    let s = src();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, err, _) = try_deploy(d, s.path(), A);
    assert_eq!(code, 0, "{err}");
    // run.sh, conf.d/old.conf, conf.d/keep.conf: each written once, where it arrived.
    assert_eq!(counted(&err), (3, 0), "{err}");
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "keep\n"
    );
    let mode = |p: &str| fs::metadata(d.join(p)).unwrap().mode() & 0o7777;
    assert_eq!((mode("run.sh"), mode("conf.d/old.conf")), (0o755, 0o644));
    assert_eq!(fs::metadata(d.join("run.sh")).unwrap().nlink(), 1);
    objects_intact(d);
    assert!(
        fs::read_dir(d.join(".pxdeploy")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("incoming")),
        "the staging folder stays"
    );
    // One changed file: one rename; two paths with the same new content: the second is
    // copied from the store (one object travels).
    fs::write(s.path().join("conf.d/keep.conf"), "new\n").unwrap();
    fs::write(s.path().join("conf.d/twin.conf"), "new\n").unwrap();
    let (code, err, _) = try_deploy(d, s.path(), B);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counted(&err), (1, 1), "{err}");
    assert_eq!(
        fs::read_to_string(d.join("conf.d/twin.conf")).unwrap(),
        "new\n"
    );
    objects_intact(d);
}

/// A service whose bind mount covers the app folder writes into a pushed file in place
/// (same inode): the stored release keeps its bytes, and switching back to it puts them back.
#[test]
fn a_service_writing_into_the_live_tree_changes_no_stored_release() {
    let s = src();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    deploy(d, s.path(), A);
    for p in ["conf.d/keep.conf", "conf.d/old.conf", "run.sh"] {
        let mut f = fs::OpenOptions::new().write(true).open(d.join(p)).unwrap();
        std::io::Write::write_all(&mut f, b"EVIL").unwrap();
    }
    objects_intact(d);
    fs::write(s.path().join("conf.d/keep.conf"), "changed\n").unwrap();
    deploy(d, s.path(), B);
    objects_intact(d);
    let store = read(d, ReadMode::All);
    let back = plan::diff(store.manifests.get(B), &store.manifests[A]);
    let (code, err) = run(
        SWITCH,
        &[d.to_str().unwrap()],
        plan::journal(A, &back.ops).as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "keep\n"
    );
}

/// The stage and switch of pxdeploy before this layout (commit d311fd3), as it ran.
fn old_stage_and_switch() -> String {
    const STAGE_0: &str = crate::scripts::body(include_str!("testdata/store-stage-0.1.sh"));
    const SWITCH_0: &str = crate::scripts::body(include_str!("testdata/store-switch-0.1.sh"));
    format!(
        "{CHECKS}{GUARD}{STAGE_0}J0=\"$S/releases/$2/journal\"; B=$3; \
exec < \"$J0\" && rm -f -- \"$J0\" || exit 1; ( {SWITCH_0} )"
    )
}

/// A container deployed by the previous pxdeploy: the first deploy after the upgrade works
/// (its objects join the old store's folders), and the old release is still one to go back to.
#[test]
fn a_store_written_by_the_previous_version_is_deployed_over_and_rolled_back_to() {
    let s = src();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let remote = d.to_str().unwrap();
    let (gz, _, _) = archive(d, s.path(), A);
    // The previous version read a plain tar: the same archive without today's gzip.
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut tar).unwrap();
    let (code, err) = run_script(&old_stage_and_switch(), &[remote, A, "-"], &tar);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(d, ReadMode::Current).current.as_deref(), Some(A));
    fs::write(s.path().join("conf.d/keep.conf"), "changed\n").unwrap();
    // The new object's `ab/` folder is there already (the old store's): merged into.
    let h = format!("{:x}", Sha256::digest(b"changed\n"));
    fs::create_dir_all(d.join(".pxdeploy/objects").join(&h[..2])).unwrap();
    let (code, err, _) = try_deploy(d, s.path(), B);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counted(&err), (1, 0), "{err}");
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "changed\n"
    );
    objects_intact(d);
    let store = read(d, ReadMode::All);
    assert_eq!(store.ids(), [A, B]);
    let back = plan::diff(store.manifests.get(B), &store.manifests[A]);
    let (code, err) = run(SWITCH, &[remote], plan::journal(A, &back.ops).as_bytes());
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "keep\n"
    );
    assert_eq!(read(d, ReadMode::Current).current.as_deref(), Some(A));
}

/// A push of files that do not compress (random bytes: media, archives) goes as a plain tar,
/// the script told so by its fourth argument (no `gzip -d` pass over every byte in the
/// guest), and lands byte for byte; a tree of text still goes as a gzip stream.
#[test]
fn an_incompressible_push_goes_as_a_plain_tar_and_lands_byte_identical() {
    use rand::RngCore;
    let s = tempfile::tempdir().unwrap();
    let mut blobs = Vec::new();
    for i in 0..3 {
        let mut b = vec![0u8; 300 * 1024];
        rand::rng().fill_bytes(&mut b);
        fs::write(s.path().join(format!("blob-{i}.bin")), &b).unwrap();
        blobs.push(b);
    }
    fs::write(s.path().join("compose.yml"), "services: {}\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (members, _, _) = items(d, s.path(), A);
    let packed = crate::push::pack(members);
    assert!(!packed.gzip, "random bytes sent through gzip");
    let mut tar = Vec::new();
    let mut archive = crate::push::Archive::packed(packed).unwrap();
    std::io::Read::read_to_end(&mut archive, &mut tar).unwrap();
    archive.finish().unwrap();
    assert_ne!(tar[..2], [0x1f, 0x8b], "a gzip stream");
    let remote = d.to_str().unwrap();
    let (code, err) = run_script(&stage_and_switch_script(), &[remote, A, "-", "plain"], &tar);
    assert_eq!(code, 0, "{err}");
    for (i, b) in blobs.iter().enumerate() {
        assert!(
            fs::read(d.join(format!("blob-{i}.bin"))).unwrap() == *b,
            "blob {i}"
        );
    }
    assert_eq!(
        fs::read_to_string(d.join("compose.yml")).unwrap(),
        "services: {}\n"
    );
    objects_intact(d);
    // Text shrinks: a gzip stream, which the script unpacks by default.
    let t = src();
    let empty = tempfile::tempdir().unwrap();
    let (members, _, _) = items(empty.path(), t.path(), A);
    assert!(crate::push::pack(members).gzip, "text sent plain");
}

/// A fresh push of many files makes them live with one `mv` per folder, not one per file
/// (a process start costs ~1.5 ms of CPU in a guest: 200 files were 0.3 s of the push):
/// files of the top folder and of a subfolder, a dotfile, a file stored as it is in the
/// gzip stream (`.png`: its hard link follows it into the stored part), and a content at
/// two paths (renamed once, copied from the store once).
#[test]
fn a_fresh_push_makes_each_folder_live_with_one_mv() {
    let s = tempfile::tempdir().unwrap();
    let p = s.path();
    fs::create_dir_all(p.join("sub")).unwrap();
    for i in 0..40 {
        fs::write(p.join(format!("f-{i:02}.txt")), format!("top {i}\n")).unwrap();
    }
    for i in 0..5 {
        fs::write(p.join(format!("sub/g-{i}.txt")), format!("sub {i}\n")).unwrap();
    }
    fs::write(p.join(".hidden"), "dot\n").unwrap();
    fs::write(p.join("photo.png"), [0x89u8, b'P', b'N', b'G', 0, 1, 2, 3]).unwrap();
    fs::write(p.join("twin-a.conf"), "same\n").unwrap();
    fs::write(p.join("sub/twin-b.conf"), "same\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (tar, _, _) = archive(d, p, A);
    // `mv` logs each call, then runs the real one.
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("log");
    let real = Command::new("sh")
        .args(["-c", "command -v mv"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap();
    fs::write(
        bin.path().join("mv"),
        format!(
            "#!/bin/sh\necho mv >> '{}'\nexec {} \"$@\"\n",
            log.display(),
            real.trim()
        ),
    )
    .unwrap();
    fs::set_permissions(bin.path().join("mv"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = crate::test_support::path_with(bin.path());
    let (code, err) = run_with_path(&tar, d, &path);
    assert_eq!(code, 0, "{err}");
    // 49 files: 48 renamed, the second twin copied from the store.
    assert_eq!(counted(&err), (48, 1), "{err}");
    for i in 0..40 {
        assert_eq!(
            fs::read_to_string(d.join(format!("f-{i:02}.txt"))).unwrap(),
            format!("top {i}\n")
        );
    }
    assert_eq!(
        fs::read_to_string(d.join("sub/g-4.txt")).unwrap(),
        "sub 4\n"
    );
    assert_eq!(fs::read_to_string(d.join(".hidden")).unwrap(), "dot\n");
    assert_eq!(
        fs::read(d.join("photo.png")).unwrap()[..4],
        [0x89, b'P', b'N', b'G']
    );
    assert_eq!(fs::read_to_string(d.join("twin-a.conf")).unwrap(), "same\n");
    assert_eq!(
        fs::read_to_string(d.join("sub/twin-b.conf")).unwrap(),
        "same\n"
    );
    assert_eq!(fs::metadata(d.join("f-00.txt")).unwrap().nlink(), 1);
    objects_intact(d);
    // Two folders' renames, the stage's two (objects, release folder), the switch's two
    // (journal, `current`): a `mv` per file would be 48 more.
    let calls = fs::read_to_string(&log).unwrap().lines().count();
    assert!(calls <= 8, "{calls} mv calls");
}

/// The stage and switch of `tar` into `d` as release [`A`], with `PATH` = `path`.
fn run_with_path(tar: &[u8], d: &Path, path: &str) -> (i32, String) {
    let mut child = Command::new("sh")
        .args([
            "-c",
            &stage_and_switch_script(),
            "sh",
            d.to_str().unwrap(),
            A,
            "-",
        ])
        .env("PATH", path)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(tar).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

/// A guest whose tools are BusyBox's (no coreutils, no util-linux `flock`): its `tar`
/// makes the hard links `t/<path>`, its `mv` renames a folder's files in one call, the
/// store keeps its own copy of each file, and a content at two paths is copied from the
/// store for the second (Debian's busybox-static has no `install`: the switch copies with
/// `cp` and `chmod`).
#[test]
fn a_fresh_push_lands_with_busybox_tools() {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "busybox is missing: apt-get install -y busybox-static"
    );
    let bin = tempfile::tempdir().unwrap();
    for tool in [
        "sh", "tar", "mv", "cp", "sort", "tail", "find", "awk", "cut", "xargs", "chmod", "rm",
        "mkdir", "mktemp", "cat", "ln", "rmdir", "sync", "head", "wc", "sed",
    ] {
        std::os::unix::fs::symlink(busybox, bin.path().join(tool)).unwrap();
    }
    let s = src();
    fs::write(s.path().join("twin-a.conf"), "same\n").unwrap();
    fs::write(s.path().join("conf.d/twin-b.conf"), "same\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (tar, _, _) = archive(d, s.path(), A);
    let (code, err) = run_with_path(&tar, d, &bin.path().display().to_string());
    assert_eq!(code, 0, "{err}");
    assert_eq!(counted(&err), (4, 1), "{err}");
    for twin in ["twin-a.conf", "conf.d/twin-b.conf"] {
        assert_eq!(fs::read_to_string(d.join(twin)).unwrap(), "same\n");
        assert_eq!(fs::metadata(d.join(twin)).unwrap().mode() & 0o777, 0o644);
    }
    assert_eq!(
        fs::read_to_string(d.join("conf.d/keep.conf")).unwrap(),
        "keep\n"
    );
    assert_eq!(fs::read_link(d.join("start")).unwrap(), Path::new("run.sh"));
    assert_eq!(
        fs::metadata(d.join("run.sh")).unwrap().mode() & 0o777,
        0o755
    );
    assert_eq!(fs::metadata(d.join("run.sh")).unwrap().nlink(), 1);
    objects_intact(d);
}
