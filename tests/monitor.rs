//! `[monitor]` end to end (issue 26, alerts): the watcher `deploy` installs in the guest,
//! its notifications arriving at a real HTTP receiver, `pxdeploy monitor [test]`, its
//! removal. The receiver runs in the simulated node's LAN (the network namespace whose
//! bridge vmbr0 holds 192.0.2.1, `sim/pvesim/containers.py` `make_lan`): the guest reaches
//! it there as it would reach a webhook on the LAN. One node for the file, a container per
//! test; the watcher checks every 2 s.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::receiver::Receiver;
use crate::support::{create, deploy, pxdeploy, small_app, unique_vmid, Run, SimHost};

fn shared_node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(SimHost::start_cached)
}

/// The webhook's JSON body of request `r`, when it is one.
fn hook(r: &Value) -> Option<Value> {
    r["path"]
        .as_str()?
        .starts_with("/hook/")
        .then(|| serde_json::from_str(r["body"].as_str()?).ok())
        .flatten()
}

fn is_event(r: &Value, event: &str, service: Option<&str>) -> bool {
    hook(r).is_some_and(|v| v["event"] == event && v["service"].as_str() == service)
}

/// The three channel URLs of a test: tokens that must never be printed.
struct Urls {
    webhook: String,
    ntfy: String,
    ping: String,
}

const TOKENS: [&str; 3] = ["tok-W3bh00k", "tok-Ntfy5ecret", "tok-P1ngUuid"];

fn urls(rx: &Receiver) -> Urls {
    Urls {
        webhook: rx.url(&format!("hook/{}", TOKENS[0])),
        ntfy: rx.url(&format!("ntfy/{}", TOKENS[1])),
        ping: rx.url(&format!("ping/{}", TOKENS[2])),
    }
}

/// The config: the webhook URL from a file, ntfy's from the environment, ping's plain.
fn config(vmid: u32, u: &Urls, app: &Path, monitor: bool) -> String {
    std::fs::write(app.join("hook-url"), format!("{}\n", u.webhook)).unwrap();
    let section = match monitor {
        true => format!(
            "[monitor]\ninterval_secs = 2\nwebhook = {{ from_file = \"hook-url\" }}\nntfy = {{ from_env = \"PXT_NTFY_URL\" }}\nping = \"{}\"\n",
            u.ping
        ),
        false => String::new(),
    };
    format!("{}{section}", base(vmid))
}

/// The small app (one service `web`, no health check: the test does not depend on the
/// machine's load) in container `vmid`.
fn base(vmid: u32) -> String {
    format!("[container]\nvmid = {vmid}\n")
}

/// `pxdeploy ARGS` in `app` with ntfy's URL in the environment; no token in its output.
#[track_caller]
fn px(app: &Path, u: &Urls, args: &[&str]) -> Run {
    let r = pxdeploy()
        .current_dir(app)
        .env("PXT_NTFY_URL", &u.ntfy)
        .args(args)
        .timeout(Duration::from_secs(180))
        .run();
    for t in TOKENS {
        assert!(
            !r.stdout.contains(t) && !r.stderr.contains(t),
            "`pxdeploy {}` printed a channel URL:\n{}",
            args.join(" "),
            r.dump()
        );
    }
    r
}

#[test]
fn alerts_reach_every_channel_from_inside_the_guest() {
    let sim = shared_node();
    let app = small_app();
    let vmid = unique_vmid(1);
    sim.write_config(app.path(), &base(vmid));
    create(app.path());
    let mut rx = Receiver::start(sim, 18081);
    let u = urls(&rx);
    sim.write_config(app.path(), &config(vmid, &u, app.path(), true));

    // Dry run: the install is planned, no URL shown.
    let dry = px(app.path(), &u, &["deploy", "--dry-run", "-o", "json"]);
    dry.assert_success();
    let planned = dry.json()["planned"].to_string();
    assert!(
        planned.contains("monitor-") || planned.contains("pxdeploy-monitor-app.service"),
        "{planned}"
    );

    let first = px(app.path(), &u, &["deploy", "-vvv", "-o", "json"]);
    first.assert_success();
    assert_eq!(first.json()["monitor"], "installed", "{}", first.dump());

    // The channels file is root's alone; no URL on any command line in the guest.
    let perms = sim.sh_in_container(vmid, "stat -c '%a %U' /var/lib/pxdeploy/monitor/app /var/lib/pxdeploy/monitor/app/channels; cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '");
    perms.assert_success();
    assert!(
        perms.stdout.starts_with("700 root\n600 root\n"),
        "{}",
        perms.dump()
    );
    for t in TOKENS {
        assert!(
            !perms.stdout.contains(t),
            "a URL on a command line: {}",
            perms.stdout
        );
    }

    // `monitor test` from inside the guest, through every channel.
    let test = px(app.path(), &u, &["monitor", "test"]);
    test.assert_success();
    for ch in ["webhook: ok", "ntfy: ok", "ping: ok"] {
        test.assert_stdout_contains(ch);
    }
    let t = rx.wait_for(10, "test webhook", |r| is_event(r, "test", None));
    let v = hook(&t).unwrap();
    assert_eq!(v["target"], "app");
    assert_eq!(v["guest"], "app");
    assert_eq!(v["vmid"], vmid);
    assert_eq!(v["node"], "pve");
    assert!(v["detail"].as_str().unwrap().contains("test"), "{v}");
    let time = v["time"].as_str().unwrap();
    assert!(
        time.len() == 20 && time.ends_with('Z') && &time[10..11] == "T",
        "{time}"
    );
    let ntfy = rx.wait_for(10, "ntfy test", |r| {
        r["path"] == format!("/ntfy/{}", TOKENS[1])
    });
    assert_eq!(ntfy["method"], "POST");
    assert_eq!(ntfy["headers"]["Title"], "app: test");
    assert_eq!(ntfy["headers"]["Priority"], "low");
    assert_eq!(ntfy["headers"]["Tags"], "test_tube,test");
    rx.wait_for(10, "ping", |r| {
        r["path"] == format!("/ping/{}", TOKENS[2]) && r["method"] == "GET"
    });

    // Heartbeats every interval.
    let pings = |rx: &Receiver| {
        rx.requests()
            .iter()
            .filter(|r| r["path"] == format!("/ping/{}", TOKENS[2]))
            .count()
    };
    let before = pings(&rx);
    rx.wait_for(20, "three more pings", |_| pings(&rx) >= before + 3);

    let state = px(app.path(), &u, &["monitor", "-o", "json"]);
    state.assert_success();
    let s = state.json();
    assert_eq!(s["running"], true, "{s}");
    assert!(s["version"]
        .as_str()
        .unwrap()
        .starts_with(env!("CARGO_PKG_VERSION")));
    assert!(s["last_check"].is_string(), "{s}");
    assert_eq!(s["open_alerts"], serde_json::json!([]));
    let text = px(app.path(), &u, &["monitor"]);
    text.assert_stdout_contains("running")
        .assert_stdout_contains("webhook: test at");

    // A service killed: `exited` naming it, `/fail` on the heartbeat; started: `recovered`.
    sim.in_container(vmid, &["docker", "kill", "app-web-1"])
        .assert_success();
    let exited = rx.wait_for(30, "exited web", |r| is_event(r, "exited", Some("web")));
    assert_eq!(hook(&exited).unwrap()["detail"], "web exited with code 137");
    rx.wait_for(10, "ping /fail", |r| {
        r["path"] == format!("/ping/{}/fail", TOKENS[2])
            && r["body"].as_str().unwrap().contains("web exited")
    });
    rx.wait_for(10, "ntfy exited", |r| {
        r["headers"]["Title"] == "app: exited web"
    });
    let open = px(app.path(), &u, &["monitor", "-o", "json"]).json();
    let alerts = open["open_alerts"].as_array().unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a["event"] == "exited" && a["service"] == "web"),
        "{open}"
    );
    sim.in_container(vmid, &["docker", "start", "app-web-1"])
        .assert_success();
    rx.wait_for(30, "recovered web", |r| {
        is_event(r, "recovered", Some("web"))
    });

    // The receiver down: the notification waits in the guest, then arrives late.
    rx.down();
    sim.in_container(vmid, &["docker", "kill", "app-web-1"])
        .assert_success();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = px(app.path(), &u, &["monitor", "-o", "json"]).json();
        let webhook = &s["channels"][0];
        if webhook["pending"].as_u64().unwrap_or(0) >= 1 && webhook["last"]["ok"] == false {
            assert_eq!(webhook["last"]["error"], "could not connect", "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "nothing pending: {s}");
        std::thread::sleep(Duration::from_secs(1));
    }
    // `monitor test` names the channels that failed, never their URLs (exit 5).
    let failed = px(app.path(), &u, &["monitor", "test"]);
    failed
        .assert_code(5)
        .assert_stderr_contains("webhook (could not connect)");
    let seen = rx.requests().len();
    rx.up();
    let late = rx.wait_for(60, "the late exited", |r| {
        is_event(r, "exited", Some("web")) && {
            let all = rx.requests();
            all.iter().position(|x| x == r).unwrap() >= seen
        }
    });
    assert_eq!(hook(&late).unwrap()["service"], "web");

    // It survives a reboot: the unit starts with the container.
    sim.in_container(vmid, &["docker", "start", "app-web-1"])
        .assert_success();
    // (The small app has no restart policy: its service stays stopped; the watcher runs.)
    px(app.path(), &u, &["restart", "--no-wait"]).assert_success();
    // Its heartbeats go on (`/fail`: `web` did not come back, the small app has no restart policy).
    let beats = |rx: &Receiver| {
        rx.requests()
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("/ping/{}", TOKENS[2]))
            })
            .count()
    };
    let after = beats(&rx);
    rx.wait_for(40, "heartbeats after the reboot", |_| {
        beats(&rx) >= after + 2
    });
    assert_eq!(
        px(app.path(), &u, &["monitor", "-o", "json"]).json()["running"],
        true
    );
}

#[test]
fn an_unchanged_redeploy_costs_no_call_more_and_removing_the_section_removes_the_watcher() {
    let sim = shared_node();
    let app = small_app();
    let vmid = unique_vmid(2);
    sim.write_config(app.path(), &base(vmid));
    create(app.path());
    let rx = Receiver::start(sim, 18082);
    let u = urls(&rx);
    deploy(app.path(), &[]).assert_success();
    let calls = || sim.calls_of(vmid).len();
    let n = calls();
    let plain = px(app.path(), &u, &["deploy", "-vv"]);
    plain.assert_success();
    let without = calls() - n;

    sim.write_config(app.path(), &config(vmid, &u, app.path(), true));
    let r = px(app.path(), &u, &["deploy", "-o", "json"]);
    assert_eq!(r.json()["monitor"], "installed", "{}", r.dump());
    let n = calls();
    let again = px(app.path(), &u, &["deploy", "-vv", "-o", "json"]);
    assert_eq!(again.json()["monitor"], "unchanged");
    assert_eq!(
        calls() - n,
        without,
        "an unchanged redeploy with [monitor] costs no call more"
    );
    // The same in pxdeploy's own log: as many commands sent at `-vv`.
    let sent = |r: &Run| r.stderr.matches(" command=").count();
    assert!(sent(&plain) >= 1, "{}", plain.dump());
    assert_eq!(sent(&again), sent(&plain), "{}", again.dump());

    // A changed URL (from the environment) updates it.
    let moved = Urls {
        ntfy: format!("{}-2", u.ntfy),
        ..urls(&rx)
    };
    let r = px(app.path(), &moved, &["deploy", "-o", "json"]);
    assert_eq!(r.json()["monitor"], "updated", "{}", r.dump());

    // The section gone: the watcher, its unit and its folder go.
    sim.write_config(app.path(), &config(vmid, &u, app.path(), false));
    let r = px(app.path(), &u, &["deploy", "-o", "json"]);
    assert_eq!(r.json()["monitor"], "removed", "{}", r.dump());
    let gone = sim.sh_in_container(
        vmid,
        "ls /var/lib/pxdeploy/monitor/app /etc/systemd/system/pxdeploy-monitor-app.service 2>&1; systemctl is-active pxdeploy-monitor-app.service",
    );
    assert_eq!(
        gone.stdout.matches("No such file").count(),
        2,
        "{}",
        gone.dump()
    );
    assert!(
        gone.stdout.trim_end().ends_with("inactive"),
        "{}",
        gone.dump()
    );
    let running = sim.sh_in_container(vmid, "ps -eo args | grep -c '[w]atch.sh run'");
    assert_eq!(
        running.stdout.trim(),
        "0",
        "the watcher still runs: {}",
        running.dump()
    );
    let none = px(app.path(), &u, &["monitor"]);
    none.assert_code(5)
        .assert_stderr_contains("no watcher is installed in container")
        .assert_stderr_contains("add a [monitor] section");
    let r = px(app.path(), &u, &["deploy", "-o", "json"]);
    assert_eq!(r.json()["monitor"], Value::Null);
}
