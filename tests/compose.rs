//! Compose shapes beyond the example app (issue 15), end to end on the simulated node:
//! one-shot services, profiles, replicas, several compose files.

use std::path::Path;
use std::time::Duration;

use crate::support::{pxdeploy, Run, SimHost};

/// A vmid of this test process alone (the deploy lock lives in the host's shared /run/lock).
fn unique_vmid(test: u32) -> u32 {
    100_000 + (std::process::id() % 100_000) * 10 + 5 + test
}

fn write(path: impl AsRef<Path>, text: &str) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn run(app: &Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(app)
        .args(args)
        .timeout(Duration::from_secs(240))
        .run()
}

/// (service, state, health) of a JSON document's `services`.
fn services(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    doc["services"]
        .as_array()
        .unwrap_or_else(|| panic!("no services in {doc}"))
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (f("service"), f("state"), f("health"))
        })
        .collect()
}

fn up_count(sim: &SimHost) -> usize {
    sim.calls()
        .iter()
        .filter(|c| c.argv.iter().any(|a| a == "compose") && c.argv.iter().any(|a| a == "up"))
        .count()
}

const ONE_SHOT: &str = r#"services:
  migrate:
    image: base:local
    pull_policy: never
    network_mode: none
    restart: "no"
    command: ["sh", "-c", "echo applied 3 migrations; exit 0"]
  backend:
    image: base:local
    pull_policy: never
    network_mode: none
    restart: unless-stopped
    stop_grace_period: 1s
    command: ["sh", "-c", "touch /tmp/ok; exec sleep 100000"]
    depends_on:
      migrate: {condition: service_completed_successfully}
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 1s
      timeout: 1s
      retries: 3
"#;

/// A migration job that exits 0 (`restart: "no"`, adopted with
/// `service_completed_successfully`) is `completed`: deploy exits 0, `status` and `start`
/// show it completed; the redeploy skips `up`. A `container_name` taken by a container
/// outside the project stops the deploy before `up` (exit 5). A job that exits 1 still fails at once with
/// its log line, and a long-running service (`restart: always`) that exits 0 still fails
/// (however its polls land between restarts), while one restarted once that then stays up
/// passes.
#[test]
fn one_shot_migration_completes_and_does_not_fail_the_deploy() {
    let sim = SimHost::builder().template_cached(true).start();
    let app = tempfile::tempdir().unwrap();
    let a = app.path();
    let vmid = unique_vmid(1);
    write(a.join("docker-compose.yml"), ONE_SHOT);
    sim.write_config(a, &format!("[container]\nvmid = {vmid}\n"));
    run(a, &["create"]).assert_success();

    let first = run(a, &["-o", "json", "deploy"]);
    first.assert_success();
    let got = services(&first.json());
    assert!(
        got.contains(&("migrate".into(), "completed".into(), "none".into())),
        "{}",
        first.dump()
    );
    assert!(
        got.contains(&("backend".into(), "running".into(), "healthy".into())),
        "{}",
        first.dump()
    );

    let status = run(a, &["status"]);
    status.assert_success();
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.starts_with("migrate") && l.contains("completed")),
        "{}",
        status.dump()
    );

    let ups = up_count(&sim);
    let again = run(a, &["deploy"]);
    again.assert_success();
    assert_eq!(
        up_count(&sim),
        ups,
        "unchanged redeploy ran `up`\n{}",
        again.dump()
    );
    assert!(again.stderr.contains("skipped"), "{}", again.dump());

    // `restart` of the container: the job stays completed, the wait passes.
    run(a, &["restart"]).assert_success();

    // A container_name already used by a container outside the project: exit 5 naming it
    // and the fix, before `up` touches anything.
    let v = vmid.to_string();
    let ct = |argv: &[&str]| {
        let mut all = vec!["pct", "exec", v.as_str(), "--"];
        all.extend_from_slice(argv);
        sim.host_run(&all)
    };
    let ids = |r: Run| {
        r.stdout
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let before = ids(ct(&[
        "docker",
        "ps",
        "-aq",
        "--filter",
        "label=com.docker.compose.project=app",
    ]));
    ct(&[
        "docker",
        "run",
        "-d",
        "--name",
        "exporter",
        "--network",
        "none",
        "base:local",
        "sleep",
        "100000",
    ])
    .assert_success();
    write(
        a.join("docker-compose.yml"),
        &format!(
            "{ONE_SHOT}  exporter:\n    image: base:local\n    pull_policy: never\n    network_mode: none\n    container_name: exporter\n    command: [\"sleep\", \"100000\"]\n"
        ),
    );
    let ups = up_count(&sim);
    let taken = run(a, &["deploy"]);
    taken.assert_code(5);
    taken.assert_stderr_contains("\"exporter\"");
    taken.assert_stderr_contains("docker rm -f exporter");
    assert_eq!(up_count(&sim), ups, "`up` ran\n{}", taken.dump());
    let after = ids(ct(&[
        "docker",
        "ps",
        "-aq",
        "--filter",
        "label=com.docker.compose.project=app",
    ]));
    assert_eq!(before, after, "containers of the app changed");
    ct(&["docker", "rm", "-f", "exporter"]).assert_success();

    // A failing job: exit 6 at once, naming it with its log line.
    write(
        a.join("docker-compose.yml"),
        &ONE_SHOT.replace(
            "echo applied 3 migrations; exit 0",
            "echo migration 4 failed: no such table; exit 1",
        ),
    );
    let failed = run(a, &["deploy"]);
    failed.assert_code(6);
    failed.assert_stderr_contains("migrate");
    failed.assert_stderr_contains("migration 4 failed: no such table");

    // A long-running service (no dependents, restart always) that exits 0: fails.
    write(
        a.join("docker-compose.yml"),
        r#"services:
  server:
    image: base:local
    pull_policy: never
    network_mode: none
    restart: always
    command: ["sh", "-c", "echo server: nothing to do; exit 0"]
"#,
    );
    let stopped = run(a, &["deploy"]);
    stopped.assert_code(6);
    stopped.assert_stderr_contains("server");
    // The automatic rollback goes back to the first release (one-shot `migrate`, exited 0)
    // and judges it by that release's compose file, not today's (`server` only).
    stopped.assert_stderr_contains("rolled back: release `");
    stopped.assert_stderr_contains("is running now and healthy");
    assert!(
        !stopped.stderr.contains("not healthy either"),
        "{}",
        stopped.dump()
    );

    // One that exits 1 once (its database is not up yet), is restarted, then stays up:
    // ready, though `restart: always` gave both runs the same container id.
    write(
        a.join("docker-compose.yml"),
        r#"services:
  server:
    image: base:local
    pull_policy: never
    network_mode: none
    restart: always
    stop_grace_period: 1s
    command: ["sh", "-c", "[ -e /tmp/tried ] || { touch /tmp/tried; echo server: no database yet; exit 1; }; exec sleep 100000"]
"#,
    );
    let once = run(a, &["deploy"]);
    once.assert_success();
    once.assert_stderr_contains("all healthy");
    let restarts = ct(&[
        "docker",
        "inspect",
        "-f",
        "{{.RestartCount}}",
        "app-server-1",
    ]);
    assert_eq!(restarts.stdout.trim(), "1", "{}", once.dump());
}
