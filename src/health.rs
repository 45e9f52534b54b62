//! The health wait: poll `docker compose ps -a --format json` until every health-checked
//! service is running and healthy (or running with no healthcheck), fail at once when one
//! exits or keeps restarting, and at the deadline explain which ones are not healthy, with
//! their last log lines. Used by deploy, start and restart; `status` takes one snapshot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::compose::{self, Project, PsEntry};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Reporter;
use crate::remote::host::Host;

mod replicas;
use replicas::replicas;
pub use replicas::Replicas;

/// Log lines shown for each failing service.
pub const LOG_LINES: u32 = 20;
/// Bound of one `ps` or `logs` call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// row (same container): a crash-looping one is caught restarting or exited meanwhile.
    require_steady: bool,
    running: HashMap<String, String>,
    restarts: HashMap<String, u32>,
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
            restarts: HashMap::new(),
            labels: HashMap::new(),
            model: compose::model::Model::default(),
        }
    }

    /// Judges with what the compose file says of each service (one-shot, replicas).
    pub fn with_model(mut self, model: &compose::model::Model) -> Self {
        self.model = model.clone();
        self
    }

    pub fn observe(&mut self, entries: &[PsEntry]) -> Observation {
        let mut services = Vec::new();
        let mut changed = Vec::new();
        for name in self.services.clone() {
            let containers: Vec<&PsEntry> = entries
                .iter()
                .filter(|e| e.service == name && !e.is_one_off())
                .collect();
            let (health, phase) = if containers.is_empty() {
                self.running.remove(&name);
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
                "" => {
                    let steady = self.running.get(key) == Some(&c.id);
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
        if c.state != "running" {
            self.running.remove(key);
        }
        sh.ok = phase == Phase::Ready;
        (sh, phase)
    }
}

/// How long and how often.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub timeout: Duration,
    pub interval: Duration,
}

impl Timing {
    pub fn from_config(cfg: &Config) -> Self {
        Timing {
            timeout: Duration::from_secs(cfg.health.timeout_secs),
            interval: Duration::from_secs(cfg.health.interval_secs.max(1)),
        }
    }
}

/// `docker compose ps -a --format json`, parsed. `Ok(Err(stderr))` when Compose or Docker
/// did not answer (e.g. the daemon is still starting after `pct start`).
fn poll(
    host: &Host,
    project: &Project,
    timeout: Duration,
) -> Result<std::result::Result<Vec<PsEntry>, String>> {
    let command = project.ps();
    let out = host.session().exec(&command, None, timeout)?;
    if !out.status.success() {
        let stderr = out.stderr_str();
        let why = compose::last_lines(&stderr, 3);
        return Ok(Err(format!(
            "`{command}` {}: {}",
            out.status,
            crate::output::sanitize(&why)
        )));
    }
    compose::parse_ps(&out.stdout_str())
        .map(Ok)
        .map_err(|e| Error::remote(format!("cannot read the output of `{command}`")).cause(e))
}

/// One look at the services (for `status`): no waiting, a service without healthcheck
/// passes as soon as it runs.
pub fn snapshot(host: &Host, project: &Project, services: &[String]) -> Result<Vec<ServiceHealth>> {
    match poll(host, project, CALL_TIMEOUT)? {
        Ok(entries) => Ok(Tracker::new(services, false)
            .with_model(&project.model)
            .observe(&entries)
            .health()),
        Err(why) => Err(Error::remote("cannot list the services").cause(why)),
    }
}

/// [`wait_for`] with the configuration's project, services and timing.
pub fn wait(host: &Host, cfg: &Config, reporter: &dyn Reporter) -> Result<Vec<ServiceHealth>> {
    let project = project_of(cfg);
    let services = cfg.health_services();
    wait_for(
        host,
        &project,
        &services,
        Timing::from_config(cfg),
        reporter,
    )
}

/// The Compose project of the configuration.
pub fn project_of(cfg: &Config) -> Project {
    Project::new(
        cfg.container.vmid,
        &cfg.app.name,
        &cfg.app.remote_dir(),
        &cfg.app.compose_file,
    )
    .with(
        &cfg.app.remote_dir(),
        cfg.app.compose_file.rest(),
        &cfg.app.profiles,
        cfg.compose.clone(),
    )
}

/// Polls every `interval` until every service passes (Ok), one fails for good (exit 6 at
/// once), or `timeout` passes (exit 6 with the table and the failing services' logs).
pub fn wait_for(
    host: &Host,
    project: &Project,
    services: &[String],
    timing: Timing,
    reporter: &dyn Reporter,
) -> Result<Vec<ServiceHealth>> {
    let started = Instant::now();
    let deadline = started + timing.timeout;
    let mut tracker = Tracker::new(services, true).with_model(&project.model);
    reporter.start(&format!(
        "Waiting for {} to be healthy (timeout {}s)",
        plural(services.len(), "service"),
        timing.timeout.as_secs()
    ));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let polled = poll(host, project, CALL_TIMEOUT.min(left + timing.interval))?;
        let obs = match &polled {
            Ok(entries) => tracker.observe(entries),
            Err(_) => tracker.observe(&[]),
        };
        for (name, label) in &obs.changed {
            if polled.is_ok() {
                reporter.service(name, label);
            }
        }
        let failed = obs.failed();
        if !failed.is_empty() {
            let names: Vec<String> = failed.iter().map(|s| s.service.clone()).collect();
            let what: Vec<String> = failed
                .iter()
                .map(|s| match s.state.as_str() {
                    "restarting" => format!("`{}` keeps restarting", s.service),
                    _ => format!("`{}` {}", s.service, s.label()),
                })
                .collect();
            reporter.failed(&what.join(", "));
            return Err(explain(
                host,
                project,
                &obs.health(),
                &names,
                format!("service {}", what.join(", ")),
            ));
        }
        if polled.is_ok() && obs.all_ready() {
            reporter.done(&format!(
                "all healthy in {:.1}s",
                started.elapsed().as_secs_f64()
            ));
            return Ok(obs.health());
        }
        let now = Instant::now();
        if now >= deadline {
            let failing: Vec<String> = obs.not_ready().iter().map(|s| s.service.clone()).collect();
            reporter.failed(&format!("not healthy: {}", failing.join(", ")));
            let mut err = explain(
                host,
                project,
                &obs.health(),
                &failing,
                format!(
                    "{} not healthy after {}s: {}",
                    if failing.len() == 1 {
                        "service"
                    } else {
                        "services"
                    },
                    timing.timeout.as_secs(),
                    failing.join(", ")
                ),
            );
            if let Err(why) = polled {
                err = err.cause(why);
            }
            return Err(err);
        }
        std::thread::sleep(timing.interval.min(deadline - now));
    }
}

/// The exit-6 error: a table of the services, then the last log lines of each failing one.
pub fn explain(
    host: &Host,
    project: &Project,
    services: &[ServiceHealth],
    failing: &[String],
    message: String,
) -> Error {
    let mut err = Error::unhealthy(message).cause(table(services));
    for name in failing {
        let command = project.logs(Some(name), Some(LOG_LINES), false);
        let text = match host.session().exec(&command, None, CALL_TIMEOUT) {
            Ok(out) if out.status.success() => {
                let lines = compose::last_lines(&out.stdout_str(), LOG_LINES as usize);
                if lines.is_empty() {
                    "(no log lines)".to_string()
                } else {
                    crate::output::sanitize(&lines)
                }
            }
            Ok(out) => format!("(`{command}` {})", out.status),
            Err(e) => format!("({e})"),
        };
        err = err.cause(format!("last {LOG_LINES} log lines of `{name}`:\n{text}"));
    }
    err.hint(
        "`pxdeploy logs SERVICE` shows more; if a service only needs longer to start, raise [health] timeout_secs",
    )
    .facts(serde_json::json!({ "services": services }))
}

/// `SERVICE  STATE  HEALTH` lines.
pub fn table(services: &[ServiceHealth]) -> String {
    let w = services
        .iter()
        .map(|s| s.service.len())
        .max()
        .unwrap_or(0)
        .max("SERVICE".len());
    let mut out = format!("{:<w$}  {:<12}  HEALTH", "SERVICE", "STATE");
    for s in services {
        let state = match (s.state.as_str(), s.exit_code) {
            ("exited" | "dead", Some(c)) => format!("{} ({c})", s.state),
            _ => s.state.clone(),
        };
        out.push_str(&format!("\n{:<w$}  {:<12}  {}", s.service, state, s.health));
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
