//! The user's side of a session: app folders, files in them, ids, clocks, and the common
//! `pxdeploy` runs (`create`, `deploy`) in such a folder.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{pxdeploy, repo_root, Run, Running};

/// A one-service Compose file whose service runs from `base:local` (no registry) and stops
/// at once.
pub const SMALL_COMPOSE: &str = "services:\n  web:\n    image: base:local\n    pull_policy: never\n    network_mode: none\n    command: [\"sleep\", \"3600\"]\n    stop_grace_period: 1s\n";

/// A temporary app folder holding [`SMALL_COMPOSE`] as `docker-compose.yml`.
pub fn small_app() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pxdeploy-app-")
        .tempdir()
        .unwrap();
    write(dir.path().join("docker-compose.yml"), SMALL_COMPOSE);
    dir
}

/// A copy of `examples/app` (four services with health checks) in a temporary folder.
pub fn example_app() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pxdeploy-app-")
        .tempdir()
        .unwrap();
    copy_dir(&repo_root().join("examples/app"), dir.path());
    dir
}

/// Copies the folder `from` into `to` (made if missing), files and subfolders; the one
/// copy helper of the tests.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Writes `text` to `path`, creating its folders.
#[track_caller]
pub fn write(path: impl AsRef<Path>, text: &str) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A container id of this test process alone: `test` (0–99) tells the tests of one process
/// apart, the process id the processes.
pub fn unique_vmid(test: u32) -> u32 {
    assert!(test < 100, "unique_vmid takes 0–99");
    100_000 + (std::process::id() % 100_000) * 100 + test
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `pxdeploy create` in `app`, which must succeed.
#[track_caller]
pub fn create(app: &Path) {
    pxdeploy()
        .current_dir(app)
        .arg("create")
        .run()
        .assert_success();
}

/// `pxdeploy [flags] deploy` in `app` (a deploy may take minutes: bounded at 180 s).
#[track_caller]
pub fn deploy(app: &Path, flags: &[&str]) -> Run {
    pxdeploy()
        .current_dir(app)
        .args(flags)
        .arg("deploy")
        .timeout(Duration::from_secs(180))
        .run()
}

/// `pxdeploy deploy` in `app`, run as `USER=alice` in the background, returned once it
/// holds the deploy lock of container `vmid` (at most a minute); killed after `timeout`.
#[track_caller]
pub fn deploy_holding_the_lock(app: &Path, vmid: u32, timeout: Duration) -> Running {
    let mut holder = pxdeploy()
        .current_dir(app)
        .env("USER", "alice")
        .arg("deploy")
        .timeout(timeout)
        .spawn();
    holder.wait_for_stderr(&lock_taken(vmid), Duration::from_secs(60));
    holder
}

/// The progress line of a deploy that took the lock of container `vmid`.
pub fn lock_taken(vmid: u32) -> String {
    format!("Taking the deploy lock of container {vmid}: done")
}
