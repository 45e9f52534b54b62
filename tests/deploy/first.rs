//! The first deploy of the example app, with its `--dry-run`, on a node of its own: run once
//! (a `OnceLock`), read by the tests here, which change nothing.

use super::*;

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
