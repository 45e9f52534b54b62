//! What the polls of `docker compose ps` mean: each service's state as the user sees it
//! ([`ServiceHealth`]) and, across polls, whether it is ready, still coming up, or failed
//! for good ([`Tracker`]). Pure: no host, no clock.

use std::collections::HashMap;
use std::time::Duration;

use crate::compose::{self, PsEntry};

mod replicas;
use replicas::replicas;
pub use replicas::Replicas;

/// One service as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceHealth {
    pub service: String,
    /// created, running, restarting, exited, dead, paused, removing, `missing` (no container),
    /// or `completed`: a one-shot service (see [`compose::model::Model::one_shot`]) that exited 0.
    pub state: String,
    /// healthy, starting, unhealthy, or `none` (no healthcheck, or not running).
    pub health: String,
    /// The exit code of an exited container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Passes the health wait.
    pub ok: bool,
    /// Of a service that runs several containers (`deploy.replicas`, `scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Replicas>,
}

impl ServiceHealth {
    /// `healthy`, `running`, `starting`, `exited (3)`, … for progress lines and tables.
    pub fn label(&self) -> String {
        let one = self.label_of_one();
        match self.replicas {
            Some(r) => format!("{}/{} {one}", r.ready, r.wanted),
            None => one,
        }
    }

    fn label_of_one(&self) -> String {
        match (self.state.as_str(), self.health.as_str()) {
            ("running", "none") => "running".into(),
            ("running", h) => h.into(),
            ("exited" | "dead", _) => match self.exit_code {
                Some(c) => format!("{} ({c})", self.state),
                None => self.state.clone(),
            },
            (s, _) => s.into(),
        }
    }
}

/// How one service looks at one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Ready,
    Waiting,
    /// Exited, dead, or restarting again: no point in waiting.
    Failed,
}

/// Remembers what earlier polls saw, to tell a steady service from a crash loop.
pub struct Tracker {
    services: Vec<String>,
    /// Services without healthcheck count as ready only when seen running at two polls in a
    /// row (same container, not restarted in between): a crash-looping one is caught
    /// restarting or exited meanwhile.
    require_steady: bool,
    /// Containers seen running by the last poll (and not restarted since), by name: their id.
    running: HashMap<String, String>,
    /// The current poll's listing began at least this long after the last one's came back.
    apart: Duration,
    /// Services without healthcheck found steady (ready) by the last poll, by container.
    steady: HashMap<String, String>,
    restarts: HashMap<String, u32>,
    /// In [`Tracker::peek`]: judge without counting towards steadiness or restarts.
    peeking: bool,
    labels: HashMap<String, String>,
    /// Which services are one-shot and how many replicas each runs.
    model: compose::model::Model,
}

/// The verdict of one poll.
#[derive(Debug, Clone)]
pub struct Observation {
    pub services: Vec<(ServiceHealth, Phase)>,
    /// Services whose label changed since the previous poll.
    pub changed: Vec<(String, String)>,
}

impl Observation {
    pub fn all_ready(&self) -> bool {
        self.services.iter().all(|(_, p)| *p == Phase::Ready)
    }
    pub fn failed(&self) -> Vec<&ServiceHealth> {
        self.services
            .iter()
            .filter(|(_, p)| *p == Phase::Failed)
            .map(|(s, _)| s)
            .collect()
    }
    pub fn not_ready(&self) -> Vec<&ServiceHealth> {
        self.services
            .iter()
            .filter(|(_, p)| *p != Phase::Ready)
            .map(|(s, _)| s)
            .collect()
    }
    pub fn health(&self) -> Vec<ServiceHealth> {
        self.services.iter().map(|(s, _)| s.clone()).collect()
    }
}

impl Tracker {
    pub fn new(services: &[String], require_steady: bool) -> Self {
        Tracker {
            services: services.to_vec(),
            require_steady,
            running: HashMap::new(),
            apart: Duration::ZERO,
            steady: HashMap::new(),
            restarts: HashMap::new(),
            peeking: false,
            labels: HashMap::new(),
            model: compose::model::Model::default(),
        }
    }

    /// Judges with what the compose file says of each service (one-shot, replicas).
    pub fn with_model(mut self, model: &compose::model::Model) -> Self {
        self.model = model.clone();
        self
    }

    /// A look between two polls (something changed in Docker): the same verdicts, except
    /// that it counts neither towards a steady service nor towards a crash loop, so the
    /// rules keep the pace of the polls. A service without healthcheck is ready in a peek only
    /// if the last poll found it steady and it still runs the same container; a restarting
    /// one waits for the next poll to be counted. A container a peek sees not running did
    /// restart (or stop): the next poll's sighting of it is a first one.
    pub fn peek(&mut self, entries: &[PsEntry]) -> Observation {
        let restarts = self.restarts.clone();
        self.peeking = true;
        let observation = self.observe(entries);
        self.peeking = false;
        self.restarts = restarts;
        observation
    }

    /// Docker reported that `container` (by name) died or started since the last poll's
    /// listing began (`docker events`): whatever the next poll sees, it is not the run that
    /// poll saw, so it is not steady (`restart: always` keeps the container's id).
    pub fn restarted(&mut self, container: &str) {
        self.running.remove(container);
        self.steady.remove(container);
    }

    /// One poll, with nothing known of the time since the last one.
    pub fn observe(&mut self, entries: &[PsEntry]) -> Observation {
        self.observe_apart(entries, Duration::ZERO)
    }

    /// One poll whose listing began at least `apart` after the last poll's listing came
    /// back: a container whose `Status` says it has been up for less than that
    /// ([`PsEntry::up_less_than`]) started in between, so it is not steady.
    pub fn observe_apart(&mut self, entries: &[PsEntry], apart: Duration) -> Observation {
        if !self.peeking {
            self.apart = apart;
        }
        let mut services = Vec::new();
        let mut changed = Vec::new();
        for name in self.services.clone() {
            let containers: Vec<&PsEntry> = entries
                .iter()
                .filter(|e| e.service == name && !e.is_one_off())
                .collect();
            let (health, phase) = if containers.is_empty() {
                if !self.peeking {
                    self.running.remove(&name);
                }
                (
                    ServiceHealth {
                        service: name.clone(),
                        state: "missing".into(),
                        health: "none".into(),
                        exit_code: None,
                        ok: false,
                        replicas: None,
                    },
                    Phase::Waiting,
                )
            } else {
                let judged: Vec<(ServiceHealth, Phase)> =
                    containers.iter().map(|c| self.assess(&name, c)).collect();
                replicas(judged, self.model.replicas(&name))
            };
            let label = health.label();
            if self.labels.get(&name) != Some(&label) {
                self.labels.insert(name.clone(), label.clone());
                changed.push((name.clone(), label));
            }
            services.push((health, phase));
        }
        Observation { services, changed }
    }

    fn assess(&mut self, name: &str, c: &PsEntry) -> (ServiceHealth, Phase) {
        let health = if c.health.is_empty() {
            "none".to_string()
        } else {
            c.health.clone()
        };
        let mut sh = ServiceHealth {
            service: name.to_string(),
            state: c.state.clone(),
            health,
            exit_code: None,
            ok: false,
            replicas: None,
        };
        // Keyed by container: the replicas of a service are judged one by one.
        let key = if c.name.is_empty() { name } else { &c.name };
        let phase = match c.state.as_str() {
            "running" => match c.health.as_str() {
                "healthy" => Phase::Ready,
                "" if self.peeking => {
                    if !self.require_steady || self.steady.get(key) == Some(&c.id) {
                        Phase::Ready
                    } else {
                        Phase::Waiting
                    }
                }
                "" => {
                    // Up for less time than passed since the last poll: started since.
                    let fresh = c.up_less_than().is_some_and(|up| up <= self.apart);
                    let steady = !fresh && self.running.get(key) == Some(&c.id);
                    match steady {
                        true => self.steady.insert(key.to_string(), c.id.clone()),
                        false => self.steady.remove(key),
                    };
                    self.running.insert(key.to_string(), c.id.clone());
                    if steady || !self.require_steady {
                        Phase::Ready
                    } else {
                        Phase::Waiting
                    }
                }
                _ => Phase::Waiting,
            },
            "exited" | "dead" => {
                sh.exit_code = Some(c.exit_code);
                if c.state == "exited" && c.exit_code == 0 && self.model.one_shot(name) {
                    sh.state = "completed".into();
                    Phase::Ready
                } else {
                    Phase::Failed
                }
            }
            "restarting" if self.peeking => Phase::Waiting,
            "restarting" => {
                self.running.remove(key);
                let n = self.restarts.entry(key.to_string()).or_default();
                *n += 1;
                if *n >= 2 {
                    Phase::Failed
                } else {
                    Phase::Waiting
                }
            }
            _ => Phase::Waiting,
        };
        // Not running (also in a peek): whatever runs next is another run.
        if c.state != "running" {
            self.running.remove(key);
            self.steady.remove(key);
        }
        sh.ok = phase == Phase::Ready;
        (sh, phase)
    }
}

#[cfg(test)]
mod tests {
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
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod restart_tests;
