//! Several targets (issue 11): choosing them, and running one command on three simulated
//! nodes in parallel. The three nodes (each a real sshd and dockerd) are shared by the
//! cases of one test: they are the expensive part on a 2-core machine.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::deploy::sim_and_app;
use crate::support::app::now_secs;
use crate::support::unique_vmid;
use crate::support::{pxdeploy, write, Run, SimHost};

const TEST_BASE: u32 = 70;
const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

/// `[targets.<name>.proxmox]` reaching `sim`, and its container `vmid`.
fn target(name: &str, sim: &SimHost, vmid: u32) -> String {
    format!(
        "[targets.{name}.proxmox]\nhost = \"{}\"\nport = {}\nuser = \"{}\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n[targets.{name}.container]\nvmid = {vmid}\n",
        sim.host(),
        sim.port(),
        sim.user(),
        sim.identity_file().display(),
        sim.known_hosts().display(),
    )
}

fn run(dir: &Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(dir)
        .args(args)
        .timeout(Duration::from_secs(400))
        .run()
}

/// The `targets` array of a JSON document as (target, ok).
fn outcomes(doc: &serde_json::Value) -> Vec<(String, bool)> {
    doc["targets"]
        .as_array()
        .unwrap_or_else(|| panic!("no targets array: {doc}"))
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// A configuration whose node is 127.0.0.1's closed port 1: every connection fails at once.
const CLOSED_PORT: &str = "[proxmox]\nhost = \"127.0.0.1\"\nport = 1\n[container]\nhostname = \"app\"\n[app]\nname = \"app\"\n";
/// Two targets, staging and prod, in that order.
const TWO: &str = "[targets.staging.container]\nvmid = 301\n[targets.prod.container]\nvmid = 302\n";

/// An app folder whose `pxdeploy.toml` is [`CLOSED_PORT`] with `targets`.
fn closed_port_app(targets: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path().join("docker-compose.yml"),
        "services:\n  web:\n    image: nginx\n",
    );
    write(
        dir.path().join("pxdeploy.toml"),
        &format!("{CLOSED_PORT}{targets}"),
    );
    dir
}

/// No connection is needed to refuse an unclear choice: exit 2 naming the targets; the same
/// container twice is a configuration error (exit 3); `destroy` on several needs `--yes`.
#[test]
fn an_unclear_choice_exits_2_and_the_same_container_twice_exits_3() {
    let dir = closed_port_app(TWO);
    let d = dir.path();
    let base = CLOSED_PORT;
    let two = format!("{base}{TWO}");

    let r = run(d, &["status"]);
    r.assert_code(2).assert_stderr_contains(
        "the configuration has 2 targets (staging, prod): say which with -t",
    );
    let r = run(d, &["-t", "nope", "status"]);
    r.assert_code(2)
        .assert_stderr_contains("there is no target \"nope\"; the targets are: staging, prod");
    let r = pxdeploy()
        .current_dir(d)
        .env("PXDEPLOY_TARGET", "staging,nope")
        .arg("status")
        .run();
    r.assert_code(2).assert_stderr_contains("\"nope\"");
    let r = run(d, &["-t", "all", "destroy"]);
    r.assert_code(8)
        .assert_stderr_contains("destroy on 2 targets (staging, prod) needs --yes");

    // default_targets settles it (and the one target runs as a single one would: port 1 is closed).
    std::fs::write(
        d.join("pxdeploy.toml"),
        format!("default_targets = [\"prod\"]\n{two}"),
    )
    .unwrap();
    let r = run(d, &["status"]);
    r.assert_code(4).assert_stderr_lacks("[prod]");

    let dup =
        format!("{base}[targets.a.container]\nvmid = 301\n[targets.b.container]\nvmid = 301\n");
    std::fs::write(d.join("pxdeploy.toml"), dup).unwrap();
    let r = run(d, &["-t", "a", "status"]);
    r.assert_code(3)
        .assert_stderr_contains("targets.a and targets.b are the same container: 301 on 127.0.0.1");

    let bad =
        format!("{base}[targets.a.container]\nvmid = 12\n[targets.b.container]\nvmid = 301\n");
    std::fs::write(d.join("pxdeploy.toml"), bad).unwrap();
    let r = run(d, &["-t", "b", "status"]);
    r.assert_code(3)
        .assert_stderr_contains("pxdeploy.toml:9: targets.a.container.vmid: 12 is out of range");
}

/// `-t` before and after the command both count (clap alone keeps only the later ones), and
/// a `-t` on the command line replaces PXDEPLOY_TARGET. Port 1 is closed: each chosen target
/// fails to connect, and the JSON document names every one that ran.
#[test]
fn targets_before_and_after_the_command_all_run() {
    let dir = closed_port_app(TWO);
    let d = dir.path();
    let r = run(d, &["-t", "prod", "status", "-t", "staging", "-o", "json"]);
    r.assert_code(4);
    assert_eq!(
        outcomes(&r.json()),
        [("staging".to_string(), false), ("prod".to_string(), false)]
    );
    let r = pxdeploy()
        .current_dir(d)
        .env("PXDEPLOY_TARGET", "prod")
        .args(["status", "-t", "staging", "-o", "json"])
        .run();
    r.assert_code(4);
    let doc = r.json();
    assert!(doc.get("targets").is_none(), "one target only: {doc}");
}

/// `create` and `deploy -t all` on three nodes in parallel; an unreachable one fails alone
/// (the other two finish, the summary and the JSON say which, the exit code is its own);
/// Ctrl-C during a parallel deploy exits 130 and leaves no lock on any node.
#[test]
#[allow(clippy::print_stderr)] // the measured times, for docs/performance.md
fn deploy_to_three_nodes_in_parallel_one_failure_and_ctrl_c() {
    let (first, app) = sim_and_app("2.40.3");
    let sims = [
        first,
        SimHost::builder()
            .compose_version("2.40.3")
            .template_cached(true)
            .start(),
        SimHost::builder()
            .compose_version("2.40.3")
            .template_cached(true)
            .start(),
    ];
    let a = app.path();
    // Three dockerds on two shared cores: the example app's 1 s health checks (3 tries)
    // can time out under that load and make Compose give up on a dependency; this test is
    // about the targets, so its copy of the app gets patient checks.
    let compose = std::fs::read_to_string(a.join("docker-compose.yml")).unwrap();
    let patient = compose.replace(
        "timeout: 1s\n      retries: 3",
        "timeout: 10s\n      retries: 10",
    );
    assert_ne!(patient, compose);
    std::fs::write(a.join("docker-compose.yml"), patient).unwrap();
    let vmids: Vec<u32> = (0..3).map(|i| unique_vmid(TEST_BASE + i)).collect();
    let base = sims[0].config_toml(
        "[env.secrets]\nPOSTGRES_PASSWORD = 24\nSECRET_KEY = 24\n[env.values]\nDOMAIN = \"example.com\"\n",
    );
    let mut text = base.clone();
    for (i, name) in NAMES.iter().enumerate() {
        text.push_str(&target(name, &sims[i], vmids[i]));
    }
    text.push_str("[targets.gamma.env.values]\nDOMAIN = \"gamma.example.com\"\n");
    std::fs::write(a.join("pxdeploy.toml"), &text).unwrap();

    run(a, &["-t", "all", "create"]).assert_success();
    let since = now_secs();
    let started = Instant::now();
    let r = run(a, &["-t", "all", "-vv", "deploy", "-o", "json"]);
    let all_three = started.elapsed();
    r.assert_success();
    // -vv of a parallel run: the interleaved log lines each say their target and step.
    for name in NAMES {
        let span = format!("target{{target={name}}}:step{{step=");
        assert!(
            r.stderr.lines().any(|l| l.contains(&span)),
            "no -vv line of {name} names its target and step:\n{}",
            r.stderr
        );
    }
    let doc = r.json();
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(
        outcomes(&doc),
        NAMES
            .iter()
            .map(|n| (n.to_string(), true))
            .collect::<Vec<_>>()
    );
    // Each node got its own container; gamma its own DOMAIN.
    for (i, sim) in sims.iter().enumerate() {
        let env = sim.host_run(&[
            "pct",
            "exec",
            &vmids[i].to_string(),
            "--",
            "cat",
            "/opt/app/.env",
        ]);
        env.assert_success();
        let domain = if i == 2 {
            "gamma.example.com"
        } else {
            "example.com"
        };
        assert!(
            env.stdout.contains(&format!("DOMAIN={domain}\n")),
            "{}",
            env.stdout
        );
    }
    // In parallel: the three nodes were worked on at the same time (each node's first
    // call of this deploy came before every node's last one).
    let spans: Vec<(f64, f64)> = sims
        .iter()
        .map(|s| {
            let times: Vec<f64> = s
                .calls()
                .iter()
                .map(|c| c.time)
                .filter(|t| *t >= since)
                .collect();
            assert!(!times.is_empty(), "no call on a node");
            (
                times.iter().copied().fold(f64::MAX, f64::min),
                times.iter().copied().fold(0.0, f64::max),
            )
        })
        .collect();
    let last_start = spans.iter().map(|s| s.0).fold(0.0, f64::max);
    let first_end = spans.iter().map(|s| s.1).fold(f64::MAX, f64::min);
    assert!(last_start < first_end, "one after the other: {spans:?}");
    eprintln!("three targets deployed in {all_three:?}");

    // Without a terminal: lines prefixed [name], then the summary table on stdout.
    // Warm (nothing changed) redeploys, timed: one target, three in parallel, three in turn.
    let timed = |args: &[&str]| {
        let started = Instant::now();
        let r = run(a, args);
        r.assert_success();
        (r, started.elapsed())
    };
    let (_, one) = timed(&["-t", "alpha", "deploy"]);
    let (_, serial) = timed(&["-t", "all", "--parallel", "1", "deploy"]);
    let (r, parallel) = timed(&["-t", "alpha,beta", "-t", "gamma", "deploy"]);
    eprintln!("warm redeploy: 1 target {one:?}; 3 targets --parallel 1 {serial:?}; 3 targets in parallel {parallel:?}");
    for name in NAMES {
        r.assert_stderr_contains(&format!("[{name}] Taking the deploy lock"));
    }
    r.assert_stdout_contains("TARGET");
    for name in NAMES {
        let row = r
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{}", r.dump()));
        assert!(row.contains(" ok "), "{row}");
    }

    // On a terminal: a group per target under its name, whose header ends `✓ done`, the
    // finished steps kept as lines naming their target; then the summary.
    let bin = env!("CARGO_BIN_EXE_pxdeploy");
    let on_tty = pxdeploy()
        .program("/usr/bin/script")
        .current_dir(a)
        .env("TERM", "xterm-256color")
        .args([
            "-qec",
            &format!("stty cols 120 rows 40; {bin} -t all deploy"),
            "/dev/null",
        ])
        .timeout(Duration::from_secs(300))
        .run();
    on_tty.assert_success();
    let screen = crate::support::screen::render(on_tty.stdout.as_bytes(), 120);
    for name in NAMES {
        for needle in [
            format!("{name} ✓ done"),
            format!("{name} ✓ Taking the deploy lock"),
        ] {
            assert!(
                screen.iter().any(|l| l.starts_with(&needle)),
                "no `{needle}` on the screen:\n{}",
                screen.join("\n")
            );
        }
    }
    assert!(
        screen.iter().any(|l| l.starts_with("TARGET")),
        "{}",
        screen.join("\n")
    );

    // beta unreachable (a closed port): alpha and gamma still finish; exit 4 is beta's.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let broken = text.replacen(
        &format!("port = {}\n", sims[1].port()),
        &format!("port = {port}\n"),
        1,
    );
    assert_ne!(broken, text);
    std::fs::write(a.join("pxdeploy.toml"), &broken).unwrap();
    let r = run(a, &["-t", "all", "deploy", "--force", "-o", "json"]);
    r.assert_code(4);
    let doc = r.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(
        outcomes(&doc),
        [
            ("alpha".into(), true),
            ("beta".into(), false),
            ("gamma".into(), true)
        ]
    );
    assert!(
        doc["targets"][1]["error"]
            .to_string()
            .contains(&port.to_string()),
        "{doc}"
    );
    let r = run(a, &["-t", "all", "deploy"]);
    r.assert_code(4).assert_stderr_contains("[beta] error:");
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with("beta"))
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert!(row.contains("failed (exit 4)"), "{row}");
    std::fs::write(a.join("pxdeploy.toml"), &text).unwrap();

    // Ctrl-C once every target holds its lock (while they read their containers, before
    // any `docker compose up`): exit 130, and no lock is left anywhere.
    let mut running = pxdeploy()
        .current_dir(a)
        .args(["-t", "all", "deploy", "--force"])
        .timeout(Duration::from_secs(300))
        .spawn();
    for (i, name) in NAMES.iter().enumerate() {
        running.wait_for_stderr(
            &format!(
                "[{name}] Taking the deploy lock of container {}: done",
                vmids[i]
            ),
            Duration::from_secs(120),
        );
    }
    assert!(
        !running.stderr_so_far().contains("Starting the services"),
        "too late for this case: {}",
        running.stderr_so_far()
    );
    running.signal(libc::SIGINT);
    let interrupted = running.wait();
    interrupted.assert_code(130);
    for (i, sim) in sims.iter().enumerate() {
        // The lock goes with the session: free within moments (sshd closes the channel).
        let probe = format!(
            "flock -n /run/pxdeploy/pxdeploy-{}.lock true && echo free",
            vmids[i]
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sim.ssh(&probe).stdout.contains("free") {
            assert!(Instant::now() < deadline, "lock left on {}", NAMES[i]);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let started = Instant::now();
    let r = run(a, &["-t", "all", "deploy", "-o", "json"]);
    r.assert_success();
    assert!(!r.stderr.contains("another deploy"), "{}", r.dump());
    eprintln!(
        "after Ctrl-C, the next deploy of all three took {:?}",
        started.elapsed()
    );
}
