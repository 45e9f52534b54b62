//! Containers managed by Proxmox's HA manager (`[container] ha = true`, reference more §4):
//! registering (`ha-manager add ct:<vmid> --state started`), requesting a state
//! (`ha-manager set ct:<vmid> --state started|stopped`; a plain `pct stop` would only be a
//! request too, or be undone) and waiting until `ha-manager status` shows it settled
//! (`service ct:<vmid> (<node>, started|stopped)`), removing the resource.

use std::time::{Duration, Instant};

use crate::config::Container;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::progress::{done, Reporter};
use crate::remote::host::{ensure_success, Host};

/// How long a requested state may take to settle (the CRM and LRM work in 10 s rounds,
/// plus the shutdown or start time).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(240);
const POLL: Duration = Duration::from_millis(500);
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
pub const STATUS: &str = "ha-manager status";

/// The two states pxdeploy requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Started,
    Stopped,
}

impl Wanted {
    pub fn as_str(self) -> &'static str {
        match self {
            Wanted::Started => "started",
            Wanted::Stopped => "stopped",
        }
    }
}

pub fn add(vmid: u32) -> String {
    format!("ha-manager add ct:{vmid} --state started")
}

pub fn set(vmid: u32, wanted: Wanted) -> String {
    format!("ha-manager set ct:{vmid} --state {}", wanted.as_str())
}

pub fn remove(vmid: u32) -> String {
    format!("ha-manager remove ct:{vmid}")
}

/// `service ct:<vmid> (<node>, <state>)` of `ha-manager status`: (node, state); `None` when
/// the container is not HA-managed.
pub fn service(status: &str, vmid: u32) -> Option<(String, String)> {
    let prefix = format!("service ct:{vmid} (");
    status.lines().find_map(|l| {
        let rest = l.trim().strip_prefix(&prefix)?.strip_suffix(')')?;
        let (node, state) = rest.split_once(", ")?;
        Some((node.to_string(), state.to_string()))
    })
}

/// The container's HA service (node, state) now.
pub fn state(host: &Host, vmid: u32) -> Result<Option<(String, String)>> {
    let out = host.probe_ok(STATUS)?;
    Ok(service(&out.stdout_str(), vmid))
}

/// Registers the container (started). Already registered: nothing to do.
pub fn register(host: &Host, vmid: u32, reporter: &dyn Reporter) -> Result<bool> {
    if host.dry_run() {
        host.change(&add(vmid), CALL_TIMEOUT)?;
        return Ok(true);
    }
    reporter.step_with(
        &format!("Registering container {vmid} with the HA manager"),
        |added: &bool| {
            done(if *added {
                format!("ct:{vmid} started")
            } else {
                "already registered".into()
            })
        },
        || {
            if state(host, vmid)?.is_some() {
                return Ok(false);
            }
            ensure_success(&add(vmid), host.change(&add(vmid), CALL_TIMEOUT)?)?;
            Ok(true)
        },
    )
}

/// Requests `wanted` and waits until the HA manager shows it settled.
pub fn request(host: &Host, vmid: u32, wanted: Wanted, reporter: &dyn Reporter) -> Result<()> {
    let verb = match wanted {
        Wanted::Started => "start",
        Wanted::Stopped => "stop",
    };
    let command = set(vmid, wanted);
    if host.dry_run() {
        host.change(&command, CALL_TIMEOUT)?;
        return Ok(());
    }
    reporter
        .step_with(
            &format!("Asking the HA manager to {verb} container {vmid}"),
            |node: &String| done(format!("{} on {node}", wanted.as_str())),
            || {
                ensure_success(&command, host.change(&command, CALL_TIMEOUT)?)?;
                settle(host, vmid, wanted)
            },
        )
        .map(|_| ())
}

/// Polls `ha-manager status` until the service shows `wanted`; returns its node.
fn settle(host: &Host, vmid: u32, wanted: Wanted) -> Result<String> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let now = state(host, vmid)?;
        match &now {
            Some((node, s)) if s == wanted.as_str() => return Ok(node.clone()),
            Some((_, s)) if s == "error" => {
                return Err(Error::remote(format!(
                    "the HA manager put container {vmid} into the error state"
                ))
                .hint(format!(
                    "look at `ha-manager status` and the task log; `ha-manager set ct:{vmid} --state disabled` clears it"
                )))
            }
            None => {
                return Err(Error::remote(format!(
                    "container {vmid} is not managed by the HA manager (any more)"
                )))
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            let shown = now.map(|(n, s)| format!("{s} on {n}")).unwrap_or_default();
            return Err(Error::remote(format!(
                "container {vmid} did not become {} within {}s (HA state: {shown})",
                wanted.as_str(),
                SETTLE_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// Removes the HA resource (before a destroy). Not managed: nothing to do.
pub fn unregister(host: &Host, vmid: u32, reporter: &dyn Reporter) -> Result<()> {
    if host.dry_run() {
        host.change(&remove(vmid), CALL_TIMEOUT)?;
        return Ok(());
    }
    if state(host, vmid)?.is_none() {
        return Ok(());
    }
    reporter.step(
        &format!("Removing container {vmid} from the HA manager"),
        || {
            let command = remove(vmid);
            let out = host.change(&command, CALL_TIMEOUT)?;
            if out.status.success() || out.stderr_str().contains("not HA managed") {
                return Ok(());
            }
            ensure_success(&command, out).map(|_| ())
        },
    )
}

/// `pvesh get /nodes/localhost/storage --output-format json` (has `shared`).
const STORAGES: &str = "pvesh get /nodes/localhost/storage --output-format json";

/// What `check` says about a HA container: its HA state (returned), and a warning (printed)
/// when its storage is not shared: the HA manager cannot recover it on another node when
/// its node fails.
pub fn check(host: &Host, c: &Container, out: &Output) -> Result<String> {
    let (vmid, storage) = (c.vmid, c.storage.as_str());
    let detail = match state(host, vmid)? {
        Some((node, s)) => format!("ct:{vmid} is HA-managed: {s} on {node}"),
        None => format!(
            "ct:{vmid} is not HA-managed (`pxdeploy create` registers a new container; an existing one: `{}` on the host)",
            add(vmid)
        ),
    };
    let listed = host.probe_ok(STORAGES)?;
    let list: Vec<serde_json::Value> =
        serde_json::from_str(listed.stdout_str().trim()).unwrap_or_default();
    let shared = list
        .iter()
        .find(|s| s["storage"] == storage)
        .map(|s| s["shared"].as_u64() == Some(1));
    let warning = match shared {
        Some(true) => None,
        Some(false) => Some(format!(
            "`ha = true`, but storage `{storage}` is not shared: if its node fails, the HA manager cannot start container {vmid} on another node"
        )),
        None => Some(format!(
            "`ha = true`, but storage `{storage}` is not on this node: shared storage is what lets the HA manager recover container {vmid}"
        )),
    };
    if let Some(w) = warning {
        out.warn(w);
    }
    Ok(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_line_of_both_status_formats() {
        let old = "quorum OK\nmaster pve1 (active, Wed Dec 18 19:56:46 2024)\nlrm pve1 (active, Wed Dec 18 19:56:46 2024)\nservice ct:100 (pve1, started)\nservice ct:1001 (pve2, stopping)\n";
        assert_eq!(service(old, 100), Some(("pve1".into(), "started".into())));
        assert_eq!(service(old, 1001), Some(("pve2".into(), "stopping".into())));
        assert_eq!(service(old, 10), None);
        let new = "quorum OK\nmaster pve1 (active, Wed Dec 18 19:56:46 2024)\nfencing armed (CRM watchdog active)\nlrm pve1 (active, watchdog active, Wed Dec 18 19:56:46 2024)\nservice ct:100 (pve1, request_stop)\n";
        assert_eq!(
            service(new, 100),
            Some(("pve1".into(), "request_stop".into()))
        );
        assert_eq!(service("quorum OK\n", 100), None);
    }
}
