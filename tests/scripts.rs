//! The README's test command does what the README says: `scripts/test` installs what the
//! tests need, then runs fmt, clippy and the whole suite. Run with a `cargo` and `rustup`
//! that only record their arguments, so the order and the flags are what is checked.

use std::process::Command;
use std::time::Duration;

use crate::support::run_bounded;

#[test]
fn scripts_test_installs_then_runs_fmt_clippy_and_the_suite() {
    let root = env!("CARGO_MANIFEST_DIR");
    let stubs = tempfile::tempdir().unwrap();
    let log = stubs.path().join("calls.log");
    for tool in ["cargo", "rustup"] {
        let path = stubs.path().join(tool);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\n[ \"$1 $2\" = 'component list' ] && printf 'rustfmt\\nclippy\\n'\nexit 0\n",
                log.display()
            ),
        )
        .unwrap();
        let mut perm = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&path, perm).unwrap();
    }
    let mut cmd = Command::new(format!("{root}/scripts/test"));
    let path = format!(
        "{}:{}",
        stubs.path().display(),
        std::env::var("PATH").unwrap()
    );
    cmd.env("PATH", path).current_dir(root);
    let r = run_bounded(cmd, "scripts/test".into(), None, Duration::from_secs(300));
    r.assert_code(0)
        .assert_stdout_contains("install-test-deps")
        .assert_stdout_contains("install test dependencies");
    let calls = std::fs::read_to_string(&log).unwrap();
    let cargo: Vec<&str> = calls.lines().filter(|l| l.starts_with("cargo ")).collect();
    assert_eq!(
        cargo,
        [
            "cargo fmt --all --check",
            "cargo clippy --locked --all-targets -- -D warnings",
            "cargo test --locked",
        ],
        "scripts/test runs fmt, clippy and the whole suite, in that order"
    );

    // With arguments: only those tests, after the install.
    std::fs::write(&log, "").unwrap();
    let mut cmd = Command::new(format!("{root}/scripts/test"));
    let path = format!(
        "{}:{}",
        stubs.path().display(),
        std::env::var("PATH").unwrap()
    );
    cmd.env("PATH", path).current_dir(root).arg("harness");
    run_bounded(
        cmd,
        "scripts/test harness".into(),
        None,
        Duration::from_secs(300),
    )
    .assert_code(0);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.trim(), "cargo test --locked harness");
}
