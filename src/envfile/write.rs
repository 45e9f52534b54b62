//! The remote command that replaces `.env` atomically: a temporary file, then a rename,
//! 0600, the content on stdin.

/// The script that replaces `.env` from stdin: a temporary file in the same folder
/// (created 0600 under `umask 077`), its size checked against what was sent (a dropped
/// connection ends stdin early), flushed to disk (`sync FILE`: fsync), renamed over `.env`,
/// then the folder flushed (`sync .`), so that a power cut leaves the old `.env` or the new
/// one, never an empty one. `sync FILE` is in coreutils (8.24+) and BusyBox alike.
/// `$1` = folder, `$2` = size. A symbolic link at `.env` or on its way is refused (exit 65,
/// naming it): a service that can write into the app folder could point it anywhere.
pub const WRITE_SCRIPT: &str = crate::scripts::script!("env-write.sh");

/// `sh -c '<WRITE_SCRIPT>' sh <dir> <size>`, to run in the container (`pct exec`): the
/// content goes over stdin, never on a command line.
pub fn write_argv(dir: &str, size: usize) -> Vec<String> {
    ["sh", "-c", WRITE_SCRIPT, "sh", dir, &size.to_string()]
        .map(String::from)
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn remote_commands() {
        let w = write_argv("/opt/my app", 123);
        assert_eq!(w, ["sh", "-c", WRITE_SCRIPT, "sh", "/opt/my app", "123"]);
        assert!(WRITE_SCRIPT.starts_with("umask 077; "), "{WRITE_SCRIPT}");
    }

    fn run_write(target: &Path, path: &str, content: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .args(["-c", WRITE_SCRIPT, "sh"])
            .arg(target)
            .arg(content.len().to_string())
            .env("PATH", path)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A script that refuses to start reads nothing: a broken pipe is its answer.
        let _ = child.stdin.take().unwrap().write_all(content);
        child.wait_with_output().unwrap()
    }

    /// Issue 22: `.env`, or its folder, linked out of the app folder is refused; nothing is
    /// written where the link points.
    #[test]
    fn write_script_never_writes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let path = std::env::var("PATH").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(".env")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("app")).unwrap();
        for target in [dir.path().to_path_buf(), dir.path().join("app")] {
            let out = run_write(&target, &path, b"A=1");
            assert_eq!(out.status.code(), Some(65), "{out:?}");
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(said.contains("is a symbolic link"), "{said}");
            assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        }
    }

    /// The new `.env` reaches the disk before it replaces the old one, and the rename
    /// after it (a power cut must not leave an empty `.env` and lose the secrets).
    #[test]
    fn write_script_flushes_the_file_before_the_rename_and_the_folder_after() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "A=old").unwrap();
        let shim = crate::test_support::sync_shim(Path::new(".env"));
        let out = run_write(dir.path(), &shim.path, b"A=new");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = shim.log();
        let calls: Vec<&str> = log.lines().collect();
        assert_eq!(calls.len(), 2, "{log}");
        assert!(
            calls[0].starts_with("-- .env.tmp.") && calls[0].ends_with("| A=old"),
            "{log}"
        );
        assert_eq!(calls[1], "-- . | A=new", "{log}");
    }

    /// The same script with BusyBox's `sync` (a minimal container) works.
    #[test]
    fn write_script_works_with_busybox_sync() {
        let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            panic!("busybox is needed for this test (apt-get install busybox-static)");
        };
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(busybox, bin.path().join("sync")).unwrap();
        let path = crate::test_support::path_with(bin.path());
        let dir = tempfile::tempdir().unwrap();
        let out = run_write(dir.path(), &path, b"A=1\n");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".env")).unwrap(),
            "A=1\n"
        );
    }

    /// The write script, run by a real shell: the new file replaces the old one with mode
    /// 0600; a short upload (a dropped connection) leaves the old one.
    #[test]
    fn write_script_is_atomic_and_private() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub dir");
        let run = |content: &[u8], size: usize| {
            let mut child = std::process::Command::new("sh")
                .args(["-c", WRITE_SCRIPT, "sh"])
                .arg(&target)
                .arg(size.to_string())
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(content).unwrap();
            child.wait_with_output().unwrap()
        };
        let out = run(b"A=1\n", 4);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = target.join(".env");
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "A=1\n");
        assert_eq!(
            std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let out = run(b"A=2\nB=", 10);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("received 6 of 10 bytes"));
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "A=1\n");
        let leftovers: Vec<_> = std::fs::read_dir(&target).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }
}
