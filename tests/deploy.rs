//! `pxdeploy deploy` end to end (issue 4): the example app against the simulated Proxmox
//! node — real sshd, real dockerd and Compose inside the container. Each test is one
//! simulated host and several deploys (a create costs ~5 s, a deploy ~10 s).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{pxdeploy, repo_root, Run, SimHost};

/// Inside a service: its DOMAIN, as Compose set it (busybox has no `printenv`).
const PRINT_DOMAIN: &str = r#"printf '%s\n' "$DOMAIN""#;

/// A vmid of this test process alone (`test` tells the tests of one process apart).
pub(crate) fn unique_vmid(test: u32) -> u32 {
    100_000 + (std::process::id() % 100_000) * 10 + test
}

/// A copy of `examples/app` in a temporary folder (the test's app and config folder).
fn example_app() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pxdeploy-app-")
        .tempdir()
        .unwrap();
    copy_dir(&repo_root().join("examples/app"), dir.path());
    dir
}

/// A simulated node (template cached) with Compose `compose_version`, and a copy of the
/// example app.
pub(crate) fn sim_and_app(compose_version: &str) -> (SimHost, tempfile::TempDir) {
    let sim = SimHost::builder()
        .compose_version(compose_version)
        .template_cached(true)
        .start();
    (sim, example_app())
}

fn copy_dir(from: &Path, to: &Path) {
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

fn write(path: impl AsRef<Path>, text: &str) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `pct exec <vmid> -- argv…` on the simulated node (no SSH connection).
#[track_caller]
fn in_ct(sim: &SimHost, vmid: u32, argv: &[&str]) -> Run {
    let vmid = vmid.to_string();
    let mut all = vec!["pct", "exec", vmid.as_str(), "--"];
    all.extend_from_slice(argv);
    sim.host_run(&all)
}

#[track_caller]
fn read_env_bytes(sim: &SimHost, vmid: u32) -> Vec<u8> {
    let r = in_ct(sim, vmid, &["od", "-An", "-tx1", "/opt/app/.env"]);
    r.assert_success();
    r.stdout.into_bytes()
}

#[track_caller]
fn read_env(sim: &SimHost, vmid: u32) -> String {
    let r = in_ct(sim, vmid, &["cat", "/opt/app/.env"]);
    r.assert_success();
    r.stdout
}

/// The whole `KEY=…` line of `key` in a `.env` text.
fn env_line<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("{key}=");
    text.lines().find(|l| l.starts_with(&prefix))
}

/// The value of a generated secret (written bare: letters and digits).
#[track_caller]
fn secret(text: &str, key: &str) -> String {
    let line = env_line(text, key).unwrap_or_else(|| panic!("{key} missing from .env"));
    let v = &line[key.len() + 1..];
    assert!(
        !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()),
        "{key} is not a bare alphanumeric secret"
    );
    v.to_string()
}

/// A TOML string literal for `s`.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[track_caller]
pub(crate) fn create(app: &Path) {
    pxdeploy()
        .current_dir(app)
        .arg("create")
        .run()
        .assert_success();
}

/// `deploy` with extra global flags.
pub(crate) fn deploy(app: &Path, flags: &[&str]) -> Run {
    pxdeploy()
        .current_dir(app)
        .args(flags)
        .arg("deploy")
        .timeout(Duration::from_secs(180))
        .run()
}

/// The services of a JSON document, as (name, state, health).
fn services(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    doc["services"]
        .as_array()
        .unwrap_or_else(|| panic!("no services in {doc}"))
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap_or_default().to_string(),
                s["state"].as_str().unwrap_or_default().to_string(),
                s["health"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[track_caller]
fn assert_all_healthy(doc: &serde_json::Value) {
    let got = services(doc);
    let mut names: Vec<&str> = got.iter().map(|s| s.0.as_str()).collect();
    names.sort();
    assert_eq!(names, ["api", "cache", "db", "web"], "{doc:#}");
    for (name, state, health) in &got {
        assert_eq!(
            (state.as_str(), health.as_str()),
            ("running", "healthy"),
            "{name}: {doc:#}"
        );
    }
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn assert_no_secret(run: &Run, secrets: &[String]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s.as_str()) && !run.stderr.contains(s.as_str()),
            "a secret value appears in the output of `{}` (exit {})",
            run.what,
            run.status
        );
    }
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// When the last `docker compose … up` call ended (calls.log time), in seconds.
#[track_caller]
fn last_up_end(sim: &SimHost) -> f64 {
    sim.calls()
        .into_iter()
        .filter(|c| c.argv.iter().any(|a| a == "compose") && c.argv.iter().any(|a| a == "up"))
        .map(|c| c.time)
        .next_back()
        .expect("a `docker compose up` call")
}

/// Green deploy of the example app (Compose 2.40.3, NDJSON `ps`), `--dry-run`, the push's
/// ignore rules, values that need quoting, keep-and-fill of `.env` on redeploys, no secret
/// in any output, `logs` and `status`.
#[test]
fn deploy_example_app_then_redeploy_keeps_and_fills_env() {
    let (sim, app) = sim_and_app("2.40.3");
    let a = app.path();

    // What must not be pushed.
    write(a.join(".git/config"), "[core]\n");
    write(a.join(".git/HEAD"), "ref: refs/heads/main\n");
    write(a.join(".env"), "LOCAL_ONLY=from-the-laptop\n");
    write(a.join("api/.env"), "LOCAL_ONLY=nested\n");
    write(a.join("debug.log"), "ignored by *.log\n");
    write(a.join("tmp/cache.bin"), "ignored by tmp/\n");
    write(a.join("extra/keep.txt"), "pushed\n");

    // A value that must reach the container verbatim and run nothing, anywhere.
    let pid = std::process::id();
    let pwned_a = format!("/var/tmp/pxdeploy-test-pwned-{pid}-a");
    let pwned_b = format!("/var/tmp/pxdeploy-test-pwned-{pid}-b");
    let tricky =
        format!(r#"it's "quoted" $(touch {pwned_a}) `touch {pwned_b}` two  spaces $HOME ${{X}}"#);
    let vmid = unique_vmid(1);
    let base = |domain: &str, extra_secret: bool| {
        format!(
            "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 64\n{}\n[env.values]\nDOMAIN = {}\n",
            if extra_secret { "NEW_SECRET = 20" } else { "" },
            toml_str(domain)
        )
    };
    sim.write_config(a, &base(&tricky, false));
    create(a);

    // --dry-run: names the keys, changes nothing (no folder, no .env, no push, no up).
    let calls_before = sim.calls().len();
    let dry = deploy(a, &["--dry-run"]);
    dry.assert_success();
    let all = format!("{}{}", dry.stdout, dry.stderr);
    for key in ["POSTGRES_PASSWORD", "SECRET_KEY", "DOMAIN"] {
        assert!(
            all.contains(key),
            "dry run does not name {key}\n{}",
            dry.dump()
        );
    }
    for c in &sim.calls()[calls_before..] {
        let changes = c.argv.iter().any(|x| x == "up" || x == "tar")
            || c.argv
                .iter()
                .any(|x| x.contains("tar -x") || x.contains("mv -f"));
        assert!(!changes, "--dry-run ran {:?}", c.argv);
    }
    in_ct(&sim, vmid, &["test", "-e", "/opt/app"]).assert_code(1);

    // First deploy: green, one connection, JSON with the four services healthy.
    let conns = sim.connection_count();
    let first = deploy(a, &["-o", "json"]);
    first.assert_success();
    assert_eq!(
        sim.connection_count() - conns,
        1,
        "one deploy = one SSH connection\n{}",
        sim.sshd_log()
    );
    let doc = first.json();
    assert_all_healthy(&doc);
    assert_eq!(doc["compose_version"], "2.40.3", "{doc:#}");
    let mut generated = names(&doc["env"]["generated"]);
    generated.sort();
    assert_eq!(generated, ["POSTGRES_PASSWORD", "SECRET_KEY"], "{doc:#}");

    // .env: 0600, secrets of the configured length.
    let env1 = read_env(&sim, vmid);
    let mode = in_ct(&sim, vmid, &["stat", "-c", "%a", "/opt/app/.env"]);
    mode.assert_success();
    assert_eq!(mode.stdout.trim(), "600");
    let pg = secret(&env1, "POSTGRES_PASSWORD");
    let sk = secret(&env1, "SECRET_KEY");
    assert_eq!((pg.len(), sk.len()), (32, 64));
    assert!(!env1.contains("LOCAL_ONLY"), "the local .env was pushed");

    // What was pushed.
    let found = in_ct(&sim, vmid, &["find", "/opt/app"]);
    found.assert_success();
    for want in [
        "/opt/app/docker-compose.yml",
        "/opt/app/api/start.sh",
        "/opt/app/extra/keep.txt",
    ] {
        assert!(
            found.stdout.lines().any(|l| l == want),
            "{want} not pushed\n{}",
            found.stdout
        );
    }
    for never in [
        "/opt/app/.git",
        "/opt/app/debug.log",
        "/opt/app/tmp",
        "/opt/app/README.md",
        "/opt/app/api/.env",
    ] {
        assert!(
            !found
                .stdout
                .lines()
                .any(|l| l == never || l.starts_with(&format!("{never}/"))),
            "{never} was pushed\n{}",
            found.stdout
        );
    }

    // The tricky value, read back through Compose inside the running service.
    let compose = |args: &[&str]| {
        let mut argv = vec![
            "docker",
            "compose",
            "-p",
            "app",
            "-f",
            "/opt/app/docker-compose.yml",
        ];
        argv.extend_from_slice(args);
        in_ct(&sim, vmid, &argv)
    };
    let got = compose(&["exec", "-T", "api", "sh", "-c", PRINT_DOMAIN]);
    got.assert_success();
    assert_eq!(got.stdout, format!("{tricky}\n"), "{}", got.dump());
    let web = compose(&["exec", "-T", "web", "sh", "-c", PRINT_DOMAIN]);
    assert_eq!(web.stdout, format!("{tricky}\n"), "{}", web.dump());
    for p in [&pwned_a, &pwned_b] {
        assert!(!Path::new(p).exists(), "{p} exists: a value was executed");
        in_ct(&sim, vmid, &["test", "-e", p]).assert_code(1);
    }

    // A key added by hand inside the container.
    in_ct(
        &sim,
        vmid,
        &[
            "sh",
            "-c",
            "printf 'HAND_ADDED=by hand\\n' >> /opt/app/.env",
        ],
    )
    .assert_success();

    // Redeploy at -vvv: DOMAIN changed, a new secret, everything else kept byte for byte.
    sim.write_config(a, &base("changed.example.lan", true));
    let second = deploy(a, &["-vvv"]);
    second.assert_success();
    // The fingerprint of the deploy (derived from .env) is kept 0600 and never printed.
    let marker = in_ct(
        &sim,
        vmid,
        &["stat", "-c", "%a", "/opt/app/.pxdeploy-deployed"],
    );
    assert_eq!(marker.stdout.trim(), "600", "{}", marker.dump());
    let fingerprint = in_ct(&sim, vmid, &["cat", "/opt/app/.pxdeploy-deployed"]).stdout;
    let hash = fingerprint.trim().trim_start_matches("sha256:");
    assert_eq!(hash.len(), 64, "{fingerprint:?}");
    assert_no_secret(&second, &[hash.to_string()]);
    let env2 = read_env(&sim, vmid);
    for key in ["POSTGRES_PASSWORD", "SECRET_KEY"] {
        assert_eq!(env_line(&env2, key), env_line(&env1, key), "{key} changed");
    }
    assert_eq!(env_line(&env2, "HAND_ADDED"), Some("HAND_ADDED=by hand"));
    assert_eq!(
        env_line(&env2, "DOMAIN"),
        Some("DOMAIN=changed.example.lan")
    );
    let new_secret = secret(&env2, "NEW_SECRET");
    assert_eq!(new_secret.len(), 20);
    let mode = in_ct(&sim, vmid, &["stat", "-c", "%a", "/opt/app/.env"]);
    assert_eq!(mode.stdout.trim(), "600");
    let got = compose(&["exec", "-T", "api", "sh", "-c", PRINT_DOMAIN]);
    assert_eq!(got.stdout, "changed.example.lan\n", "{}", got.dump());

    // Warm redeploy with -o json: nothing to change, names only, and no `up` (nothing
    // changed and every service is healthy): the containers are the same ones.
    let ids = || compose(&["ps", "-aq"]).stdout;
    let ids_before = ids();
    let calls_before = sim.calls().len();
    let third = deploy(a, &["-o", "json"]);
    third.assert_success();
    let doc = third.json();
    assert_all_healthy(&doc);
    assert_eq!(doc["compose_up"], "skipped: nothing changed", "{doc:#}");
    let ups = |from: usize| {
        sim.calls()[from..]
            .iter()
            .filter(|c| c.argv.iter().any(|x| x == "up"))
            .count()
    };
    assert_eq!(ups(calls_before), 0, "an unchanged redeploy ran `up`");
    assert_eq!(
        ids(),
        ids_before,
        "an unchanged redeploy recreated containers"
    );
    let mut kept = names(&doc["env"]["kept"]);
    kept.sort();
    for key in ["DOMAIN", "NEW_SECRET", "POSTGRES_PASSWORD", "SECRET_KEY"] {
        assert!(kept.iter().any(|k| k == key), "{key} not kept: {doc:#}");
    }
    assert_eq!(
        read_env(&sim, vmid),
        env2,
        "an unchanged redeploy rewrote .env"
    );

    // The connection drops in the middle of a .env upload: the old .env stays whole, no
    // temporary file is left, and the next deploy succeeds.
    let upload = pxdeploy::envfile::write_command(vmid, "/opt/app", 4096);
    let mut ssh = sim
        .ssh_command(&upload)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = ssh.stdin.as_mut().unwrap();
        stdin.write_all(b"POSTGRES_PASSWORD=half-writt").unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    ssh.kill().unwrap(); // SIGKILL: the TCP connection drops, no EOF handshake
    ssh.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        read_env(&sim, vmid),
        env2,
        ".env changed by a dropped upload"
    );
    let leftovers = in_ct(
        &sim,
        vmid,
        &["sh", "-c", "ls -a /opt/app | grep -c '^.env.tmp' || true"],
    );
    assert_eq!(
        leftovers.stdout.trim(),
        "0",
        "temporary .env files left: {}",
        leftovers.dump()
    );
    pxdeploy()
        .current_dir(a)
        .arg("deploy")
        .run()
        .assert_success();
    assert_eq!(read_env(&sim, vmid), env2);

    // A stopped service, a changed file, or --force: `up` runs again.
    compose(&["stop", "web"]).assert_success();
    let calls_before = sim.calls().len();
    let healed = deploy(a, &["-o", "json"]);
    healed.assert_success();
    assert_eq!(healed.json()["compose_up"], "ran");
    assert_all_healthy(&healed.json());
    assert_eq!(ups(calls_before), 1);
    write(a.join("extra/keep.txt"), "changed\n");
    let changed = deploy(a, &["-o", "json"]);
    changed.assert_success();
    assert_eq!(changed.json()["compose_up"], "ran");
    let forced = pxdeploy()
        .current_dir(a)
        .args(["-o", "json", "deploy", "--force"])
        .timeout(Duration::from_secs(180))
        .run();
    forced.assert_success();
    assert_eq!(forced.json()["compose_up"], "ran");
    let again = deploy(a, &["-o", "json"]);
    assert_eq!(again.json()["compose_up"], "skipped: nothing changed");

    // A stopped container is started (and said so), then deployed.
    sim.host_run(&["pct", "stop", &vmid.to_string()])
        .assert_success();
    let restarted = deploy(a, &["-o", "json"]);
    restarted.assert_success();
    restarted.assert_stderr_contains("is stopped: starting it");
    assert_eq!(restarted.json()["container_started"], true);
    assert_all_healthy(&restarted.json());

    // A .env that is not text is refused, and left as it is.
    in_ct(
        &sim,
        vmid,
        &["sh", "-c", "printf 'BINARY=\\377\\n' >> /opt/app/.env"],
    )
    .assert_success();
    let broken = read_env_bytes(&sim, vmid);
    let refused = deploy(a, &[]);
    refused.assert_code(5);
    refused.assert_stderr_contains("/opt/app/.env in container");
    refused.assert_stderr_contains("is not UTF-8 text");
    assert_eq!(read_env_bytes(&sim, vmid), broken);
    in_ct(&sim, vmid, &["sed", "-i", "$d", "/opt/app/.env"]).assert_success();

    let secrets = [pg, sk, new_secret];
    for run in [
        &dry, &first, &second, &third, &healed, &changed, &forced, &again,
    ] {
        assert_no_secret(run, &secrets);
    }

    // logs and status.
    let logs = pxdeploy()
        .current_dir(a)
        .args(["logs", "--tail", "5", "web"])
        .run();
    logs.assert_success();
    logs.assert_stdout_contains("web: serving");
    // `logs --follow` streams until Ctrl-C, which ends it cleanly (exit 0).
    let mut follow = pxdeploy()
        .current_dir(a)
        .args(["logs", "--follow", "--tail", "5", "web"])
        .spawn();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !follow.stdout_so_far().contains("web: serving") && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!follow.finished(), "--follow keeps running");
    follow.signal(libc::SIGINT);
    let followed = follow.wait();
    followed.assert_code(0);
    followed.assert_stdout_contains("web: serving");
    let status = pxdeploy()
        .current_dir(a)
        .args(["status", "-o", "json"])
        .run();
    status.assert_success();
    assert_all_healthy(&status.json());
}

/// The deploy lock: a second concurrent deploy exits 7 naming the holder; a deploy killed
/// with SIGKILL leaves no lock behind.
#[test]
fn concurrent_deploy_is_refused_and_a_killed_deploy_leaves_no_lock() {
    let (sim, app) = sim_and_app("2.40.3");
    let a = app.path();
    let vmid = unique_vmid(2);
    sim.write_config(
        a,
        &format!(
            "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 24\nSECRET_KEY = 24\n"
        ),
    );
    create(a);
    deploy(a, &[]).assert_success();

    let lock_taken = format!("Taking the deploy lock of container {vmid}: done");
    let mut holder = pxdeploy()
        .current_dir(a)
        .env("USER", "alice")
        .arg("deploy")
        .timeout(Duration::from_secs(180))
        .spawn();
    holder.wait_for_stderr(&lock_taken, Duration::from_secs(60));
    let second = deploy(a, &[]);
    second.assert_code(7);
    second.assert_stderr_contains(&format!("another deploy of container {vmid} is running"));
    second.assert_stderr_contains("alice@");
    second.assert_stderr_contains(" since ");
    holder.wait().assert_success();

    // SIGKILL while holding the lock: the next deploy gets it.
    let mut killed = pxdeploy()
        .current_dir(a)
        .arg("deploy")
        .timeout(Duration::from_secs(180))
        .spawn();
    killed.wait_for_stderr(&lock_taken, Duration::from_secs(60));
    killed.signal(libc::SIGKILL);
    let k = killed.wait();
    assert_eq!(k.signal, Some(libc::SIGKILL), "{}", k.dump());
    deploy(a, &[]).assert_success();
}

/// Compose 2.20.3 (`ps` prints one JSON array): green deploy; an unhealthy service fails
/// with exit 6 at the timeout naming it with its log lines; a crash-looping one fails at once.
#[test]
fn compose_2_20_unhealthy_and_crashing_services_exit_6() {
    let (sim, app) = sim_and_app("2.20.3");
    let a = app.path();
    let vmid = unique_vmid(3);
    // The verdict's timing is measured from the last `up`: no automatic rollback (and its
    // own `up`) after it here; tests/releases.rs covers `on_failure = "rollback"`.
    let secrets = &format!(
        "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 24\nSECRET_KEY = 24\n[deploy]\non_failure = \"keep\"\n"
    );
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

/// On a terminal (a pty, the screen as a person sees it afterwards), a deploy with nothing
/// to do keeps the same ✓ lines of its steps as one that runs `docker compose up`.
#[test]
fn on_a_terminal_an_unchanged_deploy_keeps_its_step_lines() {
    let (sim, app) = sim_and_app("2.40.3");
    let a = app.path();
    let vmid = unique_vmid(5);
    sim.write_config(
        a,
        &format!(
            "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 24\nSECRET_KEY = 24\n"
        ),
    );
    create(a);
    deploy(a, &[]).assert_success();

    let on_screen = |term: &str, args: &str| -> Vec<String> {
        let bin = env!("CARGO_BIN_EXE_pxdeploy");
        let run = pxdeploy()
            .program("/usr/bin/script")
            .current_dir(a)
            .env("TERM", term)
            .args([
                "-qec",
                &format!("stty cols 100 rows 40; {bin} {args}"),
                "/dev/null",
            ])
            .timeout(Duration::from_secs(180))
            .run();
        run.assert_success();
        crate::support::screen::render(run.stdout.as_bytes(), 100)
    };
    let steps = [
        "✓ Connecting to",
        "✓ Taking the deploy lock",
        "✓ Reading container",
        "✓ Merging .env",
        // Reading the app folder (an unchanged deploy pushes nothing: no `Pushing` step).
        "✓ Reading /",
    ];
    for args in ["deploy", "deploy --force"] {
        let screen = on_screen("xterm-256color", args);
        for step in steps {
            assert!(
                screen.iter().any(|l| l.starts_with(step)),
                "`pxdeploy {args}` on a terminal does not keep `{step}` on screen:\n{}",
                screen.join("\n")
            );
        }
    }

    // A terminal that cannot draw spinners (`TERM=dumb`) gets the plain lines, not nothing.
    let screen = on_screen("dumb", "deploy");
    for step in ["Connecting to", "Merging .env", "Reading /"] {
        assert!(
            screen
                .iter()
                .any(|l| l.contains(&format!("] {step}")) && l.contains(": done")),
            "`pxdeploy deploy` on a dumb terminal does not show `{step}`:\n{}",
            screen.join("\n")
        );
    }
}
