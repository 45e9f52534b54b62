//! Issue 26, the figures: `status` with what the guest and each service use, `status
//! --watch`, and `pxdeploy metrics`, against one simulated node shared by the tests of this
//! file (a container each). The node's figures are the simulator's pvestatd: measured from
//! the container's processes and veth, recorded as samples, consolidated like RRD.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{create, deploy, pxdeploy, unique_vmid, write, Run, SimHost};

/// Container ids of this file: 60–69.
const TEST_BASE: u32 = 60;

/// The "minute" of this file's node: its RRD step in seconds (sim knob `rrd_step`; a real
/// node's is 60, and pxdeploy takes the step from the points it reads), so a test sees its
/// first complete step within seconds instead of up to two minutes.
const RRD_STEP: i64 = 5;

fn node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(|| {
        let node = SimHost::start_cached();
        node.set_knob("rrd_step", &RRD_STEP.to_string());
        node
    })
}

/// Two long-running services (busybox `sleep`), no health checks.
const COMPOSE: &str = "services:
  web:
    image: base:local
    pull_policy: never
    network_mode: none
    command: [\"sleep\", \"3600\"]
    stop_grace_period: 1s
  worker:
    image: base:local
    pull_policy: never
    network_mode: none
    command: [\"sleep\", \"3600\"]
    stop_grace_period: 1s
";

/// The app in container `TEST_BASE + n`, created (and deployed when `deployed`).
fn app(n: u32, deployed: bool) -> (tempfile::TempDir, u32) {
    let dir = tempfile::Builder::new()
        .prefix("pxdeploy-app-")
        .tempdir()
        .unwrap();
    write(dir.path().join("docker-compose.yml"), COMPOSE);
    let vmid = unique_vmid(TEST_BASE + n);
    node().write_config(
        dir.path(),
        &format!("[container]\nvmid = {vmid}\ncores = 2\nmemory_mb = 768"),
    );
    create(dir.path());
    if deployed {
        deploy(dir.path(), &[]).assert_success();
    }
    (dir, vmid)
}

fn px(app: &Path, args: &[&str]) -> Run {
    pxdeploy().current_dir(app).args(args).run()
}

/// The node's `rrddata` of `vmid` (through the simulated `pvesh`, as pxdeploy reads it).
fn rrddata(vmid: u32, timeframe: &str) -> Vec<serde_json::Value> {
    let r = node().host_run(&[
        "pvesh",
        "get",
        &format!("/nodes/localhost/lxc/{vmid}/rrddata"),
        "--timeframe",
        timeframe,
        "--output-format",
        "json",
    ]);
    r.assert_success();
    serde_json::from_str(&r.stdout).unwrap()
}

/// Waits (asking the node every second, which also has its pvestatd sample the container)
/// until the node's history of `vmid` has a step with network rates: RRD consolidates a
/// step once it is over, so this takes up to two steps ([`RRD_STEP`]) after the container
/// started.
fn wait_for_a_complete_step(vmid: u32) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if rrddata(vmid, "hour")
            .iter()
            .any(|p| p.get("netin").is_some())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no step with rates in the node's rrddata: {:?}",
            rrddata(vmid, "hour")
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn number(doc: &serde_json::Value, key: &str) -> f64 {
    doc[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {doc:#}"))
}

/// A running container with services: every figure of the guest is a number (the rates
/// once the node has a complete step), each service has CPU, memory and a restart count;
/// CPU burned in one service shows as that service's CPU; the text shows the same figures.
#[test]
fn status_shows_the_guests_and_the_services_figures() {
    let (app, vmid) = app(0, true);
    let a = app.path();
    wait_for_a_complete_step(vmid);

    // burn in `worker` (a shell loop, for 60 s) while `status` looks
    let container = node()
        .in_container(
            vmid,
            &[
                "docker",
                "ps",
                "-q",
                "--filter",
                "label=com.docker.compose.service=worker",
            ],
        )
        .stdout
        .trim()
        .to_string();
    assert!(!container.is_empty());
    node()
        .in_container(
            vmid,
            &[
                "docker",
                "exec",
                "-d",
                &container,
                "timeout",
                "60",
                "sh",
                "-c",
                "while :; do :; done",
            ],
        )
        .assert_success();
    let r = px(a, &["-o", "json", "status"]);
    r.assert_success();
    let doc = r.json();
    assert_eq!(doc["state"], "running", "{}", r.dump());
    assert!(number(&doc, "cpu_percent") >= 0.0);
    assert_eq!(number(&doc, "cores"), 2.0);
    assert!(number(&doc, "mem_used_bytes") > 0.0, "{doc:#}");
    assert_eq!(number(&doc, "mem_limit_bytes"), 768.0 * 1048576.0);
    assert!(number(&doc, "disk_used_bytes") > 0.0, "{doc:#}");
    assert_eq!(number(&doc, "disk_size_bytes"), 4.0 * 1073741824.0);
    assert!(number(&doc, "net_in_bytes_per_s") >= 0.0);
    assert!(number(&doc, "net_out_bytes_per_s") >= 0.0);
    assert!(number(&doc, "uptime_s") > 0.0, "{doc:#}");
    let services = doc["services"].as_array().unwrap();
    assert_eq!(services.len(), 2, "{doc:#}");
    for s in services {
        assert!(number(s, "mem_used_bytes") > 0.0, "{s:#}");
        assert_eq!(number(s, "restart_count"), 0.0, "{s:#}");
        assert!(number(s, "cpu_percent") >= 0.0, "{s:#}");
    }
    let worker = services.iter().find(|s| s["service"] == "worker").unwrap();
    assert!(
        number(worker, "cpu_percent") > 1.0,
        "the burning service shows no CPU: {doc:#}"
    );

    let text = px(a, &["status"]);
    text.assert_success();
    for label in [
        "cpu:     ",
        "memory:  ",
        "disk:    ",
        "network: in ",
        "uptime:  ",
    ] {
        assert!(text.stdout.contains(label), "{}", text.dump());
    }
    assert!(text.stdout.contains(" of 768.0 MiB"), "{}", text.dump());
    assert!(text.stdout.contains(" of 2 cores"), "{}", text.dump());
    assert!(!text.stdout.contains("cpu:     -"), "{}", text.dump());
    let header = text
        .stdout
        .lines()
        .find(|l| l.starts_with("SERVICE"))
        .unwrap();
    assert!(
        header.ends_with("CPU     MEMORY  RESTARTS"),
        "{}",
        text.dump()
    );
    node().host_run(&["pct", "stop", &vmid.to_string()]);
}

/// A stopped container: the limits Proxmox knows, `null` for everything it would have to
/// make up (no 0 % CPU, no 0 bytes used), `-` in the text.
#[test]
fn a_stopped_container_shows_nulls_not_made_up_numbers() {
    let (app, vmid) = app(1, false);
    let a = app.path();
    px(a, &["stop"]).assert_success();
    let r = px(a, &["-o", "json", "status"]);
    r.assert_success();
    let doc = r.json();
    assert_eq!(doc["state"], "stopped", "{}", r.dump());
    for key in [
        "cpu_percent",
        "mem_used_bytes",
        "disk_used_bytes",
        "net_in_bytes_per_s",
        "net_out_bytes_per_s",
        "uptime_s",
    ] {
        assert!(
            doc[key].is_null(),
            "`{key}` of a stopped container: {doc:#}"
        );
    }
    assert_eq!(number(&doc, "mem_limit_bytes"), 768.0 * 1048576.0);
    let text = px(a, &["status"]);
    assert!(
        text.stdout.contains("cpu:     - of 2 cores"),
        "{}",
        text.dump()
    );
    assert!(
        text.stdout.contains("memory:  - of 768.0 MiB"),
        "{}",
        text.dump()
    );
    assert!(text.stdout.contains("uptime:  -"), "{}", text.dump());
    let _ = vmid;
}

/// `metrics`: the points the node recorded, as a table without a terminal and as JSON
/// (units in the keys, `null` for a gap), min/avg/max of each series.
#[test]
fn metrics_prints_the_nodes_history_as_a_table_and_json() {
    let (app, vmid) = app(2, true);
    let a = app.path();
    wait_for_a_complete_step(vmid);

    let r = px(a, &["-o", "json", "metrics"]);
    r.assert_success();
    let doc = r.json();
    let node_points = rrddata(vmid, "hour");
    let points = doc["points"].as_array().unwrap();
    assert_eq!(doc["since"], "hour");
    // the node's step, read off its points (a real node's `hour` has one a minute)
    assert_eq!(doc["step_s"], RRD_STEP);
    assert_eq!(
        node_points[1]["time"].as_i64().unwrap() - node_points[0]["time"].as_i64().unwrap(),
        RRD_STEP
    );
    // the same steps as the node's (one may have been completed in between)
    assert!(
        points.len().abs_diff(node_points.len()) <= 1 && points.len() >= 59,
        "{} points, the node has {}",
        points.len(),
        node_points.len()
    );
    let with_rates: Vec<&serde_json::Value> = points
        .iter()
        .filter(|p| !p["net_in_bytes_per_s"].is_null())
        .collect();
    assert!(!with_rates.is_empty(), "{doc:#}");
    for p in &with_rates {
        assert!(
            p["cpu_percent"].is_number() && p["mem_used_bytes"].is_number(),
            "{p:#}"
        );
        assert_eq!(p["mem_limit_bytes"], 768.0 * 1048576.0, "{p:#}");
        let t = p["time"].as_i64().unwrap();
        assert!(
            node_points
                .iter()
                .any(|n| n["time"] == t && n.get("netin").is_some()),
            "{t} is not a step the node recorded: {node_points:?}"
        );
    }
    // most of the "hour" (60 steps) is before the container existed: gaps, as `null`
    assert!(points[0]["cpu_percent"].is_null(), "{doc:#}");
    let cpu = &doc["summary"]["cpu_percent"];
    assert!(cpu["min"].as_f64().unwrap() <= cpu["avg"].as_f64().unwrap());
    assert!(cpu["avg"].as_f64().unwrap() <= cpu["max"].as_f64().unwrap());

    let table = px(a, &["metrics"]);
    table.assert_success();
    let lines: Vec<&str> = table.stdout.lines().collect();
    // the header's columns (their widths follow the widest value: the unit test pins them)
    let header = lines[0].split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        header,
        "TIME CPU MEMORY NET IN NET OUT DISK READ DISK WRITE",
        "{}",
        table.dump()
    );
    assert_eq!(lines.len(), 1 + points.len() + 3, "{}", table.dump());
    assert!(
        lines[lines.len() - 3].starts_with("min "),
        "{}",
        table.dump()
    );
    assert!(
        lines[lines.len() - 1].starts_with("max "),
        "{}",
        table.dump()
    );

    let day = px(a, &["-o", "json", "metrics", "--since", "day"]);
    day.assert_success();
    assert!(day.json()["points"].as_array().unwrap().len() >= 1439);
    node().host_run(&["pct", "stop", &vmid.to_string()]);
}

/// `status --watch` on a terminal: each frame replaces the last (the screen shows one), and
/// Ctrl-C ends it with 130 and the cursor shown again; without a terminal: blocks after a
/// time line each.
#[test]
fn status_watch_redraws_in_place_until_ctrl_c() {
    let (app, vmid) = app(3, true);
    let a = app.path();
    const HEADER: &str = "every 1s, Ctrl-C to stop";
    let on_tty = pxdeploy()
        .on_pty()
        .current_dir(a)
        .args(["status", "--watch", "--interval", "1"])
        .timeout(Duration::from_secs(120))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while on_tty.stdout_so_far().matches(HEADER).count() < 3 {
        assert!(Instant::now() < deadline, "{}", on_tty.stdout_so_far());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Ctrl-C to pxdeploy itself (under `script`, which holds the pty, and its shell)
    unsafe { libc::kill(descendant_named(on_tty.pid(), "pxdeploy"), libc::SIGINT) };
    let run = on_tty.wait();
    run.assert_code(130);
    let screen = crate::support::screen::render(run.stdout.as_bytes(), 100);
    assert_eq!(
        screen.iter().filter(|l| l.starts_with(HEADER)).count(),
        1,
        "the frames were not replaced:\n{}",
        screen.join("\n")
    );
    assert_eq!(
        screen
            .iter()
            .filter(|l| l.starts_with("container "))
            .count(),
        1,
        "{}",
        screen.join("\n")
    );
    assert!(
        screen.iter().any(|l| l.starts_with("memory:  ")),
        "{}",
        screen.join("\n")
    );
    let hidden = run
        .stdout
        .rfind("\x1b[?25l")
        .expect("the cursor was hidden");
    let shown = run
        .stdout
        .rfind("\x1b[?25h")
        .expect("the cursor is shown again");
    assert!(shown > hidden, "{:?}", run.stdout);

    // `metrics` on a terminal: a sparkline per series, with min/avg/max or `no data`
    let run = pxdeploy().on_pty().current_dir(a).arg("metrics").run();
    run.assert_success();
    let screen = crate::support::screen::render(run.stdout.as_bytes(), 100);
    assert!(
        screen
            .iter()
            .any(|l| l.starts_with(&format!("container {vmid}, last hour: "))),
        "{}",
        screen.join("\n")
    );
    for series in [
        "cpu",
        "memory",
        "net in",
        "net out",
        "disk read",
        "disk write",
    ] {
        let line = screen
            .iter()
            .find(|l| l.starts_with(&format!("{series:<10}  ")))
            .unwrap_or_else(|| panic!("no {series} line: {}", screen.join("\n")));
        assert!(
            line.contains("  min ") || line.ends_with("no data"),
            "{line}"
        );
    }

    let plain = pxdeploy()
        .current_dir(a)
        .args(["status", "--watch", "--interval", "1"])
        .timeout(Duration::from_secs(120))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while plain.stdout_so_far().matches("\n--- ").count() < 1 {
        assert!(Instant::now() < deadline, "{}", plain.stdout_so_far());
        std::thread::sleep(Duration::from_millis(200));
    }
    plain.signal(libc::SIGINT);
    let run = plain.wait();
    run.assert_code(130);
    assert!(run.stdout.starts_with("--- "), "{}", run.dump());
    assert!(
        run.stdout.matches("container ").count() >= 2,
        "{}",
        run.dump()
    );
    assert!(!run.stdout.contains('\x1b'), "{}", run.dump());
    node().host_run(&["pct", "stop", &vmid.to_string()]);
}

/// The first process named `name` (its `comm`) among the descendants of `pid`.
fn descendant_named(pid: u32, name: &str) -> i32 {
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        if p != pid && comm.trim() == name {
            return p as i32;
        }
        let kids =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        todo.extend(
            kids.split_whitespace()
                .filter_map(|k| k.parse::<u32>().ok()),
        );
    }
    panic!("no process {name} under {pid}");
}

/// No node needed: `--watch` on several targets is refused before connecting (exit 2), and
/// `--interval` below 1 or without `--watch` is a usage error.
#[test]
fn watch_needs_one_target_and_an_interval_of_a_second_or_more() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d.join("docker-compose.yml"), COMPOSE);
    write(
        d.join("pxdeploy.toml"),
        "[proxmox]\nhost = \"127.0.0.1\"\nport = 1\n[container]\nhostname = \"app\"\n[app]\nname = \"app\"\n\
         [targets.staging.container]\nvmid = 301\n[targets.prod.container]\nvmid = 302\n",
    );
    let r = px(d, &["-t", "all", "status", "--watch"]);
    r.assert_code(2)
        .assert_stderr_contains("`status --watch` runs on one target: choose it with `-t NAME`");
    px(d, &["-t", "prod", "status", "--watch", "--interval", "0"]).assert_code(2);
    px(d, &["-t", "prod", "status", "--interval", "5"]).assert_code(2);
    // one target: it tries to connect (port 1 is closed: exit 4), so the choice was fine
    px(d, &["-t", "prod", "status", "--watch"]).assert_code(4);
}
