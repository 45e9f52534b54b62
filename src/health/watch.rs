//! Docker's events during the health wait: `docker events` for the project's containers,
//! streamed on its own channel of the session, so the wait looks again as soon as a container
//! starts, dies or changes health instead of only every `interval_secs`. A burst of events
//! that only changes the health of containers the last `docker compose ps` listed is applied
//! to that listing ([`apply`]), so the verdict "all healthy" comes the moment Docker says
//! the last one is healthy; any other event (start, die, destroy) makes the wait list the
//! services again. Either way the [`Tracker`]'s rules judge (see [`Tracker::peek`]). A `die`
//! or `start` newer than the last poll's listing also tells the tracker that the container
//! restarted since ([`restarted`]): `restart: always` keeps its id, the event does not lie.
//! Without events (an old Docker, a broken stream) the wait polls at its interval as before.
//!
//! [`Tracker`]: super::Tracker
//! [`Tracker::peek`]: super::Tracker::peek

use std::time::{Duration, Instant};

use crate::compose::{Project, PsEntry};
use crate::remote::host::Host;
use crate::remote::ssh::{ReadLine, RemoteProcess};

/// The events that can change a verdict. `health_status` matches `health_status: healthy`
/// and the others (Docker matches that one by prefix).
const EVENTS: [&str; 4] = ["start", "die", "health_status", "destroy"];

/// After one event, how long to gather the others of the same burst (a recreate is
/// `destroy`, `start`, `health_status: starting`) before looking once.
const BURST: Duration = Duration::from_millis(30);

/// Streams from one second before it started (`--since`), so an event between the first
/// `ps` and the moment the stream is listening is not lost; `cat` holds it until its stdin
/// ends (pxdeploy closes the channel), then stops it.
const SCRIPT: &str = crate::scripts::script!("health-watch.sh");

/// `pct exec <vmid> -- sh -c '<SCRIPT>' sh <project>`
pub(super) fn command(project: &Project) -> String {
    debug_assert!(EVENTS
        .iter()
        .all(|e| SCRIPT.contains(&format!("event={e}"))));
    project
        .inside
        .exec(&["sh", "-c", SCRIPT, "sh", &project.name])
}

/// One line of the stream: `<nanoseconds> <container> <action>`, e.g.
/// `1764470000123456789 app-web-1 health_status: healthy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Event {
    /// When Docker saw it, on the container's clock (nanoseconds since the epoch).
    pub at: i128,
    pub container: String,
    pub action: String,
}

impl Event {
    fn parse(line: &str) -> Option<Event> {
        let mut parts = line.trim().splitn(3, ' ');
        let at = parts.next()?.parse().ok()?;
        let container = parts.next()?.to_string();
        let action = parts.next()?.to_string();
        Some(Event {
            at,
            container,
            action,
        })
    }

    /// `health_status: healthy` → `healthy`.
    fn health(&self) -> Option<&str> {
        self.action.strip_prefix("health_status: ")
    }
}

/// `listing` (a `docker compose ps` that began at `stamp` on the container's clock) with
/// the health changes of `events` newer than it applied, in order. `None` when an event
/// is anything else, or names a container the listing does not show running: only a new
/// listing can tell what that did. Events older than the listing are in it already.
pub(super) fn apply(listing: &[PsEntry], stamp: i128, events: &[Event]) -> Option<Vec<PsEntry>> {
    let mut entries = listing.to_vec();
    for event in events.iter().filter(|e| e.at > stamp) {
        let health = event.health()?;
        let entry = entries
            .iter_mut()
            .find(|e| e.name == event.container && e.state == "running")?;
        entry.health = health.to_string();
    }
    Some(entries)
}

/// The containers that `burst` says died or started after `since` (when the last poll's
/// listing began, on the container's clock; `None`: not known, every such event counts):
/// they restarted since that poll ([`Tracker::restarted`]).
///
/// [`Tracker::restarted`]: super::Tracker::restarted
pub(super) fn restarted(burst: &[Option<Event>], since: Option<i128>) -> Vec<&str> {
    burst
        .iter()
        .flatten()
        .filter(|e| matches!(e.action.as_str(), "die" | "start"))
        .filter(|e| !matches!(since, Some(since) if e.at <= since))
        .map(|e| e.container.as_str())
        .collect()
}

/// Every event of `burst` is older than a listing that began at `stamp`: it holds them.
pub(super) fn stale(burst: &[Option<Event>], stamp: i128) -> bool {
    burst.iter().all(|e| matches!(e, Some(e) if e.at <= stamp))
}

/// The container's clock before a listing: the first line of [`crate::compose::Project::ps_stamped`]'s
/// output, and the rest (the listing). No clock (`date` without `%N`): `None`, and the
/// listing is whatever is not the clock's line.
pub(super) fn split_stamp(stdout: &str) -> (Option<i128>, &str) {
    let (first, rest) = stdout.split_once('\n').unwrap_or((stdout, ""));
    let first = first.trim();
    if !first.is_empty() && first.len() >= 19 && first.bytes().all(|b| b.is_ascii_digit()) {
        return (first.parse().ok(), rest);
    }
    if first.starts_with('{') || first.starts_with('[') || first == "null" {
        return (None, stdout);
    }
    (None, rest)
}

/// The running event stream; closed when dropped.
pub(super) struct Watch {
    process: Option<RemoteProcess>,
}

impl Watch {
    /// Starts the stream (none under `--dry-run`, or when the channel cannot be opened).
    pub(super) fn start(host: &Host, project: &Project) -> Watch {
        if host.dry_run() {
            return Watch { process: None };
        }
        let process = match host.session().spawn(&command(project)) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::debug!(error = %e, "no docker events: polling only");
                None
            }
        };
        Watch { process }
    }

    /// Waits until `until` or an event, whichever comes first, and returns the events of
    /// that burst (none: the time is up). Without a stream (or once it ended) it just sleeps.
    /// A line that is not an event still counts as one (look now), with no content.
    pub(super) fn wait(&mut self, until: Instant) -> Option<Vec<Option<Event>>> {
        let Some(p) = self.process.as_mut() else {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            return None;
        };
        let seen = |line: &str| {
            tracing::debug!(event = %crate::output::sanitize(line), "docker event");
            Event::parse(line)
        };
        match p.read_line(until.saturating_duration_since(Instant::now())) {
            Ok(ReadLine::Line(event)) => {
                let mut events = vec![seen(&event)];
                let burst = Instant::now() + BURST;
                while let (true, Ok(ReadLine::Line(more))) = (
                    Instant::now() < burst,
                    p.read_line(burst.saturating_duration_since(Instant::now())),
                ) {
                    events.push(seen(&more));
                }
                Some(events)
            }
            Ok(ReadLine::TimedOut) => None,
            Ok(ReadLine::Eof) | Err(_) => {
                tracing::debug!(stderr = %p.stderr(), "docker events ended: polling only");
                self.process = None;
                self.wait(until)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, state: &str, health: &str) -> PsEntry {
        serde_json::from_value(serde_json::json!({
            "ID": format!("id-{name}"), "Name": name, "Service": name, "State": state,
            "Health": health, "ExitCode": 0
        }))
        .unwrap()
    }

    fn event(at: i128, line: &str) -> Event {
        Event::parse(&format!("{at} {line}")).unwrap()
    }

    #[test]
    fn events_parse_with_their_clock_container_and_action() {
        assert_eq!(
            Event::parse("1764470000123456789 app-web-1 health_status: healthy"),
            Some(Event {
                at: 1_764_470_000_123_456_789,
                container: "app-web-1".into(),
                action: "health_status: healthy".into(),
            })
        );
        assert_eq!(Event::parse("start app-web-1"), None);
    }

    #[test]
    fn health_changes_newer_than_the_listing_are_applied_in_order() {
        let listed = [
            entry("web", "running", "starting"),
            entry("db", "running", "healthy"),
        ];
        let burst = [
            event(90, "web health_status: unhealthy"), // older than the listing: in it already
            event(110, "web health_status: unhealthy"),
            event(120, "web health_status: healthy"),
        ];
        let now = apply(&listed, 100, &burst).unwrap();
        assert_eq!(now[0].health, "healthy");
        assert_eq!(now[1].health, "healthy");
        let only_old = apply(&listed, 100, &burst[..1]).unwrap();
        assert_eq!(only_old[0].health, "starting");
    }

    #[test]
    fn anything_but_a_health_change_of_a_listed_running_container_needs_a_new_listing() {
        let listed = [
            entry("web", "running", "starting"),
            entry("old", "exited", ""),
        ];
        for line in [
            "web start",
            "web die",
            "web destroy",
            "new health_status: healthy",
            "old health_status: healthy",
        ] {
            assert_eq!(apply(&listed, 100, &[event(200, line)]), None, "{line}");
        }
        // The same events, older than the listing, are in it already.
        assert_eq!(
            apply(&listed, 100, &[event(50, "web die")]),
            Some(listed.to_vec())
        );
    }

    #[test]
    fn deaths_and_starts_after_the_last_poll_are_restarts() {
        let burst = [
            Some(event(90, "app-a-1 die")), // before the poll's listing: in it already
            Some(event(110, "app-b-1 die")),
            Some(event(120, "app-b-1 start")),
            Some(event(130, "app-c-1 health_status: healthy")),
            Some(event(140, "app-d-1 destroy")),
            None,
        ];
        assert_eq!(restarted(&burst, Some(100)), ["app-b-1", "app-b-1"]);
        assert_eq!(restarted(&burst, None), ["app-a-1", "app-b-1", "app-b-1"]);
    }

    #[test]
    fn a_burst_is_stale_only_when_the_listing_holds_every_event_of_it() {
        let old = Some(event(90, "web start"));
        let new = Some(event(110, "web health_status: healthy"));
        assert!(stale(std::slice::from_ref(&old), 100));
        assert!(!stale(&[old.clone(), new], 100));
        assert!(!stale(&[old, None], 100), "a line that does not parse");
    }

    #[test]
    fn the_clock_line_is_split_from_the_listing() {
        let (stamp, rest) = split_stamp("1764470000123456789\n{\"ID\":\"a\"}\n");
        assert_eq!(stamp, Some(1_764_470_000_123_456_789));
        assert_eq!(rest, "{\"ID\":\"a\"}\n");
        // `date` without %N, or no `date`: no clock, and the listing stays whole.
        assert_eq!(split_stamp("1764470000N\n[]\n"), (None, "[]\n"));
        assert_eq!(split_stamp("[]\n"), (None, "[]\n"));
        assert_eq!(split_stamp("{\"ID\":\"a\"}\n"), (None, "{\"ID\":\"a\"}\n"));
    }

    #[test]
    fn command_line() {
        let p = Project::new(
            crate::guest::Inside::Container(210),
            "app",
            "/opt/app",
            "docker-compose.yml",
        );
        let c = command(&p);
        assert!(
            c.starts_with("pct exec 210 -- sh -c 'docker events --since"),
            "{c}"
        );
        assert!(c.ends_with("' sh app"), "{c}");
    }
}
