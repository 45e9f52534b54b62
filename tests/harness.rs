//! Tests of the fixture itself: the real sshd, its keys and logs, teardown, the command
//! runner's bounds, and the config it writes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::process::{run_bounded, try_run_bounded};
use crate::support::{pxdeploy, SimHost};

#[test]
fn sshd_accepts_the_client_key_with_strict_host_key_checking() {
    let sim = SimHost::builder().without_sim().start();
    let r = sim.ssh("echo ok; echo $PXSIM_STATE; echo $PATH");
    r.assert_success();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "ok", "{}", r.dump());
    assert_eq!(Path::new(lines[1]), sim.state_dir(), "{}", r.dump());
    let sim_bin = crate::support::repo_root().join("sim/bin");
    assert!(
        lines[2].split(':').any(|p| Path::new(p) == sim_bin),
        "sim/bin not on PATH: {}",
        lines[2]
    );

    let kh = std::fs::read_to_string(sim.known_hosts()).unwrap();
    assert_eq!(
        kh,
        format!("[127.0.0.1]:{} {}\n", sim.port(), sim.host_public_key())
    );
    assert!(sim.host_public_key().starts_with("ssh-ed25519 AAAA"));
}

#[test]
fn a_different_host_key_is_refused() {
    let sim = SimHost::builder().without_sim().start();
    // Pin another key for this host: strict checking must refuse the connection.
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("k");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let pubkey: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(
        sim.known_hosts(),
        format!("[127.0.0.1]:{} {}\n", sim.port(), pubkey.join(" ")),
    )
    .unwrap();
    let r = sim.ssh("echo should-not-run");
    r.assert_code(255);
    assert!(!r.stdout.contains("should-not-run"));
    assert!(
        r.stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        r.dump()
    );
}

#[test]
fn connections_are_counted_in_the_sshd_log() {
    let sim = SimHost::builder().without_sim().start();
    assert_eq!(
        sim.connection_count(),
        0,
        "starting the fixture must not connect:\n{}",
        sim.sshd_log()
    );
    sim.ssh_ok("true");
    sim.ssh_ok("true");
    assert_eq!(sim.connection_count(), 2, "{}", sim.sshd_log());
    assert_eq!(sim.auth_count(), 2, "{}", sim.sshd_log());
    assert_eq!(sim.session_count(), 2, "{}", sim.sshd_log());
}

#[test]
fn ssh_passes_stdin_and_exit_codes_through() {
    let sim = SimHost::builder().without_sim().start();
    let r = sim.ssh_stdin("cat; exit 3", "line one\nline two\n");
    r.assert_code(3);
    assert_eq!(r.stdout, "line one\nline two\n");
}

fn processes_with_arg(arg: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

fn gone(pid: u32) -> bool {
    // Dead, or a zombie waiting for its new parent to reap it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s[s.rfind(')').unwrap() + 2..].starts_with('Z'),
    }
}

#[test]
fn dropping_the_host_stops_sshd_and_its_sessions_and_removes_the_folder() {
    let sim = SimHost::builder().without_sim().start();
    let (pid, dir) = (sim.sshd_pid(), sim.dir().to_path_buf());
    assert!(!gone(pid));
    // A session that would outlive a careless teardown. The odd duration marks it.
    let marker = format!(
        "{}.{}",
        7000 + u32::from(sim.port() % 1000),
        std::process::id() % 1000
    );
    let mut client = Command::new("/usr/bin/ssh");
    client
        .args([
            "-F",
            "/dev/null",
            "-T",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ])
        .arg(sim.identity_file())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            sim.known_hosts().display()
        ))
        .arg("-p")
        .arg(sim.port().to_string())
        .arg("root@127.0.0.1")
        .arg(format!("exec sleep {marker}"));
    let mut running =
        crate::support::Running::spawn(client, "ssh sleep".into(), None, Duration::from_secs(60));
    let end = Instant::now() + Duration::from_secs(20);
    while processes_with_arg(&marker).is_empty() {
        assert!(
            Instant::now() < end,
            "the remote sleep never started:\n{}",
            sim.sshd_log()
        );
        assert!(
            !running.finished(),
            "ssh exited early: {}",
            running.stderr_so_far()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sleepers = processes_with_arg(&marker);

    // The teardown of a passing test's host runs in the background: wait for it (bounded).
    drop(sim);
    let end = Instant::now() + Duration::from_secs(60);
    while (!gone(pid) || dir.exists()) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }

    assert!(gone(pid), "sshd {pid} still runs a minute after teardown");
    for s in sleepers {
        assert!(gone(s), "remote command {s} still runs after teardown");
    }
    assert!(!dir.exists(), "{} still exists", dir.display());
    // The client sees its connection closed.
    let r = running.wait();
    assert_eq!(r.status, 255, "{}", r.dump());
}

#[test]
fn sim_host_runs_the_simulated_proxmox_tools_and_logs_their_calls() {
    let sim = SimHost::builder().template_cached(true).start();
    assert!(sim.has_sim(), "sim/pve.py is missing");
    let out = sim.ssh_ok("pveversion; pct list");
    assert!(out.starts_with("pve-manager/"), "{out}");
    let calls = sim.calls();
    let argvs: Vec<Vec<String>> = calls.iter().map(|c| c.argv.clone()).collect();
    assert_eq!(
        argvs,
        vec![
            vec!["pveversion".to_string()],
            vec!["pct".into(), "list".into()]
        ]
    );
    assert!(calls.iter().all(|c| c.exit == 0), "{calls:?}");
    // The Debian 12 template is on the `local` storage already.
    let list = sim.host_run(&["pveam", "list", "local"]);
    list.assert_success()
        .assert_stdout_contains("local:vztmpl/debian-12-standard_");
    assert_eq!(sim.calls_matching(&["pveam", "list"]).len(), 1);
    // host_run does not go through sshd.
    assert_eq!(sim.connection_count(), 1);
}

#[test]
fn the_written_config_points_at_the_sim_host_and_parses() {
    let sim = SimHost::builder().without_sim().start();
    let app = tempfile::tempdir().unwrap();
    let path = sim.write_config(
        app.path(),
        "[container]\nvmid = 300\n[env.values]\nDOMAIN = \"x.lan\"\n",
    );
    assert_eq!(path, app.path().join("pxdeploy.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    // The loader checks the compose file is there (its contents are read at deploy).
    std::fs::write(
        app.path().join("docker-compose.yml"),
        "services:\n  web:\n    image: x\n",
    )
    .unwrap();
    let cfg = pxdeploy::config::parse_str(&text, &path, &|_| None)
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(cfg.proxmox.host, "127.0.0.1");
    assert_eq!(cfg.proxmox.port, Some(sim.port()));
    assert_eq!(
        cfg.proxmox.identity_file.as_deref(),
        Some(sim.identity_file())
    );
    assert_eq!(cfg.proxmox.known_hosts.as_deref(), Some(sim.known_hosts()));
    assert_eq!(cfg.vmid(), 300);
    assert_eq!(cfg.hostname(), "app", "merging keeps the other keys");
    assert_eq!(
        cfg.env.values.get("DOMAIN").map(String::as_str),
        Some("x.lan")
    );
}

#[test]
fn pxdeploy_runs_with_a_scrubbed_environment() {
    let dir = tempfile::tempdir().unwrap();
    let r = pxdeploy().current_dir(dir.path()).arg("--version").run();
    r.assert_success()
        .assert_stdout_contains(env!("CARGO_PKG_VERSION"));
    pxdeploy().arg("--no-such-flag").run().assert_code(2);

    // Whatever the developer's environment holds, the child sees PATH, a fresh empty HOME,
    // and what the test adds.
    let r = pxdeploy()
        .program("/usr/bin/env")
        .env("PROXMOX_HOST", "set-by-test")
        .run();
    r.assert_success();
    let mut names: Vec<&str> = r
        .stdout
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["HOME", "PATH", "PROXMOX_HOST"], "{}", r.stdout);
    let home = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("HOME="))
        .unwrap();
    assert_ne!(home, "/root");
    assert!(
        !Path::new(home).exists(),
        "the temporary HOME is removed after the run"
    );
}

#[test]
fn a_hung_process_is_killed_at_its_deadline() {
    let started = Instant::now();
    let mut cmd = Command::new("sleep");
    cmd.arg("600");
    let err =
        try_run_bounded(cmd, "sleep 600".into(), None, Duration::from_millis(500)).unwrap_err();
    assert!(err.contains("did not finish within"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // And a normal one returns its code and output.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo out; echo err >&2; exit 4"]);
    let r = run_bounded(cmd, "sh".into(), None, Duration::from_secs(30));
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (4, "out\n", "err\n")
    );
}

#[test]
fn a_host_whose_owner_dies_is_torn_down_by_its_watchdog() {
    // The owner stands in for a test binary killed by Ctrl-C: it never runs `down`.
    let mut owner = Command::new("sleep").arg("600").spawn().unwrap();
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(crate::support::repo_root().join("sim/launch.py"))
        .args(["up", "--no-sim", "--owner-pid"])
        .arg(owner.id().to_string());
    let up = run_bounded(cmd, "launch.py up".into(), None, Duration::from_secs(60));
    up.assert_success();
    let v: serde_json::Value = serde_json::from_str(&up.stdout).unwrap();
    let dir = std::path::PathBuf::from(v["dir"].as_str().unwrap());
    let pid = v["sshd_pid"].as_u64().unwrap() as u32;
    assert!(dir.exists() && !gone(pid));

    owner.kill().unwrap();
    owner.wait().unwrap();

    let end = Instant::now() + Duration::from_secs(20);
    while dir.exists() || !gone(pid) {
        assert!(
            Instant::now() < end,
            "{} / sshd {pid} still there 20 s after the owner died",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
