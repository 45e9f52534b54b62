//! A restart between two polls is not steadiness: `restart: always` keeps the container's id
//! across restarts, so the id alone cannot tell two sightings of one run from two short runs.

use std::time::Duration;

use super::*;

fn server(state: &str, status: &str) -> PsEntry {
    PsEntry {
        id: "s".into(),
        name: "app-server-1".into(),
        service: "server".into(),
        state: state.into(),
        status: Some(status.into()),
        ..Default::default()
    }
}

fn tracker() -> Tracker {
    Tracker::new(&["server".to_string()], true)
}

/// The flaky deploy: a `restart: always` service whose command exits 0 at once, seen
/// `running`, `restarting` (a peek on its `die`), `running` (a peek on its `start`), and
/// `running` again at the next poll, same id. It restarted: not ready.
#[test]
fn a_restart_seen_by_a_peek_between_two_polls_is_not_steady() {
    let mut t = tracker();
    let running = [server("running", "Up 2 seconds")];
    assert!(!t.observe(&running).all_ready());
    let o = t.peek(&[server(
        "restarting",
        "Restarting (0) Less than a second ago",
    )]);
    assert_eq!(o.changed, vec![("server".into(), "restarting".into())]);
    assert!(!t.peek(&running).all_ready());
    let o = t.observe(&running);
    assert!(
        !o.all_ready(),
        "restarted between the polls: {:?}",
        o.services
    );
    assert!(o.failed().is_empty());
    // It then stays up: the next poll finds it steady.
    assert!(t.observe(&[server("running", "Up 5 seconds")]).all_ready());
}

/// Without a peek in between (no event stream, or the peek's listing landed in the next
/// short run): `Up Less than a second` at a poll that came a second or more after the
/// previous one proves a start in between.
#[test]
fn an_uptime_shorter_than_the_time_between_polls_is_a_restart() {
    let second = Duration::from_secs(1);
    let mut t = tracker();
    let short = [server("running", "Up Less than a second")];
    assert!(!t.observe_apart(&short, second).all_ready());
    assert!(!t.observe_apart(&short, second).all_ready());
    assert!(!t.observe_apart(&short, 2 * second).all_ready());
    // `Up 1 second` is less than 2: two polls 2 s apart cannot both be in one run of it.
    assert!(!t
        .observe_apart(&[server("running", "Up 1 second")], 2 * second)
        .all_ready());
    // Up long enough to have run through both polls: steady.
    assert!(t
        .observe_apart(&[server("running", "Up 3 seconds (healthy)")], 2 * second)
        .all_ready());
    // A fresh deploy: first seen just started, then up for longer than the gap.
    let mut t = tracker();
    assert!(!t.observe_apart(&short, second).all_ready());
    assert!(t
        .observe_apart(&[server("running", "Up 2 seconds")], 2 * second)
        .all_ready());
    // Minutes and hours are beyond the text's precision, and an unknown gap proves nothing.
    let mut t = tracker();
    let long = [server("running", "Up About a minute")];
    assert!(!t.observe_apart(&long, 2 * second).all_ready());
    assert!(t.observe_apart(&long, 2 * second).all_ready());
    let mut t = tracker();
    assert!(!t.observe(&short).all_ready());
    assert!(t.observe(&short).all_ready());
}

/// Docker's `die` or `start` of the container since the last poll's listing: the next
/// poll's sighting is a first one, whatever its `Status` says.
#[test]
fn a_die_or_start_event_since_the_last_poll_is_a_restart() {
    let mut t = tracker();
    let up = [server("running", "Up 4 seconds")];
    assert!(!t.observe(&up).all_ready());
    t.restarted("app-server-1");
    assert!(!t.observe(&up).all_ready(), "restarted since the last poll");
    assert!(t.observe(&up).all_ready());
    assert!(t.peek(&up).all_ready());
    // Found steady, then restarted: a peek no longer passes it, nor does the next poll.
    t.restarted("app-server-1");
    assert!(!t.peek(&up).all_ready());
    assert!(!t.observe(&up).all_ready());
    // Another container's events change nothing.
    t.restarted("app-other-1");
    assert!(t.observe(&up).all_ready());
}

/// The legit case: a service that waits for its database, exits 1, is restarted once, then
/// stays up, is ready; a second `restarting` at a poll is still a crash loop.
#[test]
fn a_service_restarted_once_that_then_stays_up_is_ready() {
    let second = Duration::from_secs(1);
    let mut t = tracker();
    let gap = 2 * second;
    assert!(!t
        .observe_apart(&[server("running", "Up Less than a second")], gap)
        .all_ready());
    t.restarted("app-server-1");
    assert!(t
        .peek(&[server(
            "restarting",
            "Restarting (1) Less than a second ago"
        )])
        .failed()
        .is_empty());
    let o = t.observe_apart(&[server("restarting", "Restarting (1) 1 second ago")], gap);
    assert!(o.failed().is_empty());
    t.restarted("app-server-1");
    assert!(!t
        .observe_apart(&[server("running", "Up 1 second")], gap)
        .all_ready());
    assert!(t
        .observe_apart(&[server("running", "Up 3 seconds")], gap)
        .all_ready());
    let o = t.observe_apart(&[server("restarting", "Restarting (1) 1 second ago")], gap);
    assert_eq!(o.failed().len(), 1, "seen restarting at a second poll");
}
