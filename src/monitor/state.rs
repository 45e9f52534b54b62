//! What `pxdeploy monitor` reads from the guest: the watcher's state (`watch.sh state`)
//! and the results of a test notification (`watch.sh test`), both through
//! `monitor-read.sh`, which says when no watcher is installed. Everything here came from
//! the guest: it is data, shown only through `sanitize`.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::guest::Inside;
use crate::timestamp::rfc3339;

/// `$1` the watcher's folder, `$2` state|test.
const SCRIPT: &str = crate::scripts::script!("monitor-read.sh");

/// What the script prints when no watcher is installed.
const NONE: &str = "pxdeploy-monitor: none";

/// The node's line that runs the watcher's `mode` (state|test) of `project` in the guest.
pub(crate) fn line(inside: Inside, project: &str, mode: &str) -> String {
    inside.exec(&["sh", "-c", SCRIPT, "sh", &super::dir(project), mode])
}

/// Whether the output says no watcher is installed.
pub(crate) fn none(stdout: &str) -> bool {
    stdout.trim() == NONE
}

/// The watcher's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct State {
    pub version: String,
    pub interval_secs: u64,
    /// Whether its process runs (the pid it wrote is alive).
    pub running: bool,
    /// RFC 3339, UTC.
    pub last_check: Option<String>,
    pub open_alerts: Vec<Alert>,
    pub channels: Vec<ChannelState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Alert {
    pub event: String,
    pub service: Option<String>,
    /// RFC 3339, UTC.
    pub since: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ChannelState {
    pub channel: String,
    /// Notifications waiting to be delivered (the receiver was not reachable).
    pub pending: u64,
    /// The last attempt: its time (RFC 3339), the event, `ok` or `failed`, and why.
    pub last: Option<Attempt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Attempt {
    pub time: String,
    pub event: String,
    pub ok: bool,
    pub error: Option<String>,
}

fn time(epoch: &str) -> Option<String> {
    let secs: u64 = epoch.trim().parse().ok()?;
    Some(rfc3339(UNIX_EPOCH + Duration::from_secs(secs)))
}

fn clean(text: &str) -> String {
    crate::output::sanitize(text.trim())
}

/// Reads `watch.sh state`'s output (unknown lines are skipped).
pub(crate) fn parse(stdout: &str) -> State {
    let mut s = State::default();
    for line in stdout.lines() {
        let (key, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        match key {
            "version" => s.version = clean(rest),
            "interval" => s.interval_secs = rest.trim().parse().unwrap_or(0),
            "running" => s.running = rest.trim() != "-" && !rest.trim().is_empty(),
            "last_check" => s.last_check = time(rest),
            "alert" => {
                let f: Vec<&str> = rest.splitn(4, '\t').collect();
                if let [event, since, service, detail] = f[..] {
                    s.open_alerts.push(Alert {
                        event: clean(event),
                        service: (service != "-").then(|| clean(service)),
                        since: time(since).unwrap_or_default(),
                        detail: clean(detail),
                    });
                }
            }
            "channel" => {
                let f: Vec<&str> = rest.splitn(3, '\t').collect();
                if let [name, pending, last] = f[..] {
                    s.channels.push(ChannelState {
                        channel: clean(name),
                        pending: pending.trim().parse().unwrap_or(0),
                        last: attempt(last),
                    });
                }
            }
            _ => {}
        }
    }
    s
}

/// `<epoch> <event> ok|failed <why…>`, or `-`.
fn attempt(text: &str) -> Option<Attempt> {
    let mut words = text.trim().splitn(4, ' ');
    let (at, event, result) = (words.next()?, words.next()?, words.next()?);
    let why = words.next().map(clean).filter(|w| !w.is_empty());
    Some(Attempt {
        time: time(at)?,
        event: clean(event),
        ok: result == "ok",
        error: if result == "ok" { None } else { why },
    })
}

/// One channel's result of `watch.sh test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TestResult {
    pub channel: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// Reads `watch.sh test`'s output: `<channel> ok` or `<channel> failed <why>` lines.
pub(crate) fn parse_test(stdout: &str) -> Vec<TestResult> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.trim().splitn(3, ' ');
            let (channel, result) = (w.next()?, w.next()?);
            if !matches!(result, "ok" | "failed") {
                return None;
            }
            Some(TestResult {
                channel: clean(channel),
                ok: result == "ok",
                error: w.next().map(clean).filter(|_| result == "failed"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_state_the_watcher_prints() {
        let out = "version 0.1.0+abcd1234\ninterval 60\nrunning 412\nlast_check 1700000000\n\
alert\texited\t1699990000\tweb\tweb exited with code 137\n\
alert\tdisk\t1699990000\t-\troot filesystem 93% full (limit 90%)\n\
channel\twebhook\t2\t1700000000 exited failed could not connect\n\
channel\tping\t0\t1700000000 ok ok\nchannel\tntfy\t0\t-\n";
        let s = parse(out);
        assert_eq!(s.version, "0.1.0+abcd1234");
        assert!(s.running);
        assert_eq!(s.last_check.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(s.open_alerts.len(), 2);
        assert_eq!(s.open_alerts[0].service.as_deref(), Some("web"));
        assert_eq!(s.open_alerts[1].service, None);
        assert_eq!(s.channels[0].pending, 2);
        let last = s.channels[0].last.as_ref().unwrap();
        assert!(!last.ok);
        assert_eq!(last.error.as_deref(), Some("could not connect"));
        assert!(s.channels[1].last.as_ref().unwrap().ok);
        assert_eq!(s.channels[2].last, None);
    }

    #[test]
    fn reads_test_results() {
        let r = parse_test("webhook ok\nntfy failed the receiver answered HTTP 500\nnoise\n");
        assert_eq!(r.len(), 2);
        assert!(r[0].ok && r[0].error.is_none());
        assert_eq!(
            r[1].error.as_deref(),
            Some("the receiver answered HTTP 500")
        );
    }
}
