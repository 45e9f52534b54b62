//! Docker's events during the health wait: `docker events` for the project's containers,
//! streamed on its own channel of the session, so the wait looks again as soon as a container
//! starts, dies or changes health instead of only every `interval_secs`. The events only say
//! *when* to look: every verdict still comes from `docker compose ps` and the [`Tracker`]'s
//! rules (see [`Tracker::peek`]). Without events (an old Docker, a broken stream) the wait
//! polls at its interval as before.
//!
//! [`Tracker`]: super::Tracker
//! [`Tracker::peek`]: super::Tracker::peek

use std::time::{Duration, Instant};

use crate::compose::Project;
use crate::proxmox::pct;
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
const SCRIPT: &str = "docker events --since \"$(($(date +%s) - 1))\" \
--filter type=container --filter \"label=com.docker.compose.project=$1\" \
--filter event=start --filter event=die --filter event=health_status --filter event=destroy \
--format '{{.Action}} {{.Actor.Attributes.name}}' </dev/null & \
cat >/dev/null; kill $! 2>/dev/null";

/// `pct exec <vmid> -- sh -c '<SCRIPT>' sh <project>`
pub fn command(project: &Project) -> String {
    debug_assert!(EVENTS
        .iter()
        .all(|e| SCRIPT.contains(&format!("event={e}"))));
    pct::exec(project.vmid, &["sh", "-c", SCRIPT, "sh", &project.name])
}

/// The running event stream; closed when dropped.
pub struct Watch {
    process: Option<RemoteProcess>,
}

impl Watch {
    /// Starts the stream (none under `--dry-run`, or when the channel cannot be opened).
    pub fn start(host: &Host, project: &Project) -> Watch {
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

    /// Waits until `until` or an event, whichever comes first. True: something happened
    /// (look now). Without a stream (or once it ended) it just sleeps.
    pub fn wait(&mut self, until: Instant) -> bool {
        let Some(p) = self.process.as_mut() else {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            return false;
        };
        match p.read_line(until.saturating_duration_since(Instant::now())) {
            Ok(ReadLine::Line(event)) => {
                tracing::debug!(event = %crate::output::sanitize(&event), "docker event");
                let burst = Instant::now() + BURST;
                while let (true, Ok(ReadLine::Line(more))) = (
                    Instant::now() < burst,
                    p.read_line(burst.saturating_duration_since(Instant::now())),
                ) {
                    tracing::debug!(event = %crate::output::sanitize(&more), "docker event");
                }
                true
            }
            Ok(ReadLine::TimedOut) => false,
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

    #[test]
    fn command_line() {
        let p = Project::new(210, "app", "/opt/app", "docker-compose.yml");
        let c = command(&p);
        assert!(
            c.starts_with("pct exec 210 -- sh -c 'docker events --since"),
            "{c}"
        );
        assert!(c.ends_with("' sh app"), "{c}");
    }
}
