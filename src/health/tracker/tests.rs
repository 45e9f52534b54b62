//! The verdicts of the polls and peeks: healthy, steady, crash loops, snapshots.

use super::*;
use crate::compose;
use crate::health::table;

fn e(service: &str, id: &str, state: &str, health: &str, exit: i64) -> PsEntry {
    PsEntry {
        id: id.into(),
        name: format!("app-{service}-1"),
        service: service.into(),
        state: state.into(),
        health: health.into(),
        exit_code: exit,
        ..Default::default()
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn healthy_and_steady_services_pass() {
    let mut t = Tracker::new(&names(&["db", "worker"]), true);
    let first = t.observe(&[
        e("db", "a", "running", "starting", 0),
        e("worker", "w", "running", "", 0),
    ]);
    assert!(!first.all_ready());
    assert_eq!(
        first.changed,
        vec![
            ("db".into(), "starting".into()),
            ("worker".into(), "running".into())
        ]
    );
    let second = t.observe(&[
        e("db", "a", "running", "healthy", 0),
        e("worker", "w", "running", "", 0),
    ]);
    assert!(second.all_ready());
    assert_eq!(second.changed, vec![("db".into(), "healthy".into())]);
    assert!(second.health().iter().all(|s| s.ok));
}

/// A peek (a look on a Docker event, between polls) gives a verdict as soon as the last
/// healthcheck passes or a service exits, but a service without healthcheck still needs
/// two polls, and a restart is counted only by polls.
#[test]
fn a_peek_judges_at_once_but_counts_only_polls_for_steady_and_restarts() {
    let mut t = Tracker::new(&names(&["db", "worker"]), true);
    let running = |db: &str, worker_id: &str| {
        [
            e("db", "a", "running", db, 0),
            e("worker", worker_id, "running", "", 0),
        ]
    };
    assert!(!t.observe(&running("starting", "w")).all_ready());
    let peek = t.peek(&running("healthy", "w"));
    assert_eq!(peek.changed, vec![("db".into(), "healthy".into())]);
    assert!(
        !peek.all_ready(),
        "worker was seen running by one poll only"
    );
    assert!(t.observe(&running("healthy", "w")).all_ready());
    assert!(t.peek(&running("healthy", "w")).all_ready());
    assert!(
        !t.peek(&running("healthy", "w2")).all_ready(),
        "another container"
    );
    let o = t.peek(&[e("db", "a", "exited", "", 1)]);
    assert_eq!(o.failed()[0].label(), "exited (1)");

    let mut t = Tracker::new(&names(&["crash"]), true);
    let restarting = [e("crash", "c", "restarting", "", 0)];
    assert!(t.observe(&restarting).failed().is_empty());
    assert!(t.peek(&restarting).failed().is_empty());
    assert!(t.peek(&restarting).failed().is_empty());
    assert_eq!(t.observe(&restarting).failed().len(), 1);
}

#[test]
fn exited_fails_at_once() {
    let mut t = Tracker::new(&names(&["migrate"]), true);
    let o = t.observe(&[e("migrate", "m", "exited", "", 3)]);
    assert_eq!(o.failed()[0].label(), "exited (3)");
}

#[test]
fn a_crash_loop_fails_even_without_healthcheck() {
    let mut t = Tracker::new(&names(&["crash"]), true);
    assert!(t
        .observe(&[e("crash", "c", "restarting", "", 0)])
        .failed()
        .is_empty());
    assert!(!t.observe(&[e("crash", "c", "running", "", 0)]).all_ready());
    let o = t.observe(&[e("crash", "c", "restarting", "", 0)]);
    assert_eq!(o.failed().len(), 1);
}

#[test]
fn unhealthy_and_missing_keep_waiting() {
    let mut t = Tracker::new(&names(&["cache", "web"]), true);
    let o = t.observe(&[e("cache", "c", "running", "unhealthy", 0)]);
    assert!(o.failed().is_empty());
    assert_eq!(
        o.not_ready().iter().map(|s| s.label()).collect::<Vec<_>>(),
        ["unhealthy", "missing"]
    );
}

#[test]
fn snapshot_mode_takes_running_as_ready_and_ignores_one_off_containers() {
    let mut t = Tracker::new(&names(&["worker"]), false);
    let mut run = e("worker", "r", "exited", "", 1);
    run.name = "app-worker-run-0123456789ab".into();
    assert!(t
        .observe(&[e("worker", "w", "running", "", 0), run])
        .all_ready());
}

#[test]
fn fixtures_give_the_expected_verdicts() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/compose/ps-a-json-v2.40.3.out"),
    )
    .unwrap();
    let entries = compose::parse_ps(&text).unwrap();
    let mut t = Tracker::new(&names(&["api", "db", "cache", "worker", "migrate"]), true);
    let o = t.observe(&entries);
    let phases: Vec<Phase> = o.services.iter().map(|(_, p)| *p).collect();
    assert_eq!(
        phases,
        [
            Phase::Ready,
            Phase::Waiting,
            Phase::Waiting,
            Phase::Waiting,
            Phase::Failed
        ]
    );
    assert_eq!(
        table(&o.health()),
        "SERVICE  STATE         HEALTH\n\
         api      running       healthy\n\
         db       running       starting\n\
         cache    running       unhealthy\n\
         worker   running       none\n\
         migrate  exited (3)    none"
    );
}
