//! The health verdicts of a deploy: Compose 2.20's JSON array, an unhealthy and a
//! crash-looping service (exit 6), a `ps` slower than the deadline, and the verdict taken from
//! Docker's health events rather than the next poll.

use super::*;

/// Compose 2.20.3 (`ps` prints one JSON array): green deploy; an unhealthy service fails
/// with exit 6 at the timeout naming it with its log lines; a crash-looping one fails at once.
#[test]
fn compose_2_20_unhealthy_and_crashing_services_exit_6() {
    let (sim, app) = sim_and_app("2.20.3");
    let a = app.path();
    let vmid = unique_vmid(3);
    // The verdict's timing is measured from the last `up`: no automatic rollback (and its
    // own `up`) after it here; tests/releases.rs covers `on_failure = "rollback"`.
    let secrets = &format!("{}[deploy]\non_failure = \"keep\"\n", secrets_only(vmid));
    sim.write_config(a, secrets);
    create(a);
    let green = deploy(a, &["-o", "json"]);
    green.assert_success();
    let doc = green.json();
    assert_all_healthy(&doc);
    assert_eq!(doc["compose_version"], "2.20.3", "{doc:#}");

    // Adds `service` to the compose file, deploys with `health`, expects exit 6 naming the
    // service with its log line; returns how long after `up` the verdict came.
    let compose = std::fs::read_to_string(a.join("docker-compose.yml")).unwrap();
    let failing = |service: &str, health: &str, name: &str, log_line: &str| -> (f64, Run) {
        write(
            a.join("docker-compose.yml"),
            &format!("{compose}\n{service}"),
        );
        sim.write_config(a, &format!("{secrets}[health]\n{health}"));
        let run = deploy(a, &[]);
        let ended = now_secs();
        run.assert_code(6);
        run.assert_stderr_contains(name);
        run.assert_stderr_contains(log_line);
        (ended - last_up_end(&sim), run)
    };

    // Unhealthy for good: exit 6 once the timeout is over (not before), naming it with logs.
    let (timeout, interval) = (8u32, 2u32);
    let (waited, sick) = failing(
        r#"  sick:
    image: base:local
    pull_policy: never
    network_mode: none
    stop_grace_period: 1s
    command: ["sh", "-c", "echo sick: first line; echo sick: second line; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      timeout: 1s
      retries: 1
"#,
        &format!("timeout_secs = {timeout}\ninterval_secs = {interval}\n"),
        "sick",
        "sick: second line",
    );
    let (t, i) = (f64::from(timeout), f64::from(interval));
    assert!(
        waited >= t - 1.0 && waited <= t + 2.0 * i,
        "the verdict came {waited:.1}s after `up` (timeout {timeout}s, interval {interval}s)\n{}",
        sick.dump()
    );

    // Crash-looping (exit 1, restart policy, no healthcheck): exit 6 long before the timeout.
    let (waited, crash) = failing(
        r#"  crash:
    image: base:local
    pull_policy: never
    network_mode: none
    restart: unless-stopped
    command: ["sh", "-c", "echo crash: giving up; exit 1"]
"#,
        "timeout_secs = 120\ninterval_secs = 1\n",
        "crash",
        "crash: giving up",
    );
    assert!(
        waited < 30.0,
        "a crashing service was reported {waited:.1}s after `up` (timeout 120s)\n{}",
        crash.dump()
    );
}

/// A `docker compose ps` that outlives the health deadline (a slow or overloaded host) is
/// the timeout's verdict, exit 6 with the services' table, not exit 5 "timed out".
#[test]
fn a_health_poll_slower_than_the_deadline_is_the_timeout_verdict() {
    let ct = Deployed::new(19, secrets_only);
    // From now on every `docker … ps …` in the container takes 6 s.
    let slow = r#"d=$(command -v docker) && mv "$d" "$d.real" &&
printf '#!/bin/sh\ncase " $* " in *" ps "*) sleep 6 ;; esac\nexec %s.real "$@"\n' "$d" > "$d" && chmod 755 "$d""#;
    ct.in_ct(&["sh", "-c", slow]).assert_success();
    ct.sim.write_config(
        ct.app(),
        &format!(
            "{}[health]\ntimeout_secs = 3\ninterval_secs = 1\n",
            secrets_only(ct.vmid)
        ),
    );
    let run = pxdeploy()
        .current_dir(ct.app())
        .args(["deploy", "--force"])
        .run();
    let restore = r#"d=$(command -v docker) && mv "$d.real" "$d""#;
    ct.in_ct(&["sh", "-c", restore]).assert_success();
    run.assert_code(6)
        .assert_stderr_contains("not healthy after 3s")
        .assert_stderr_contains("timed out");
}

/// The health verdict comes as soon as the last service turns healthy (Docker's events), not
/// at the next poll: with `interval_secs = 200` and a service that turns healthy ~4 s after
/// it starts (so the first poll, right after `up`, finds it starting), the deploy ends long
/// before a second poll could run, with the same service lines as before. And it needs no
/// new `docker compose ps` once Docker said "healthy": the last listing ended before the
/// service was ready.
#[test]
fn the_verdict_comes_when_the_last_service_turns_healthy_not_at_the_next_poll() {
    let sim = shared_node();
    let vmid = unique_vmid(20);
    let app = tempfile::tempdir().unwrap();
    write(
        app.path().join("docker-compose.yml"),
        r#"services:
  slow:
    image: base:local
    pull_policy: never
    network_mode: none
    stop_grace_period: 1s
    command: ["sh", "-c", "sleep 4; date +%s > /tmp/ready; exec sleep 100000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 1s
      retries: 3
"#,
    );
    sim.write_config(
        app.path(),
        &format!("[container]\nvmid = {vmid}\n[health]\ntimeout_secs = 400\ninterval_secs = 200\n"),
    );
    create(app.path());
    let run = deploy(app.path(), &[]);
    let ended = now_secs();
    let ready = sim.host_run(&[
        "pct",
        "exec",
        &vmid.to_string(),
        "--",
        "sh",
        "-c",
        "docker exec $(docker ps -q --filter label=com.docker.compose.service=slow) cat /tmp/ready",
    ]);
    let _ = sim.host_run(&["pct", "stop", &vmid.to_string()]);
    run.assert_success()
        .assert_stderr_contains("service slow: starting")
        .assert_stderr_contains("service slow: healthy");
    let ready: f64 = ready
        .stdout
        .trim()
        .parse()
        .expect("the time the service was ready");
    let calls = sim.calls_of(vmid);
    // When the last `docker compose <word>` call ended.
    let last_end = |word: &str| {
        calls
            .iter()
            .filter(|c| c.argv.iter().any(|a| a == "compose") && c.argv.iter().any(|a| a == word))
            .map(|c| c.time)
            .next_back()
            .unwrap_or_else(|| panic!("a `docker compose {word}` call"))
    };
    let last_ps = last_end("ps");
    assert!(
        last_ps < ready,
        "a `docker compose ps` ended at {last_ps:.1}, after the service was ready ({ready}): the verdict waited for a new listing instead of taking Docker's health event\n{}",
        run.dump()
    );
    let waited = ended - last_end("up");
    assert!(
        waited < 100.0,
        "the verdict came {waited:.1}s after `up`: at the next poll (interval 200s), not when the service turned healthy\n{}",
        run.dump()
    );
}
