//! The verdict with the compose file's knowledge: one-shot services and replicas.

use super::*;
use crate::compose::model::Model;
use crate::health::table;

fn model(yaml: &str) -> Model {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, yaml).unwrap();
    Model::read(&[file], dir.path()).unwrap()
}

fn e(service: &str, n: u32, state: &str, health: &str, exit: i64) -> PsEntry {
    PsEntry {
        id: format!("{service}{n}"),
        name: format!("app-{service}-{n}"),
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

const SHAPES: &str = r#"
x-base: &base
  restart: unless-stopped
services:
  migrate:
    image: x
    restart: "no"
  seed:
    image: x
  retry:
    image: x
    restart: on-failure:3
  init:
    <<: *base
    image: x
  server:
    <<: *base
    image: x
  backend:
    <<: *base
    depends_on:
      init: {condition: service_completed_successfully}
      migrate: {condition: service_completed_successfully}
"#;

#[test]
fn one_shot_services_that_exit_0_are_completed() {
    let m = model(SHAPES);
    let all = names(&["migrate", "seed", "retry", "init"]);
    let mut t = Tracker::new(&all, true).with_model(&m);
    let o = t.observe(&[
        e("migrate", 1, "exited", "", 0),
        e("seed", 1, "exited", "", 0),
        e("retry", 1, "exited", "", 0),
        e("init", 1, "exited", "", 0),
    ]);
    assert!(o.all_ready(), "{:?}", o.services);
    assert!(o.health().iter().all(|s| s.ok && s.label() == "completed"));
    assert_eq!(
        table(&o.health()).lines().nth(1).unwrap(),
        "migrate  completed     none"
    );
}

#[test]
fn a_one_shot_that_fails_or_a_server_that_exits_0_still_fails() {
    let m = model(SHAPES);
    let mut t = Tracker::new(&names(&["migrate", "server"]), true).with_model(&m);
    let o = t.observe(&[
        e("migrate", 1, "exited", "", 2),
        e("server", 1, "exited", "", 0),
    ]);
    let failed: Vec<String> = o.failed().iter().map(|s| s.label()).collect();
    assert_eq!(failed, ["exited (2)", "exited (0)"]);
    // Without the compose file's knowledge nothing is one-shot (as before).
    let mut t = Tracker::new(&names(&["migrate"]), true);
    assert_eq!(
        t.observe(&[e("migrate", 1, "exited", "", 0)])
            .failed()
            .len(),
        1
    );
}

#[test]
fn a_one_shot_still_running_is_waited_for() {
    let m = model(SHAPES);
    let mut t = Tracker::new(&names(&["migrate"]), false).with_model(&m);
    assert!(t
        .observe(&[e("migrate", 1, "created", "", 0)])
        .failed()
        .is_empty());
}

const REPLICAS: &str = r#"
services:
  web:
    image: x
    restart: always
    deploy:
      replicas: 2
  worker:
    image: x
    restart: always
    scale: 3
  off:
    image: x
    deploy: {replicas: 0}
  debug:
    image: x
    profiles: [debug]
"#;

#[test]
fn every_replica_must_pass_and_the_label_counts_them() {
    let m = model(REPLICAS);
    assert_eq!((m.replicas("web"), m.replicas("worker")), (2, 3));
    let mut t = Tracker::new(&names(&["web"]), true).with_model(&m);
    let o = t.observe(&[e("web", 1, "running", "healthy", 0)]);
    assert!(!o.all_ready());
    assert_eq!(o.changed, vec![("web".into(), "1/2 healthy".into())]);
    let o = t.observe(&[
        e("web", 1, "running", "healthy", 0),
        e("web", 2, "running", "starting", 0),
    ]);
    assert!(!o.all_ready());
    assert_eq!(o.changed, vec![("web".into(), "1/2 starting".into())]);
    let o = t.observe(&[
        e("web", 1, "running", "healthy", 0),
        e("web", 2, "running", "healthy", 0),
    ]);
    assert!(o.all_ready());
    assert_eq!(o.changed, vec![("web".into(), "2/2 healthy".into())]);
    let o = t.observe(&[
        e("web", 1, "running", "healthy", 0),
        e("web", 2, "exited", "", 1),
    ]);
    assert_eq!(o.failed()[0].label(), "1/2 exited (1)");
}

#[test]
fn replicas_without_healthcheck_become_steady_one_by_one() {
    let m = model(REPLICAS);
    let mut t = Tracker::new(&names(&["worker"]), true).with_model(&m);
    let all = [
        e("worker", 1, "running", "", 0),
        e("worker", 2, "running", "", 0),
        e("worker", 3, "running", "", 0),
    ];
    assert!(!t.observe(&all).all_ready());
    let o = t.observe(&all);
    assert!(o.all_ready(), "{:?}", o.services);
    assert_eq!(o.health()[0].label(), "3/3 running");
}

#[test]
fn profiles_and_zero_replicas_decide_what_is_started() {
    let m = model(REPLICAS);
    assert_eq!(m.active(&[]), ["web", "worker"]);
    assert_eq!(m.active(&names(&["debug"])), ["web", "worker", "debug"]);
    assert_eq!(m.active(&names(&["*"])), ["web", "worker", "debug"]);
}
