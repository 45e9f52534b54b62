//! The watcher's transition logic, run for real: `watch.sh once|test` under `sh` (dash)
//! and under BusyBox's `sh` with BusyBox's tools (the shell and tools of Alpine guests),
//! with a fake `docker`, `df` and `curl` on PATH and a fake clock
//! (`PXDEPLOY_MONITOR_NOW`). The fake curl records each request: its command line, the
//! config it read on stdin (where the URL is), its headers and body.

use serde_json::Value;

use super::watch_fake::{events, pings, webhook, Fake, Req, SETTINGS};

const T0: u64 = 1_800_000_000;

fn both(test: fn(&Fake)) {
    for busybox in [false, true] {
        test(&Fake::new(busybox));
    }
}

#[test]
fn a_killed_service_is_reported_once_as_exited_then_recovered() {
    both(|f| {
        let quiet = f.check(T0);
        assert!(events(&quiet).is_empty(), "{quiet:?}");
        assert_eq!(pings(&quiet), ["http://hc.example/SECRET-p"]);

        f.services("web exited - 0 137 unless-stopped\ndb running healthy 0 0 always");
        let reqs = f.check(T0 + 60);
        let hook = webhook(&reqs);
        assert_eq!(hook.len(), 1, "{reqs:?}");
        let v = &hook[0];
        assert_eq!(v["event"], "exited");
        assert_eq!(v["service"], "web");
        assert_eq!(v["detail"], "web exited with code 137");
        assert_eq!(v["target"], "app");
        assert_eq!(v["guest"], "web");
        assert_eq!(v["vmid"], 210);
        assert_eq!(v["node"], "pve1");
        assert_eq!(v["time"], "2027-01-15T08:01:00Z");
        let ntfy: Vec<&Req> = reqs.iter().filter(|r| r.url.contains("ntfy")).collect();
        assert_eq!(ntfy.len(), 1);
        assert!(
            ntfy[0].headers.contains("Title: app: exited web|")
                && ntfy[0].headers.contains("Priority: high|")
                && ntfy[0].headers.contains("Tags: warning,exited|"),
            "{:?}",
            ntfy[0]
        );
        assert_eq!(
            ntfy[0].body,
            "app on web (210, node pve1): exited web: web exited with code 137"
        );
        assert_eq!(pings(&reqs), ["http://hc.example/SECRET-p/fail"]);

        // Still exited: no new notification, only the failing heartbeat.
        let again = f.check(T0 + 120);
        assert!(events(&again).is_empty(), "{again:?}");

        f.services("web running healthy 0 0 unless-stopped\ndb running healthy 0 0 always");
        let back = f.check(T0 + 180);
        assert_eq!(events(&back), [("recovered".into(), "web".into())]);
        assert_eq!(pings(&back), ["http://hc.example/SECRET-p"]);
        let log = f.log();
        assert!(
            log.contains("event exited web") && log.contains("event recovered web"),
            "{log}"
        );
    });
}

#[test]
fn a_flapping_service_alternates_and_never_repeats_a_transition() {
    both(|f| {
        let mut seen = Vec::new();
        for i in 0..6u64 {
            let state = if i % 2 == 1 {
                "exited - 0 1"
            } else {
                "running healthy 0 0"
            };
            f.services(&format!("web {state} unless-stopped"));
            seen.extend(events(&f.check(T0 + i * 60)));
        }
        let kinds: Vec<&str> = seen.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            kinds,
            ["exited", "recovered", "exited", "recovered", "exited"]
        );
    });
}

#[test]
fn an_open_alert_is_repeated_every_repeat_hours() {
    both(|f| {
        f.services("web running unhealthy 0 0 always");
        assert_eq!(events(&f.check(T0)), [("unhealthy".into(), "web".into())]);
        assert!(events(&f.check(T0 + 3600)).is_empty());
        let repeat = webhook(&f.check(T0 + 6 * 3600));
        assert_eq!(repeat.len(), 1);
        assert_eq!(repeat[0]["event"], "unhealthy");
        assert_eq!(
            repeat[0]["detail"],
            "still open after 6 h: web is unhealthy"
        );
        assert!(
            events(&f.check(T0 + 7 * 3600)).is_empty(),
            "once per period"
        );
        assert_eq!(webhook(&f.check(T0 + 12 * 3600)).len(), 1);
        // repeat_hours = 0: never.
        f.settings(&SETTINGS.replace("repeat_secs=21600", "repeat_secs=0"));
        assert!(events(&f.check(T0 + 100 * 3600)).is_empty());
    });
}

#[test]
fn a_crash_docker_restarted_is_an_exit_until_a_check_without_one() {
    both(|f| {
        let at = |count: u32| format!("web running - {count} 0 always");
        f.services(&at(0));
        assert!(events(&f.check(T0)).is_empty());
        f.services(&at(1));
        let crash = webhook(&f.check(T0 + 60));
        assert_eq!(crash.len(), 1);
        assert_eq!(crash[0]["event"], "exited");
        assert_eq!(
            crash[0]["detail"],
            "web exited and Docker restarted it (1 restarts)"
        );
        assert_eq!(
            events(&f.check(T0 + 120)),
            [("recovered".into(), "web".into())]
        );
    });
}

#[test]
fn restarts_more_than_twice_within_three_intervals_are_a_crash_loop() {
    both(|f| {
        let at = |count: u32| format!("web running - {count} 0 always");
        // Two restarts within three intervals: two exits, not a loop.
        let mut calm = Vec::new();
        for (i, n) in [0, 1, 1, 2, 2, 2].iter().enumerate() {
            f.services(&at(*n));
            calm.extend(events(&f.check(T0 + i as u64 * 60)));
        }
        assert!(calm.iter().all(|(e, _)| e != "crash_loop"), "{calm:?}");
        // Three more within three intervals.
        let mut seen = Vec::new();
        for (i, n) in [3, 4, 5, 5, 5, 5].iter().enumerate() {
            f.services(&at(*n));
            seen.push(events(&f.check(T0 + (10 + i as u64) * 60)));
        }
        let w = |e: &str| (e.to_string(), "web".to_string());
        assert_eq!(seen[0], [w("exited")]);
        assert!(seen[1].is_empty(), "{seen:?}");
        assert_eq!(
            seen[2],
            [w("crash_loop")],
            "at the third restart within three intervals"
        );
        assert!(seen[3].is_empty() && seen[4].is_empty(), "{seen:?}");
        assert_eq!(
            seen[5],
            [w("recovered"), w("recovered")],
            "the loop and its exit end after three intervals without a restart"
        );
        // A recreated container (its count starts again) is not a loop.
        f.services(&at(0));
        assert!(events(&f.check(T0 + 30 * 60)).is_empty());
    });
}

#[test]
fn docker_down_is_reported_and_keeps_the_services_alerts_open() {
    both(|f| {
        f.services("web exited - 0 137 always");
        assert_eq!(events(&f.check(T0)), [("exited".into(), "web".into())]);
        f.docker_down(true);
        let down = webhook(&f.check(T0 + 60));
        assert_eq!(down.len(), 1, "no `recovered` for web while Docker is down");
        assert_eq!(down[0]["event"], "docker_down");
        assert_eq!(down[0]["service"], Value::Null);
        assert!(down[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("Docker does not answer: Cannot connect"));
        f.docker_down(false);
        f.services("web running - 0 0 always");
        let mut back = events(&f.check(T0 + 120));
        back.sort();
        assert_eq!(
            back,
            [
                ("recovered".into(), "-".into()),
                ("recovered".into(), "web".into())
            ]
        );
    });
}

/// Under dash only: BusyBox's `sh` runs its own `df` applet, not the fake one on PATH.
#[test]
fn disk_alerts_open_past_the_limit_and_close_two_points_under_it() {
    let f = Fake::new(false);
    f.disk(90);
    assert!(events(&f.check(T0)).is_empty(), "at the limit: not past it");
    f.disk(91);
    let disk = webhook(&f.check(T0 + 60));
    assert_eq!(disk[0]["event"], "disk");
    assert_eq!(disk[0]["service"], Value::Null);
    assert_eq!(disk[0]["detail"], "root filesystem 91% full (limit 90%)");
    f.disk(89);
    assert!(
        events(&f.check(T0 + 120)).is_empty(),
        "within 2 points: still open"
    );
    f.disk(80);
    let back = webhook(&f.check(T0 + 180));
    assert_eq!(back[0]["event"], "recovered");
    assert_eq!(
        back[0]["detail"], "resolved: root filesystem 89% full (limit 90%)",
        "the last state seen"
    );
}

#[test]
fn a_finished_one_shot_job_is_not_an_alert() {
    both(|f| {
        f.services(
            "migrate exited - 0 0 no\nweb running - 0 0 always\nbatch exited - 0 0 on-failure",
        );
        assert!(events(&f.check(T0)).is_empty());
        f.services("migrate exited - 0 2 no");
        assert_eq!(
            events(&f.check(T0 + 60)),
            [("exited".into(), "migrate".into())]
        );
    });
}

#[test]
fn an_unreachable_receiver_gets_the_notifications_late_in_order() {
    both(|f| {
        f.receiver(Err(7));
        f.services("web exited - 0 137 always");
        let tried = f.check(T0);
        assert_eq!(tried.len(), 3, "each channel tried once: {tried:?}");
        f.services("web running - 0 0 always");
        // Backing off: the next check is at T0 + 60, the first retry due then.
        let retry = f.check(T0 + 30);
        assert!(webhook(&retry).is_empty(), "{retry:?}");
        let log = f.log();
        assert!(
            log.contains(
                "channel webhook: exited not delivered: could not connect (attempt 1, next in 60s)"
            ),
            "{log}"
        );
        assert!(!log.contains("SECRET"), "{log}");
        f.receiver(Ok(200));
        let late = f.check(T0 + 60);
        assert_eq!(
            events(&late),
            [
                ("exited".into(), "web".into()),
                ("recovered".into(), "web".into())
            ]
        );
        assert_eq!(
            webhook(&late)[0]["time"],
            "2027-01-15T08:00:00Z",
            "the time of the event"
        );
        assert!(f
            .check(T0 + 120)
            .iter()
            .all(|r| r.url.contains("hc.example")));
    });
}

#[test]
fn backoff_doubles_up_to_ten_intervals() {
    let f = Fake::new(false);
    f.receiver(Ok(503));
    f.services("web exited - 0 137 always");
    let mut t = T0;
    let mut waits = Vec::new();
    for _ in 0..6 {
        f.check(t);
        let b = std::fs::read_to_string(f.root.join("m/state/backoff-webhook")).unwrap();
        let next: u64 = b.split_whitespace().nth(1).unwrap().parse().unwrap();
        waits.push(next - t);
        t = next;
    }
    assert_eq!(waits, [60, 120, 240, 480, 600, 600]);
    assert!(f.log().contains("the receiver answered HTTP 503"));
}

#[test]
fn urls_never_reach_a_command_line_and_slack_gets_text() {
    let f = Fake::new(false);
    f.settings(&SETTINGS.replace("format=json", "format=slack"));
    f.services("web exited - 0 137 always");
    let reqs = f.check(T0);
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert!(
            !r.args.contains("SECRET"),
            "URL on the command line: {}",
            r.args
        );
        assert!(
            r.url.contains("SECRET"),
            "URL from the config on stdin: {r:?}"
        );
    }
    let slack = reqs
        .iter()
        .find(|r| r.url.contains("hooks"))
        .unwrap()
        .json();
    assert_eq!(
        slack,
        serde_json::json!({"text": "app on web (210, node pve1): exited web: web exited with code 137"})
    );
}

#[test]
fn test_mode_reports_each_channel_and_exits_5_when_one_failed() {
    both(|f| {
        let out = f.run("test", T0);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "webhook ok\nntfy ok\nping ok\n"
        );
        assert!(out.status.success());
        let reqs = f.requests();
        let v = webhook(&reqs);
        assert_eq!(v[0]["event"], "test");
        assert_eq!(v[0]["service"], Value::Null);
        assert_eq!(pings(&reqs), ["http://hc.example/SECRET-p"]);
        f.receiver(Ok(404));
        let out = f.run("test", T0 + 1);
        assert_eq!(out.status.code(), Some(5));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("webhook failed the receiver answered HTTP 404\n"),
            "{text}"
        );
        assert!(!text.contains("SECRET"));
        let state = String::from_utf8_lossy(&f.run("state", T0 + 2).stdout).to_string();
        let s = crate::monitor::state::parse(&state);
        assert_eq!(s.version, "1.0+test");
        assert_eq!(s.channels.len(), 3);
        let last = s.channels[0].last.clone().unwrap();
        assert_eq!((last.event.as_str(), last.ok), ("test", false));
        assert!(!state.contains("SECRET"), "{state}");
    });
}

#[test]
fn no_alert_while_a_deploy_recreates_the_containers() {
    both(|f| {
        // A process as `docker compose -p app up` is: comm `docker-compose`.
        let p = f.root.join("proc/4242");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("comm"), "docker-compose\n").unwrap();
        let cmdline = "/usr/libexec/docker/cli-plugins/docker-compose\0compose\0-p\0app\0-f\0/opt/app/docker-compose.yml\0up\0-d\0";
        std::fs::write(p.join("cmdline"), cmdline).unwrap();
        f.services("web exited - 0 0 always");
        assert!(events(&f.check(T0)).is_empty());
        // Another project's deploy does not count.
        std::fs::write(p.join("cmdline"), cmdline.replace("\0app\0", "\0other\0")).unwrap();
        assert_eq!(events(&f.check(T0 + 60)), [("exited".into(), "web".into())]);
    });
}
