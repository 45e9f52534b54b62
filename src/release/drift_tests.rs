use super::*;
use crate::release::manifest::read_local;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

const ID: &str = "20261129T191501Z-3fa9c2d1";

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// A deployed folder: the tree, its manifest in the store, `current` written after the files.
fn deployed() -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("api")).unwrap();
    fs::write(d.join("api/Dockerfile"), "FROM base:local\n").unwrap();
    fs::write(d.join("my file.txt"), "hello\n").unwrap();
    std::os::unix::fs::symlink("Dockerfile", d.join("api/link")).unwrap();
    fs::set_permissions(d.join("my file.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    let manifest = read_local(d).unwrap().manifest;
    let release = d.join(".pxdeploy/releases").join(ID);
    fs::create_dir_all(&release).unwrap();
    fs::write(release.join("manifest"), manifest.render()).unwrap();
    fs::write(d.join(".pxdeploy/current"), format!("{ID}\n")).unwrap();
    // The switch writes `current` after its files (a minute later here: links' times cannot
    // be set from std).
    set_mtime(&d.join(".pxdeploy/current"), later(60));
    (dir, manifest)
}

fn later(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

/// An edit by hand, after the switch.
fn edit(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    set_mtime(path, later(120));
}

/// Runs the function through a real `sh`, as the inspection does.
fn check(d: &Path, mode: &str) -> Option<Vec<Seen>> {
    check_with(d, mode, None)
}

/// [`check`] with this `PATH` (and its `sh`).
fn check_with(d: &Path, mode: &str, path: Option<&Path>) -> Option<Vec<Seen>> {
    let script = format!("{}pxd \"$1\" \"$2\"; echo after", function());
    let mut cmd = std::process::Command::new(path.map_or("sh".into(), |p| p.join("sh")));
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    let out = cmd
        .args(["-c", &script, "sh"])
        .arg(d)
        .arg(mode)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rest = &out.stdout[..];
    let seen = parse(&mut rest).unwrap();
    assert_eq!(rest, b"after\n", "the section must end where it says");
    seen
}

fn drift_of(d: &Path, m: &Manifest, mode: &str) -> Vec<(String, &'static str, String)> {
    drifted(m, &check(d, mode).expect("a check"))
        .into_iter()
        .map(|x| (x.path, x.what, x.why))
        .collect()
}

#[test]
fn an_untouched_tree_has_no_drift_and_hashes_nothing() {
    let (dir, m) = deployed();
    assert_eq!(check(dir.path(), "quick"), Some(Vec::new()));
    // `all` hashes every file, and they all match.
    let all = check(dir.path(), "all").unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(drifted(&m, &all).is_empty());
}

#[test]
fn an_edit_of_the_same_size_is_found_by_its_hash() {
    let (dir, m) = deployed();
    edit(&dir.path().join("my file.txt"), "HELLO\n");
    assert_eq!(
        drift_of(dir.path(), &m, "quick"),
        [("my file.txt".to_string(), "changed", "content".to_string())]
    );
    // Touched only: hashed, and the same.
    edit(&dir.path().join("my file.txt"), "hello\n");
    assert!(drift_of(dir.path(), &m, "quick").is_empty());
}

#[test]
fn an_edit_that_keeps_size_and_mtime_is_found_only_by_a_thorough_check() {
    let (dir, m) = deployed();
    let f = dir.path().join("api/Dockerfile");
    let before = fs::metadata(&f).unwrap().modified().unwrap();
    fs::write(&f, "FROM evil:local\n").unwrap();
    set_mtime(&f, before);
    assert!(drift_of(dir.path(), &m, "quick").is_empty());
    assert_eq!(
        drift_of(dir.path(), &m, "all"),
        [(
            "api/Dockerfile".to_string(),
            "changed",
            "content".to_string()
        )]
    );
}

#[test]
fn missing_files_modes_sizes_and_replaced_folders() {
    let (dir, m) = deployed();
    let d = dir.path();
    fs::set_permissions(d.join("my file.txt"), fs::Permissions::from_mode(0o666)).unwrap();
    fs::remove_dir_all(d.join("api")).unwrap();
    // The folder is now a link out of the tree: nothing below it is read through it.
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("Dockerfile"), "FROM base:local\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), d.join("api")).unwrap();
    assert_eq!(
        drift_of(d, &m, "all"),
        [
            (
                "api".to_string(),
                "changed",
                "now a symbolic link".to_string()
            ),
            (
                "api/Dockerfile".to_string(),
                "missing",
                "not there".to_string()
            ),
            ("api/link".to_string(), "missing", "not there".to_string()),
            (
                "my file.txt".to_string(),
                "changed",
                "permissions 0666 (pushed 0640)".to_string()
            ),
        ]
    );
    fs::remove_file(d.join("api")).unwrap();
    fs::create_dir(d.join("api")).unwrap();
    fs::write(d.join("api/Dockerfile"), "FROM base:local\nRUN x\n").unwrap();
    let got = drift_of(d, &m, "quick");
    assert_eq!(got[0].0, "api/Dockerfile");
    assert_eq!((got[0].1, got[0].2.as_str()), ("changed", "content (size)"));
    assert_eq!(got[1].0, "api/link");
    assert_eq!(got[1].1, "missing");
}

#[test]
fn no_check_through_a_linked_store_or_during_a_switch() {
    let (dir, _) = deployed();
    let d = dir.path();
    fs::write(d.join(".pxdeploy/journal"), "x\n").unwrap();
    assert_eq!(check(d, "quick"), None);
    fs::remove_file(d.join(".pxdeploy/journal")).unwrap();
    fs::rename(d.join(".pxdeploy"), d.join("store")).unwrap();
    std::os::unix::fs::symlink(d.join("store"), d.join(".pxdeploy")).unwrap();
    assert_eq!(check(d, "quick"), None);
    assert_eq!(check(&d.join("nowhere"), "quick"), None);
}

/// A container without coreutils (BusyBox's sh, awk, stat, xargs, sha256sum): `stat` has
/// whole seconds only, and its awk reads `0644` as octal.
#[test]
fn busybox_tools_give_the_same_answers() {
    let bin = tempfile::tempdir().unwrap();
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "busybox is missing: apt-get install -y busybox-static"
    );
    for tool in ["sh", "awk", "stat", "tr", "xargs", "sha256sum", "cat"] {
        std::os::unix::fs::symlink(busybox, bin.path().join(tool)).unwrap();
    }
    let bb = Some(bin.path());
    let (dir, m) = deployed();
    let d = dir.path();
    assert_eq!(check_with(d, "quick", bb), Some(Vec::new()));
    assert!(drifted(&m, &check_with(d, "all", bb).unwrap()).is_empty());
    edit(&d.join("my file.txt"), "HELLO\n");
    fs::set_permissions(d.join("api/Dockerfile"), fs::Permissions::from_mode(0o600)).unwrap();
    let got: Vec<_> = drifted(&m, &check_with(d, "quick", bb).unwrap())
        .into_iter()
        .map(|x| (x.path, x.why))
        .collect();
    assert_eq!(
        got,
        [
            (
                "api/Dockerfile".to_string(),
                "permissions 0600 (pushed 0644)".to_string()
            ),
            ("my file.txt".to_string(), "content".to_string()),
        ]
    );
}

#[test]
fn reads_hash_lines_with_gnu_escapes() {
    let h = "a".repeat(64);
    let text = format!("drift\n\\{h}  a\\\\b\nf 644 3 - x y\n- - - - gone\ndrift-end\n");
    let seen = parse(&mut text.as_bytes()).unwrap().unwrap();
    assert_eq!(
        seen,
        [
            Seen::Hash {
                hash: h.clone(),
                path: "a\\b".into()
            },
            Seen::Stat {
                kind: 'f',
                mode: Some(0o644),
                size: Some(3),
                relinked: false,
                path: "x y".into()
            },
            Seen::Stat {
                kind: '-',
                mode: None,
                size: None,
                relinked: false,
                path: "gone".into()
            },
        ]
    );
    assert!(parse(&mut &b"drift\nf 644\n"[..]).is_err());
    assert!(parse(&mut &b"drift\n"[..]).is_err());
}

#[test]
fn the_note_of_a_file_put_back_names_the_guests_kind() {
    let d = Drifted {
        path: "compose.yaml".into(),
        what: "changed",
        why: "content".into(),
    };
    assert_eq!(
        d.note(crate::guest::Inside::Vm(220), "deploy", "putting it back"),
        "compose.yaml was changed in the VM since the last deploy (content): putting it back"
    );
    let gone = Drifted {
        what: "missing",
        ..d
    };
    assert_eq!(
        gone.note(crate::guest::Inside::Container(210), "switch", "putting it back"),
        "compose.yaml went missing in the container since the last switch (content): putting it back"
    );
}
