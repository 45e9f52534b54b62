//! The health wait: poll `docker compose ps -a --format json` until every health-checked
//! service is running and healthy (or running with no healthcheck), fail at once when one
//! exits or keeps restarting, and at the deadline explain which ones are not healthy, with
//! their last log lines. Used by deploy, start and restart; `status` takes one snapshot.

use std::time::{Duration, Instant};

use crate::compose::{self, Project, PsEntry};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::guest::Guest;
use crate::output::{sanitize, tail};
use crate::progress::{done, Reporter};
use crate::remote::host::Host;

mod tracker;
mod watch;

pub(crate) use self::tracker::{ServiceHealth, Tracker};

/// Log lines shown for each failing service.
pub(crate) const LOG_LINES: u32 = 20;
/// Bound of one `ps` or `logs` call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long and how often.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub timeout: Duration,
    pub interval: Duration,
}

impl Timing {
    pub(crate) fn from_config(cfg: &Config) -> Self {
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
    Ok(listing(host, project, false, timeout)?.map(|(_, entries)| entries))
}

/// A listing and the container's clock when it began (none: no `date +%s%N` there).
type Stamped = (Option<i128>, Vec<PsEntry>);

/// [`poll`] with the container's clock when the listing began ([`Project::ps_stamped`]),
/// which tells the Docker events the listing holds from newer ones ([`watch::apply`]).
fn poll_stamped(
    host: &Host,
    project: &Project,
    timeout: Duration,
) -> Result<std::result::Result<Stamped, String>> {
    listing(host, project, true, timeout)
}

/// `docker compose ps`, [`Project::ps_stamped`] when `stamped`; messages name the `ps`.
fn listing(
    host: &Host,
    project: &Project,
    stamped: bool,
    timeout: Duration,
) -> Result<std::result::Result<Stamped, String>> {
    let shown = project.ps();
    let command = match stamped {
        true => project.ps_stamped(),
        false => shown.clone(),
    };
    let out = host.session().exec(&command, None, timeout)?;
    if !out.status.success() {
        let stderr = out.stderr_str();
        return Ok(Err(format!(
            "`{shown}` {}: {}",
            out.status,
            tail(&stderr, 3)
        )));
    }
    let stdout = out.stdout_str();
    let (stamp, text) = match stamped {
        true => watch::split_stamp(&stdout),
        false => (None, stdout.as_str()),
    };
    compose::parse_ps(text)
        .map(|entries| Ok((stamp, entries)))
        .map_err(|e| Error::remote(format!("cannot read the output of `{shown}`")).cause(e))
}

/// One look at the services (for `status`): no waiting, a service without healthcheck
/// passes as soon as it runs.
pub(crate) fn snapshot(
    guest: Guest<'_>,
    project: &Project,
    services: &[String],
) -> Result<Vec<ServiceHealth>> {
    let host = guest.inside_host()?;
    match poll(host, project, CALL_TIMEOUT)? {
        Ok(entries) => Ok(Tracker::new(services, false)
            .with_model(&project.model)
            .observe(&entries)
            .health()),
        Err(why) => Err(Error::remote("cannot list the services").cause(why)),
    }
}

/// [`snapshot`] of a listing already read (`docker compose ps -a --format json`'s stdout).
pub(crate) fn from_listing(
    project: &Project,
    services: &[String],
    stdout: &str,
) -> Result<Vec<ServiceHealth>> {
    let entries = compose::parse_ps(stdout).map_err(|e| {
        Error::remote(format!("cannot read the output of `{}`", project.ps())).cause(e)
    })?;
    Ok(Tracker::new(services, false)
        .with_model(&project.model)
        .observe(&entries)
        .health())
}

/// [`wait_for`] with the configuration's project, services and timing.
pub(crate) fn wait(
    guest: Guest<'_>,
    cfg: &Config,
    reporter: &dyn Reporter,
) -> Result<Vec<ServiceHealth>> {
    let project = cfg.project();
    let services = cfg.health_services();
    wait_for(
        guest,
        &project,
        &services,
        Timing::from_config(cfg),
        reporter,
    )
}

/// Polls every `interval` until every service passes (Ok), one fails for good (exit 6 at
/// once), or `timeout` passes (exit 6 with the table and the failing services' logs).
pub(crate) fn wait_for(
    guest: Guest<'_>,
    project: &Project,
    services: &[String],
    timing: Timing,
    reporter: &dyn Reporter,
) -> Result<Vec<ServiceHealth>> {
    let host = guest.inside_host()?;
    let started = Instant::now();
    reporter.step_with(
        &format!(
            "Waiting for {} to be healthy (timeout {}s)",
            plural(services.len(), "service"),
            timing.timeout.as_secs()
        ),
        |_| {
            done(format!(
                "all healthy in {:.1}s",
                started.elapsed().as_secs_f64()
            ))
        },
        || poll_until_ready(host, project, services, timing, reporter),
    )
}

fn poll_until_ready(
    host: &Host,
    project: &Project,
    services: &[String],
    timing: Timing,
    reporter: &dyn Reporter,
) -> Result<Vec<ServiceHealth>> {
    let deadline = Instant::now() + timing.timeout;
    let mut tracker = Tracker::new(services, true).with_model(&project.model);
    let mut watch = watch::Watch::start(host, project);
    // A poll every `interval`; in between, a peek whenever Docker reports a change.
    let mut peek = false;
    let mut next_poll = Instant::now();
    // The last listing with its clock, and the events of the last burst.
    let mut last: Option<(i128, Vec<PsEntry>)> = None;
    let mut events: Option<Vec<Option<watch::Event>>> = None;
    // Of the last poll (not peek) that listed: when it came back, and its clock when it began.
    let mut polled_back: Option<Instant> = None;
    let mut polled_stamp: Option<i128> = None;
    let mut apart = Duration::ZERO;
    loop {
        if Instant::now() >= next_poll {
            peek = false;
        }
        // Only health changes of listed containers: the listing with them applied.
        let applied = match (peek, events.take(), &last) {
            (true, Some(burst), Some((stamp, listed))) => burst
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .and_then(|burst| watch::apply(listed, *stamp, &burst)),
            _ => None,
        };
        let polled = match applied {
            Some(entries) => {
                if let Some((_, listed)) = last.as_mut() {
                    listed.clone_from(&entries);
                }
                Ok(entries)
            }
            None => {
                let asked = Instant::now();
                let left = deadline.saturating_duration_since(asked);
                let polled =
                    match poll_stamped(host, project, CALL_TIMEOUT.min(left + timing.interval)) {
                        // A poll that outlived the deadline (a slow host) is the timeout's
                        // verdict (exit 6 with the states seen so far), not a failed remote step.
                        Err(e) if e.kind == ErrorKind::Remote && Instant::now() >= deadline => {
                            Err(e.to_string())
                        }
                        other => other?,
                    };
                last = match &polled {
                    Ok((Some(stamp), entries)) => Some((*stamp, entries.clone())),
                    _ => None,
                };
                if let (Ok((stamp, _)), false) = (&polled, peek) {
                    apart = polled_back
                        .map_or(Duration::ZERO, |back| asked.saturating_duration_since(back));
                    polled_back = Some(Instant::now());
                    polled_stamp = *stamp;
                }
                polled.map(|(_, entries)| entries)
            }
        };
        let obs = match (&polled, peek) {
            (Ok(entries), false) => tracker.observe_apart(entries, apart),
            (Ok(entries), true) => tracker.peek(entries),
            (Err(_), false) => tracker.observe(&[]),
            (Err(_), true) => tracker.peek(&[]),
        };
        if !peek {
            next_poll = Instant::now() + timing.interval;
        }
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
            return Err(explain(
                host,
                project,
                &obs.health(),
                &names,
                format!("service {}", what.join(", ")),
            ));
        }
        if polled.is_ok() && obs.all_ready() {
            return Ok(obs.health());
        }
        let now = Instant::now();
        if now >= deadline {
            let failing: Vec<String> = obs.not_ready().iter().map(|s| s.service.clone()).collect();
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
        events = watch.wait(next_poll.min(deadline));
        restarts(&mut tracker, &events, polled_stamp);
        // Events the last listing holds already (replayed by `--since`, or sent while it
        // ran) change nothing: wait on.
        while let (Some(burst), Some((stamp, _))) = (&events, &last) {
            if !watch::stale(burst, *stamp) {
                break;
            }
            events = watch.wait(next_poll.min(deadline));
            restarts(&mut tracker, &events, polled_stamp);
        }
        peek = events.is_some();
    }
}

/// Tells the tracker of the containers that died or started since the last poll's listing
/// (a `restart: always` container keeps its id: two polls that each caught it running are
/// not steady when it restarted in between).
fn restarts(
    tracker: &mut Tracker,
    events: &Option<Vec<Option<watch::Event>>>,
    since: Option<i128>,
) {
    for container in events
        .as_deref()
        .map_or(vec![], |b| watch::restarted(b, since))
    {
        tracker.restarted(container);
    }
}

/// The exit-6 error: a table of the services, then the last log lines of each failing one.
pub(crate) fn explain(
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
                let lines = tail(&out.stdout_str(), LOG_LINES as usize);
                if lines.is_empty() {
                    "(no log lines)".to_string()
                } else {
                    lines
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

/// `SERVICE  STATE  HEALTH` lines; what Compose reported is [`sanitize`]d.
pub(crate) fn table(services: &[ServiceHealth]) -> String {
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
        out.push_str(&format!(
            "\n{:<w$}  {:<12}  {}",
            sanitize(&s.service),
            sanitize(&state),
            sanitize(&s.health)
        ));
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

    /// `docker compose ps` text is remote text: a hostile container name, state or health
    /// cannot move the cursor of the terminal the table is printed on.
    #[test]
    fn table_escapes_remote_text() {
        let hostile = ServiceHealth {
            service: "web\x1b[2J".into(),
            state: "running\x1b]0;owned\x07".into(),
            health: "healthy\r".into(),
            exit_code: None,
            ok: true,
            replicas: None,
        };
        let shown = table(&[hostile]);
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown:?}"
        );
        assert!(shown.contains("web\\x1b[2J"), "{shown}");
        assert!(shown.contains("running\\x1b]0;owned\\x07"), "{shown}");
        assert!(shown.contains("healthy\\x0d"), "{shown}");
    }
}
