//! What the polls of `docker compose ps` mean: each service's state as the user sees it
//! ([`ServiceHealth`]) and, across polls, whether it is ready, still coming up, or failed
//! for good ([`Tracker`]). Pure: no host, no clock.

use std::collections::HashMap;
use std::time::Duration;

use crate::compose::{self, PsEntry};

mod replicas;
use replicas::replicas;
pub(super) use replicas::Replicas;

/// One service as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct ServiceHealth {
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
    pub(crate) fn label(&self) -> String {
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
pub(crate) enum Phase {
    Ready,
    Waiting,
    /// Exited, dead, or restarting again: no point in waiting.
    Failed,
}

/// Remembers what earlier polls saw, to tell a steady service from a crash loop.
pub(crate) struct Tracker {
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
pub(crate) struct Observation {
    pub services: Vec<(ServiceHealth, Phase)>,
    /// Services whose label changed since the previous poll.
    pub changed: Vec<(String, String)>,
}

impl Observation {
    pub(crate) fn all_ready(&self) -> bool {
        self.services.iter().all(|(_, p)| *p == Phase::Ready)
    }
    pub(crate) fn failed(&self) -> Vec<&ServiceHealth> {
        self.services
            .iter()
            .filter(|(_, p)| *p == Phase::Failed)
            .map(|(s, _)| s)
            .collect()
    }
    pub(crate) fn not_ready(&self) -> Vec<&ServiceHealth> {
        self.services
            .iter()
            .filter(|(_, p)| *p != Phase::Ready)
            .map(|(s, _)| s)
            .collect()
    }
    pub(crate) fn health(&self) -> Vec<ServiceHealth> {
        self.services.iter().map(|(s, _)| s.clone()).collect()
    }
}

impl Tracker {
    pub(crate) fn new(services: &[String], require_steady: bool) -> Self {
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
    pub(crate) fn with_model(mut self, model: &compose::model::Model) -> Self {
        self.model = model.clone();
        self
    }

    /// A look between two polls (something changed in Docker): the same verdicts, except
    /// that it counts neither towards a steady service nor towards a crash loop, so the
    /// rules keep the pace of the polls. A service without healthcheck is ready in a peek only
    /// if the last poll found it steady and it still runs the same container; a restarting
    /// one waits for the next poll to be counted. A container a peek sees not running did
    /// restart (or stop): the next poll's sighting of it is a first one.
    pub(crate) fn peek(&mut self, entries: &[PsEntry]) -> Observation {
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
    pub(crate) fn restarted(&mut self, container: &str) {
        self.running.remove(container);
        self.steady.remove(container);
    }

    /// One poll, with nothing known of the time since the last one.
    pub(crate) fn observe(&mut self, entries: &[PsEntry]) -> Observation {
        self.observe_apart(entries, Duration::ZERO)
    }

    /// One poll whose listing began at least `apart` after the last poll's listing came
    /// back: a container whose `Status` says it has been up for less than that
    /// ([`PsEntry::up_less_than`]) started in between, so it is not steady.
    pub(crate) fn observe_apart(&mut self, entries: &[PsEntry], apart: Duration) -> Observation {
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
mod model_tests;
#[cfg(test)]
mod restart_tests;
#[cfg(test)]
mod tests;
