//! `[hooks]` (local commands around a deploy and a rollback) and `app.release_command` (a
//! one-off command in a service before `up`).

use super::session;
use crate::support::example_app;

/// The example app's configuration: its two secrets and `DOMAIN`.
fn config(domain: &str) -> String {
    format!("[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 32\n[env.values]\nDOMAIN = \"{domain}\"\n")
}

/// A failing `pre_deploy` changes nothing (no push, no `.env` write, no `up`; exit 5 with
/// its output); a failing `post_deploy` runs after the deploy, sees the `PXDEPLOY_*`
/// variables, and makes the exit code 5 while the new release runs.
#[test]
fn hooks_run_around_a_deploy() {
    let s = session(2, example_app());
    let hooks = |domain: &str, hooks: &str| format!("{}[hooks]\n{hooks}", config(domain));
    s.config(&hooks("one.lan", ""))
        .create()
        .deploy()
        .expect_ok();
    let env_before = s.env_file();
    let releases = || s.sh("ls /opt/app/.pxdeploy/releases");
    let releases_before = releases();

    s.config(&hooks(
        "two.lan",
        "pre_deploy = \"echo 'lint: 2 problems'; exit 1\"\n",
    ))
    .change("NEW_FILE.txt", "new\n");
    s.deploy()
        .expect_exit(5)
        .expect_says("the pre_deploy hook exited with status 1")
        .expect_says("lint: 2 problems")
        .expect_no_call_with(&["tar", " up", ".env"]);
    assert_eq!(s.env_file(), env_before, ".env changed");
    assert_eq!(releases(), releases_before, "a release was staged");
    assert!(
        !s.has("/opt/app/NEW_FILE.txt"),
        "a refused deploy pushed a file"
    );

    s.config(&hooks(
        "two.lan",
        "pre_deploy = \"test -f docker-compose.yml\"\npost_deploy = \"env | grep ^PXDEPLOY_ | sort > hook.out; grep -q two.lan /dev/null || exit 4\"\n",
    ));
    s.deploy_json()
        .expect_exit(5)
        .expect_says("the post_deploy hook exited with status 4");
    assert!(
        s.env_file().contains("DOMAIN=two.lan"),
        "the deploy did not happen"
    );
    let seen = std::fs::read_to_string(s.path().join("hook.out")).unwrap();
    for line in [
        format!("PXDEPLOY_VMID={}", s.vmid()),
        "PXDEPLOY_COMMAND=deploy".to_string(),
        "PXDEPLOY_TARGET=default".to_string(),
    ] {
        assert!(seen.lines().any(|l| l == line), "{line} not in {seen}");
    }
    assert!(
        seen.contains("PXDEPLOY_HOST=")
            && seen.lines().any(|l| l
                .strip_prefix("PXDEPLOY_RELEASE=")
                .is_some_and(|id| id.len() == 25)),
        "{seen}"
    );

    // Plain `rollback` (not only `rollback --snapshot`) runs post_rollback, with the release
    // it went back to.
    let first = releases_before
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    s.config(&hooks(
        "two.lan",
        "post_rollback = \"env | grep ^PXDEPLOY_ | sort > rollback.out\"\n",
    ));
    let back = s.run(&["rollback", &first]).expect_ok();
    let seen = std::fs::read_to_string(s.path().join("rollback.out"))
        .unwrap_or_else(|_| panic!("post_rollback did not run: {}", back.run().dump()));
    for line in [
        "PXDEPLOY_COMMAND=rollback".to_string(),
        format!("PXDEPLOY_RELEASE={first}"),
    ] {
        assert!(seen.lines().any(|l| l == line), "{line} not in {seen}");
    }
}

/// A failing release command: no `up`, the running containers are the same ones (same
/// ids), exit 5 with its output. A working one runs after the build and before `up`.
#[test]
fn the_release_command_runs_before_up_and_a_failure_keeps_the_running_release() {
    let s = session(3, example_app());
    // A dotted key, first: [app] itself comes from the node's test configuration.
    let with = |domain: &str, command: &str| format!("{command}{}", config(domain));
    s.config(&with("one.lan", "")).create().deploy().expect_ok();
    let ids = s.service_ids();
    assert!(!ids.trim().is_empty());

    let failing = "app.release_command = { service = \"api\", command = \"sh -c 'echo migrating 0042; echo relation missing >&2; exit 3'\" }\n";
    s.config(&with("two.lan", failing))
        .change("NEW_FILE.txt", "new\n");
    s.deploy()
        .expect_exit(5)
        .expect_says("the release command")
        .expect_says("migrating 0042")
        .expect_says("relation missing")
        .expect_no_call_with(&[" up "])
        // The tree is the running release's again: its .env and files, not the new ones.
        .expect_says("the services still run release");
    assert_eq!(s.service_ids(), ids, "the running containers were replaced");
    assert!(
        s.env_file().contains("DOMAIN=one.lan"),
        "the new .env was left in place"
    );
    assert!(
        !s.has("/opt/app/NEW_FILE.txt"),
        "the new release's files were left in place"
    );

    let working =
        "app.release_command = { service = \"api\", command = \"sh -c 'echo migrated'\" }\n";
    let after = s
        .config(&with("two.lan", working))
        .deploy()
        .expect_ok()
        .call_lines();
    let at = |word: &str| after.iter().position(|l| l.contains(word));
    let (build, run, up) = (at(" build"), at(" run --rm -T api"), at(" up "));
    assert!(build.is_some() && build < run && run < up, "{after:#?}");
}
