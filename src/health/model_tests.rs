//! The verdict with the compose file's knowledge: one-shot services and replicas.

use super::*;
use crate::compose::model::Model;

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
