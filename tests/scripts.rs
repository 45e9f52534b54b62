//! The README's test command does what the README says: `scripts/test` installs what the
//! tests need, then runs fmt, clippy and the whole suite; `scripts/test --fast` runs the unit
//! tests and the listed tests that need no node. Run with a `cargo` and `rustup` that only
//! record their arguments, so the order and the flags are what is checked.

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
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\n[ \"$1\" = test ] && echo \"threads ${{RUST_TEST_THREADS:-unset}}\" >> '{}.threads'\n[ \"$1 $2\" = 'component list' ] && printf 'rustfmt\\nclippy\\n'\ncase \" $* \" in *' --list '*) for a; do case $a in *::*) echo \"$a: test\";; esac; done;; esac\nexit 0\n",
                log.display(),
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
    cmd.env("PATH", path)
        .env_remove("RUST_TEST_THREADS")
        .current_dir(root);
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
    // Three tests at a time unless the caller says otherwise (docs/testing.md).
    let threads = stubs.path().join("calls.log.threads");
    assert_eq!(std::fs::read_to_string(&threads).unwrap(), "threads 3\n");

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

    // --fast: the unit tests, then the listed integration tests by their exact names (checked
    // to exist first); nothing installed, no lint, never the whole suite.
    std::fs::write(&log, "").unwrap();
    let mut cmd = Command::new(format!("{root}/scripts/test"));
    let path = format!(
        "{}:{}",
        stubs.path().display(),
        std::env::var("PATH").unwrap()
    );
    cmd.env("PATH", path).current_dir(root).arg("--fast");
    let r = run_bounded(
        cmd,
        "scripts/test --fast".into(),
        None,
        Duration::from_secs(300),
    );
    r.assert_code(0);
    assert!(
        !r.stdout.contains("install-test-deps"),
        "--fast installs nothing\n{}",
        r.dump()
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let cargo: Vec<&str> = calls.lines().filter(|l| l.starts_with("cargo ")).collect();
    assert_eq!(cargo.len(), 4, "{calls}");
    assert_eq!(cargo[0], "cargo test --locked --lib");
    assert_eq!(cargo[1], "cargo test --locked --test integration --no-run");
    let names = "init::the_committed_schema_is_what_pxdeploy_schema_prints";
    assert!(
        cargo[2].starts_with("cargo test --quiet --locked --test integration -- --list --exact ")
            && cargo[2].contains(names),
        "{calls}"
    );
    assert!(
        cargo[3].starts_with("cargo test --locked --test integration -- --exact ")
            && cargo[3].contains(names)
            && !cargo[3].contains("sim::"),
        "{calls}"
    );
}
