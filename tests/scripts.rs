//! The README's test command does what the README says: `scripts/test` installs what the
//! tests need, then runs fmt, clippy and the whole suite; `scripts/test --fast` runs the unit
//! tests and the listed tests that need no node. Run with a `cargo` and `rustup` that only
//! record their arguments, so the order and the flags are what is checked.

use std::process::Command;
use std::time::Duration;

use crate::support::run_bounded;

/// A `cargo`, a `rustup` and three test executables in `dir` that record their arguments in
/// `dir/calls.log`. The stub cargo's `--no-run --message-format=json…` names the test
/// executables as cargo does; `--list` answers every `a::b` name as a test.
fn stubs(dir: &std::path::Path) -> std::path::PathBuf {
    let log = dir.join("calls.log");
    let record = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{log}'\n{body}\nexit 0\n",
                log = log.display()
            ),
        )
        .unwrap();
        let mut perm = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&path, perm).unwrap();
    };
    let list = "case \" $* \" in *' --list '*) for a; do case $a in *::*) echo \"$a: test\";; esac; done;; esac";
    let threads = format!(
        "echo \"threads ${{RUST_TEST_THREADS:-unset}}\" >> '{}.threads'",
        log.display()
    );
    let mut artifacts = String::new();
    for (kind, name, exe) in [
        ("lib", "pxdeploy", "unit-lib"),
        ("bin", "pxdeploy", "unit-bin"),
        ("test", "integration", "integration"),
    ] {
        artifacts += &format!(
            r#"echo '{{"reason":"compiler-artifact","target":{{"kind":["{kind}"],"name":"{name}"}},"profile":{{"test":true}},"executable":"{}"}}'
"#,
            dir.join(exe).display()
        );
    }
    record(
        "cargo",
        &format!(
            "[ \"$1\" = test ] && {threads}\n[ \"$1 $2\" = 'component list' ] && printf 'rustfmt\\nclippy\\n'\ncase \" $* \" in *' --message-format='*) {artifacts};; esac\n{list}"
        ),
    );
    record("rustup", "");
    record("unit-lib", "");
    record("unit-bin", "");
    record("integration", &format!("{threads}\n{list}"));
    log
}

#[test]
fn scripts_test_installs_then_runs_fmt_clippy_and_the_suite() {
    let root = env!("CARGO_MANIFEST_DIR");
    let stubs_dir = tempfile::tempdir().unwrap();
    let log = stubs(stubs_dir.path());
    let mut cmd = Command::new(format!("{root}/scripts/test"));
    let path = format!(
        "{}:{}",
        stubs_dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    cmd.env("PATH", &path)
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
            "cargo test --locked --no-run --message-format=json-render-diagnostics",
            "cargo clippy --locked --all-targets -- -D warnings",
            "cargo test --locked --doc",
        ],
        "scripts/test runs fmt, builds the tests, clippy beside them and the doc tests last\n{calls}"
    );
    // Every test executable cargo named runs: the unit tests whole, the integration tests in
    // two lanes that together leave none out (each long one alone, the rest skipping them).
    let exe = |name: &str| -> Vec<&str> {
        calls
            .lines()
            .filter(|l| l.split(' ').next() == Some(name))
            .collect()
    };
    assert_eq!(exe("unit-lib"), ["unit-lib "], "{calls}");
    assert_eq!(exe("unit-bin"), ["unit-bin "], "{calls}");
    let integration = exe("integration");
    let long: Vec<&str> = integration
        .iter()
        .filter(|l| !l.contains("--list") && !l.contains("--skip"))
        .map(|l| l.trim_start_matches("integration --exact "))
        .collect();
    assert!(long.contains(&"sim::simulator_self_test_passes"), "{calls}");
    let rest: Vec<&&str> = integration
        .iter()
        .filter(|l| l.contains("--skip"))
        .collect();
    assert_eq!(rest.len(), 1, "{calls}");
    for name in &long {
        assert!(!name.contains(' '), "one long test per run: {name}");
        assert!(rest[0].contains(&format!("--skip {name}")), "{calls}");
    }
    assert!(rest[0].starts_with("integration --exact --skip"), "{calls}");
    // The rest three at a time unless the caller says otherwise (docs/testing.md).
    let threads = std::fs::read_to_string(stubs_dir.path().join("calls.log.threads")).unwrap();
    assert!(threads.lines().all(|l| l == "threads 3"), "{threads}");

    // With arguments: only those tests, after the install.
    std::fs::write(&log, "").unwrap();
    let mut cmd = Command::new(format!("{root}/scripts/test"));
    let path = format!(
        "{}:{}",
        stubs_dir.path().display(),
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
        stubs_dir.path().display(),
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
