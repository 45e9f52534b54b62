//! `pxdeploy deploy` end to end (issue 4): the example app against the simulated Proxmox
//! node — real sshd, real dockerd and Compose inside the container. A create costs ~5 s and
//! a deploy ~10 s, so the tests share what they can: the first deploy (its own node, read
//! only by the tests that check it) and one node for the rest, a container each.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::app::{deploy_holding_the_lock, now_secs};
use crate::support::{
    create, deploy, example_app, pxdeploy, unique_vmid, write, Call, Run, SimHost,
};

/// Inside a service: its DOMAIN, as Compose set it (busybox has no `printenv`).
const PRINT_DOMAIN: &str = r#"printf '%s\n' "$DOMAIN""#;

/// A simulated node (template cached) with Compose `compose_version`, and a copy of the
/// example app.
pub(crate) fn sim_and_app(compose_version: &str) -> (SimHost, tempfile::TempDir) {
    let sim = SimHost::builder()
        .compose_version(compose_version)
        .template_cached(true)
        .start();
    (sim, example_app())
}

/// The node (Compose 2.40.3, template cached) that the tests below share, a container each.
/// Never dropped: `sim/launch.py`'s watchdog tears it down when the test process ends.
fn shared_node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(SimHost::start_cached)
}

/// The config of the example app in container `vmid`: two secrets, `DOMAIN`, and with
/// `extra_secret` a third one.
fn config(vmid: u32, domain: &str, extra_secret: bool) -> String {
    format!(
        "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 64\n{}\n[env.values]\nDOMAIN = {}\n",
        if extra_secret { "NEW_SECRET = 20" } else { "" },
        toml_str(domain)
    )
}

/// The example app created and deployed (green) into a container of its own on the shared
/// node; stopped when the test ends.
struct Deployed {
    sim: &'static SimHost,
    app: tempfile::TempDir,
    vmid: u32,
}

impl Deployed {
    #[track_caller]
    fn new(test: u32, config_text: impl FnOnce(u32) -> String) -> Deployed {
        let sim = shared_node();
        let app = example_app();
        let vmid = unique_vmid(test);
        sim.write_config(app.path(), &config_text(vmid));
        create(app.path());
        deploy(app.path(), &[]).assert_success();
        Deployed { sim, app, vmid }
    }

    fn app(&self) -> &Path {
        self.app.path()
    }

    #[track_caller]
    fn in_ct(&self, argv: &[&str]) -> Run {
        self.sim.in_container(self.vmid, argv)
    }

    #[track_caller]
    fn env(&self) -> String {
        self.sim.container_file(self.vmid, "/opt/app/.env")
    }

    #[track_caller]
    fn compose(&self, args: &[&str]) -> Run {
        compose_in(self.sim, self.vmid, args)
    }

    /// How many `docker compose … up` ran in this container since call number `from`.
    fn ups_since(&self, from: usize) -> usize {
        ups(&self.sim.calls_of(self.vmid)[from..])
    }

    /// The generated secrets in the container's `.env` now.
    fn secrets(&self) -> Vec<String> {
        let env = self.env();
        ["POSTGRES_PASSWORD", "SECRET_KEY", "NEW_SECRET"]
            .iter()
            .filter(|k| env_line(&env, k).is_some())
            .map(|k| secret(&env, k))
            .collect()
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        // Its four health checks run every second: stop them for the tests still running.
        let _ = self.sim.host_run(&["pct", "stop", &self.vmid.to_string()]);
    }
}

/// `docker compose -p app -f /opt/app/docker-compose.yml args…` in container `vmid`.
#[track_caller]
fn compose_in(sim: &SimHost, vmid: u32, args: &[&str]) -> Run {
    let mut argv = vec![
        "docker",
        "compose",
        "-p",
        "app",
        "-f",
        "/opt/app/docker-compose.yml",
    ];
    argv.extend_from_slice(args);
    sim.in_container(vmid, &argv)
}

/// How many of `calls` ran `up`.
fn ups(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| c.argv.iter().any(|x| x == "up"))
        .count()
}

#[track_caller]
fn read_env_bytes(sim: &SimHost, vmid: u32) -> Vec<u8> {
    let r = sim.in_container(vmid, &["od", "-An", "-tx1", "/opt/app/.env"]);
    r.assert_success();
    r.stdout.into_bytes()
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

/// The first deploy of the example app (Compose 2.40.3, NDJSON `ps`) on a node of its own,
/// after a `--dry-run`: what the tests of the first deploy read (they change nothing).
struct FirstDeploy {
    sim: SimHost,
    app: tempfile::TempDir,
    vmid: u32,
    /// A `DOMAIN` that must reach the container verbatim and run nothing, anywhere.
    tricky: String,
    /// Files the tricky value would create, were it run.
    pwned: [String; 2],
    dry: Run,
    /// The calls the dry run made.
    dry_calls: Vec<Call>,
    /// `test -e /opt/app` after the dry run.
    app_dir_after_dry: Run,
    first: Run,
    /// SSH connections the first deploy opened.
    first_connections: usize,
    /// `.env` after the first deploy.
    env: String,
}

fn first_deploy() -> &'static FirstDeploy {
    static FIRST: OnceLock<FirstDeploy> = OnceLock::new();
    FIRST.get_or_init(|| {
        let sim = SimHost::start_cached();
        let app = example_app();
        let a = app.path();
        // What must not be pushed.
        write(a.join(".git/config"), "[core]\n");
        write(a.join(".git/HEAD"), "ref: refs/heads/main\n");
        write(a.join(".env"), "LOCAL_ONLY=from-the-laptop\n");
        write(a.join("api/.env"), "LOCAL_ONLY=nested\n");
        write(a.join("debug.log"), "ignored by *.log\n");
        write(a.join("tmp/cache.bin"), "ignored by tmp/\n");
        write(a.join("extra/keep.txt"), "pushed\n");
        mixed_tree(&a.join("mixed"));

        let pid = std::process::id();
        let pwned = [
            format!("/var/tmp/pxdeploy-test-pwned-{pid}-a"),
            format!("/var/tmp/pxdeploy-test-pwned-{pid}-b"),
        ];
        let tricky = format!(
            r#"it's "quoted" $(touch {}) `touch {}` two  spaces $HOME ${{X}}"#,
            pwned[0], pwned[1]
        );
        let vmid = unique_vmid(1);
        sim.write_config(a, &config(vmid, &tricky, false));
        create(a);

        let calls_before = sim.calls().len();
        let dry = deploy(a, &["--dry-run"]);
        let dry_calls = sim.calls()[calls_before..].to_vec();
        let app_dir_after_dry = sim.in_container(vmid, &["test", "-e", "/opt/app"]);

        let conns = sim.connection_count();
        let first = deploy(a, &["-o", "json"]);
        let first_connections = sim.connection_count() - conns;
        let env = sim.in_container(vmid, &["cat", "/opt/app/.env"]).stdout;
        FirstDeploy {
            sim,
            app,
            vmid,
            tricky,
            pwned,
            dry,
            dry_calls,
            app_dir_after_dry,
            first,
            first_connections,
            env,
        }
    })
}

impl FirstDeploy {
    #[track_caller]
    fn compose(&self, args: &[&str]) -> Run {
        compose_in(&self.sim, self.vmid, args)
    }

    fn secrets(&self) -> Vec<String> {
        ["POSTGRES_PASSWORD", "SECRET_KEY"]
            .iter()
            .map(|k| secret(&self.env, k))
            .collect()
    }
}

/// `--dry-run` names the keys and changes nothing (no folder, no .env, no push, no up).
#[test]
fn a_dry_run_names_the_env_keys_and_changes_nothing() {
    let fx = first_deploy();
    let dry = &fx.dry;
    dry.assert_success();
    let all = format!("{}{}", dry.stdout, dry.stderr);
    for key in ["POSTGRES_PASSWORD", "SECRET_KEY", "DOMAIN"] {
        assert!(
            all.contains(key),
            "dry run does not name {key}\n{}",
            dry.dump()
        );
    }
    for c in &fx.dry_calls {
        let changes = c.argv.iter().any(|x| x == "up" || x == "tar")
            || c.argv
                .iter()
                .any(|x| x.contains("tar -x") || x.contains("mv -f"));
        assert!(!changes, "--dry-run ran {:?}", c.argv);
    }
    fx.app_dir_after_dry.assert_code(1);
    assert_no_secret(dry, &fx.secrets());
}

/// The first deploy: green, one connection, JSON with the four services healthy and the
/// secrets it generated named.
#[test]
fn the_first_deploy_is_green_over_one_connection() {
    let fx = first_deploy();
    fx.first.assert_success();
    assert_eq!(
        fx.first_connections,
        1,
        "one deploy = one SSH connection\n{}",
        fx.sim.sshd_log()
    );
    let doc = fx.first.json();
    assert_all_healthy(&doc);
    assert_eq!(doc["compose_version"], "2.40.3", "{doc:#}");
    let mut generated = names(&doc["env"]["generated"]);
    generated.sort();
    assert_eq!(generated, ["POSTGRES_PASSWORD", "SECRET_KEY"], "{doc:#}");
    assert_no_secret(&fx.first, &fx.secrets());
}

/// `.env`: 0600, secrets of the configured length, not the local `.env`.
#[test]
fn the_env_file_is_0600_with_secrets_of_the_configured_length() {
    let fx = first_deploy();
    let mode = fx
        .sim
        .in_container(fx.vmid, &["stat", "-c", "%a", "/opt/app/.env"]);
    mode.assert_success();
    assert_eq!(mode.stdout.trim(), "600");
    let pg = secret(&fx.env, "POSTGRES_PASSWORD");
    let sk = secret(&fx.env, "SECRET_KEY");
    assert_eq!((pg.len(), sk.len()), (32, 64));
    assert!(!fx.env.contains("LOCAL_ONLY"), "the local .env was pushed");
}

/// The push leaves out `.git`, `.env` files, `.dockerignore`d paths and the README.
#[test]
fn the_push_follows_the_ignore_rules() {
    let fx = first_deploy();
    let found = fx.sim.in_container(fx.vmid, &["find", "/opt/app"]);
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
}

/// Files the push compresses and files it stores as they are (src/push/gzip.rs), by
/// name and by their first block: `mixed/` of the first deploy's app.
fn mixed_tree(dir: &Path) {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(27);
    let mut noise = |n: usize| {
        let mut b = vec![0u8; n];
        rng.fill_bytes(&mut b);
        b
    };
    let text: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i}: the release store keeps each file once\n").into_bytes())
        .collect();
    let mut half = text[..70_000].to_vec();
    half.extend(noise(100_000));
    let mut late = noise(70_000);
    late.extend(&text[..100_000]);
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in [
        ("photo.jpg", noise(300_000)),
        ("noise.bin", noise(200_000)),
        ("notes.md", text.clone()),
        ("text-then-noise.dat", half),
        ("noise-then-text.dat", late),
        ("tiny.png", b"\x89PNG".to_vec()),
        ("empty.txt", Vec::new()),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// The push is a gzip stream: text compressed, images and noise stored as they are (a
/// second member). Every file lands byte for byte, whichever way it went. `-vv` counts the
/// SSH round trips of a command.
#[test]
fn a_mixed_tree_lands_byte_for_byte_and_vv_counts_round_trips() {
    let fx = first_deploy();
    fx.first.assert_success();
    let local = std::process::Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && sha256sum -- * | sort")
        .arg("sh")
        .arg(fx.app.path().join("mixed"))
        .output()
        .unwrap();
    assert!(local.status.success());
    let local = String::from_utf8(local.stdout).unwrap();
    assert_eq!(local.lines().count(), 7, "{local}");
    let remote = fx
        .sim
        .sh_in_container(fx.vmid, "cd /opt/app/mixed && sha256sum -- * | sort");
    remote.assert_success();
    assert_eq!(remote.stdout, local, "the files in the container differ");

    let status = pxdeploy()
        .current_dir(fx.app.path())
        .args(["-vv", "status"])
        .timeout(Duration::from_secs(120))
        .run();
    status.assert_success();
    let trips: u64 = status
        .stderr
        .lines()
        .find_map(|l| l.split("round trips: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no round-trip count:\n{}", status.stderr));
    // At least the handshake, the authentication and one command's channel.
    assert!(trips >= 4, "{trips} round trips:\n{}", status.stderr);
}

/// A value with quotes, `$(…)`, backticks and `$HOME` reaches the services verbatim (read
/// back through Compose inside them) and runs nothing, on the host or in the container.
#[test]
fn a_value_that_needs_quoting_reaches_the_services_verbatim_and_runs_nothing() {
    let fx = first_deploy();
    let got = fx.compose(&["exec", "-T", "api", "sh", "-c", PRINT_DOMAIN]);
    got.assert_success();
    assert_eq!(got.stdout, format!("{}\n", fx.tricky), "{}", got.dump());
    let web = fx.compose(&["exec", "-T", "web", "sh", "-c", PRINT_DOMAIN]);
    assert_eq!(web.stdout, format!("{}\n", fx.tricky), "{}", web.dump());
    for p in &fx.pwned {
        assert!(!Path::new(p).exists(), "{p} exists: a value was executed");
        fx.sim
            .in_container(fx.vmid, &["test", "-e", p])
            .assert_code(1);
    }
}

/// `logs --tail` prints the service's lines; `logs --follow` streams until Ctrl-C, which
/// ends it cleanly (exit 0); `status` shows every service healthy.
#[test]
fn logs_follow_until_ctrl_c_and_status_shows_the_services() {
    let fx = first_deploy();
    let a = fx.app.path();
    let logs = pxdeploy()
        .current_dir(a)
        .args(["logs", "--tail", "5", "web"])
        .run();
    logs.assert_success();
    logs.assert_stdout_contains("web: serving");
    let mut follow = pxdeploy()
        .current_dir(a)
        .args(["logs", "--follow", "--tail", "5", "web"])
        .spawn();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while !follow.stdout_so_far().contains("web: serving") && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
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

/// A redeploy at -vvv with `DOMAIN` changed and a new secret: the new secret is added, the
/// value updated, everything else in `.env` (a key added by hand too) kept byte for byte;
/// the deploy's fingerprint is kept 0600 and never printed.
#[test]
fn a_redeploy_keeps_the_env_fills_new_secrets_and_updates_values() {
    let ct = Deployed::new(11, |vmid| config(vmid, "first.example.lan", false));
    let env1 = ct.env();
    ct.in_ct(&[
        "sh",
        "-c",
        "printf 'HAND_ADDED=by hand\\n' >> /opt/app/.env",
    ])
    .assert_success();

    ct.sim
        .write_config(ct.app(), &config(ct.vmid, "changed.example.lan", true));
    let second = deploy(ct.app(), &["-vvv"]);
    second.assert_success();
    let marker = ct.in_ct(&["stat", "-c", "%a", "/opt/app/.pxdeploy-deployed"]);
    assert_eq!(marker.stdout.trim(), "600", "{}", marker.dump());
    let fingerprint = ct.in_ct(&["cat", "/opt/app/.pxdeploy-deployed"]).stdout;
    let hash = fingerprint.trim().trim_start_matches("sha256:");
    assert_eq!(hash.len(), 64, "{fingerprint:?}");
    assert_no_secret(&second, &[hash.to_string()]);
    let env2 = ct.env();
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
    let mode = ct.in_ct(&["stat", "-c", "%a", "/opt/app/.env"]);
    assert_eq!(mode.stdout.trim(), "600");
    let got = ct.compose(&["exec", "-T", "api", "sh", "-c", PRINT_DOMAIN]);
    assert_eq!(got.stdout, "changed.example.lan\n", "{}", got.dump());
    assert_no_secret(&second, &ct.secrets());
}

/// A redeploy with nothing to change names the kept keys, runs no `up` (every service is
/// healthy): the containers are the same ones, and `.env` is not rewritten.
#[test]
fn an_unchanged_redeploy_runs_no_up_and_keeps_the_containers() {
    let ct = Deployed::new(12, |vmid| config(vmid, "changed.example.lan", true));
    let env = ct.env();
    let ids = || ct.compose(&["ps", "-aq"]).stdout;
    let ids_before = ids();
    let calls_before = ct.sim.calls_of(ct.vmid).len();
    let third = deploy(ct.app(), &["-o", "json"]);
    third.assert_success();
    let doc = third.json();
    assert_all_healthy(&doc);
    assert_eq!(doc["compose_up"], "skipped: nothing changed", "{doc:#}");
    assert_eq!(
        ct.ups_since(calls_before),
        0,
        "an unchanged redeploy ran `up`"
    );
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
    assert_eq!(ct.env(), env, "an unchanged redeploy rewrote .env");
    assert_no_secret(&third, &ct.secrets());
}

/// The connection drops in the middle of a .env upload: the old .env stays whole, no
/// temporary file is left, and the next deploy succeeds.
#[test]
fn a_connection_dropped_during_the_env_upload_leaves_the_old_env_whole() {
    let ct = Deployed::new(13, |vmid| config(vmid, "app.example.lan", false));
    let env = ct.env();
    let argv = pxdeploy::envfile::write_argv("/opt/app", 4096);
    let upload = format!(
        "pct exec {} -- {}",
        ct.vmid,
        pxdeploy::remote::quote::join(&argv)
    );
    let mut ssh = ct
        .sim
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
    std::thread::sleep(Duration::from_millis(800));
    ssh.kill().unwrap(); // SIGKILL: the TCP connection drops, no EOF handshake
    ssh.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ct.env(), env, ".env changed by a dropped upload");
    let leftovers = ct.in_ct(&["sh", "-c", "ls -a /opt/app | grep -c '^.env.tmp' || true"]);
    assert_eq!(
        leftovers.stdout.trim(),
        "0",
        "temporary .env files left: {}",
        leftovers.dump()
    );
    pxdeploy()
        .current_dir(ct.app())
        .arg("deploy")
        .run()
        .assert_success();
    assert_eq!(ct.env(), env);
}

/// A stopped service, a changed file, or `--force`: `up` runs again; then, with nothing
/// changed, it does not.
#[test]
fn a_stopped_service_a_changed_file_or_force_runs_up_again() {
    let ct = Deployed::new(14, |vmid| config(vmid, "app.example.lan", false));
    let a = ct.app();
    ct.compose(&["stop", "web"]).assert_success();
    let calls_before = ct.sim.calls_of(ct.vmid).len();
    let healed = deploy(a, &["-o", "json"]);
    healed.assert_success();
    assert_eq!(healed.json()["compose_up"], "ran");
    assert_all_healthy(&healed.json());
    assert_eq!(ct.ups_since(calls_before), 1);
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
    let secrets = ct.secrets();
    for run in [&healed, &changed, &forced, &again] {
        assert_no_secret(run, &secrets);
    }
}

/// A stopped container is started (and said so), then deployed.
#[test]
fn a_stopped_container_is_started_then_deployed() {
    let ct = Deployed::new(15, |vmid| config(vmid, "app.example.lan", false));
    ct.sim
        .host_run(&["pct", "stop", &ct.vmid.to_string()])
        .assert_success();
    let restarted = deploy(ct.app(), &["-o", "json"]);
    restarted.assert_success();
    restarted.assert_stderr_contains("is stopped: starting it");
    assert_eq!(restarted.json()["container_started"], true);
    assert_all_healthy(&restarted.json());
}

/// A `.env` in the container that is not text is refused (exit 5), and left as it is.
#[test]
fn an_env_file_that_is_not_utf8_is_refused_and_left_as_it_is() {
    let ct = Deployed::new(16, |vmid| config(vmid, "app.example.lan", false));
    ct.in_ct(&["sh", "-c", "printf 'BINARY=\\377\\n' >> /opt/app/.env"])
        .assert_success();
    let broken = read_env_bytes(ct.sim, ct.vmid);
    let refused = deploy(ct.app(), &[]);
    refused.assert_code(5);
    refused.assert_stderr_contains("/opt/app/.env in container");
    refused.assert_stderr_contains("is not UTF-8 text");
    assert_eq!(read_env_bytes(ct.sim, ct.vmid), broken);
}

/// The deploy lock: a second concurrent deploy exits 7 naming the holder; a deploy killed
/// with SIGKILL leaves no lock behind.
#[test]
fn concurrent_deploy_is_refused_and_a_killed_deploy_leaves_no_lock() {
    let ct = Deployed::new(17, secrets_only);
    let (a, vmid) = (ct.app(), ct.vmid);

    let holder = deploy_holding_the_lock(a, vmid, Duration::from_secs(180));
    let second = deploy(a, &[]);
    second.assert_code(7);
    second.assert_stderr_contains(&format!("another deploy of container {vmid} is running"));
    second.assert_stderr_contains("alice@");
    second.assert_stderr_contains(" since ");
    holder.wait().assert_success();

    // SIGKILL while holding the lock: the next deploy gets it.
    let killed = deploy_holding_the_lock(a, vmid, Duration::from_secs(180));
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

/// On a terminal (a pty, the screen as a person sees it afterwards), a deploy with nothing
/// to do keeps the same ✓ lines of its steps as one that runs `docker compose up`.
#[test]
fn on_a_terminal_an_unchanged_deploy_keeps_its_step_lines() {
    let ct = Deployed::new(18, secrets_only);
    let a = ct.app();

    let on_screen = |term: &str, args: &[&str]| -> Vec<String> {
        let run = pxdeploy()
            .on_pty()
            .current_dir(a)
            .env("TERM", term)
            .args(args)
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
    for args in [&["deploy"][..], &["deploy", "--force"]] {
        let screen = on_screen("xterm-256color", args);
        let args = args.join(" ");
        for step in steps {
            assert!(
                screen.iter().any(|l| l.starts_with(step)),
                "`pxdeploy {args}` on a terminal does not keep `{step}` on screen:\n{}",
                screen.join("\n")
            );
        }
    }

    // A terminal that cannot draw spinners (`TERM=dumb`) gets the plain lines, not nothing.
    let screen = on_screen("dumb", &["deploy"]);
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

/// The config of the example app in container `vmid` with its two secrets only.
fn secrets_only(vmid: u32) -> String {
    format!("[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 24\nSECRET_KEY = 24\n")
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
