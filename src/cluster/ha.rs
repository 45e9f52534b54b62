//! Containers managed by Proxmox's HA manager (`[container] ha = true`, docs/cluster.md, "HA"):
//! registering (`ha-manager add ct:<vmid> --state started`), requesting a state
//! (`ha-manager set ct:<vmid> --state started|stopped`; a plain `pct stop` would only be a
//! request too, or be undone), removing the resource, and the one wait ([`wait_for`]) until
//! `ha-manager status` shows the request done (`service ct:<vmid> (<node>, started|stopped)`).
//! Every start, stop and restart of an HA-managed container ends in that wait: the HA
//! manager's own requests here, and `pct start|shutdown`, which for such a container only
//! queue a request and exit 0 ([`queued`], `crate::guest`).

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::output::{sanitize, Output};
use crate::progress::{done, Reporter};
use crate::proxmox::pct::CtState;
use crate::remote::host::{ensure_success, Host};

/// How long a requested state may take to settle (the CRM and LRM work in 10 s rounds,
/// plus the shutdown or start time).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(240);
const POLL: Duration = Duration::from_millis(500);
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const STATUS: &str = "ha-manager status";

/// The two states pxdeploy requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    Started,
    Stopped,
}

impl Wanted {
    /// The state `ha-manager status` shows once it is done (pve-ha-manager
    /// src/PVE/HA/Tools.pm:216-251, `get_verbose_service_state`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Wanted::Started => "started",
            Wanted::Stopped => "stopped",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Wanted::Started => "start",
            Wanted::Stopped => "stop",
        }
    }
}

/// The HA resource id of guest `vmid`: `vm:<vmid>` for a VM, `ct:<vmid>` for a container.
pub(crate) fn sid(vmid: u32, vm: bool) -> String {
    format!("{}:{vmid}", if vm { "vm" } else { "ct" })
}

pub(crate) fn add(vmid: u32, vm: bool) -> String {
    format!("ha-manager add {} --state started", sid(vmid, vm))
}

pub(crate) fn set(vmid: u32, vm: bool, wanted: Wanted) -> String {
    format!(
        "ha-manager set {} --state {}",
        sid(vmid, vm),
        wanted.as_str()
    )
}

pub(crate) fn remove(vmid: u32, vm: bool) -> String {
    format!("ha-manager remove {}", sid(vmid, vm))
}

/// "container" / "VM".
fn noun(vm: bool) -> &'static str {
    if vm {
        "VM"
    } else {
        "container"
    }
}

/// `service ct:<vmid> (<node>, <state>)` of `ha-manager status`: (node, state), with
/// control characters escaped (they come from the node and end up in messages); `None` when
/// the container is not HA-managed.
pub(crate) fn service(status: &str, vmid: u32) -> Option<(String, String)> {
    // `ct:` for a container, `vm:` for a VM: a vmid is one guest in the whole cluster.
    let prefixes = [
        format!("service ct:{vmid} ("),
        format!("service vm:{vmid} ("),
    ];
    status.lines().find_map(|l| {
        let l = l.trim();
        let rest = prefixes
            .iter()
            .find_map(|p| l.strip_prefix(p.as_str()))?
            .strip_suffix(')')?;
        let (node, state) = rest.split_once(", ")?;
        Some((sanitize(node), sanitize(state)))
    })
}

/// The container's HA service (node, state) now.
pub(crate) fn state(host: &Host, vmid: u32) -> Result<Option<(String, String)>> {
    let out = host.probe_ok(STATUS)?;
    Ok(service(&out.stdout_str(), vmid))
}

/// Registers the container (started). Already registered: nothing to do.
pub(crate) fn register(host: &Host, vmid: u32, vm: bool, reporter: &dyn Reporter) -> Result<bool> {
    let add = add(vmid, vm);
    if host.dry_run() {
        host.change(&add, CALL_TIMEOUT)?;
        return Ok(true);
    }
    reporter.step_with(
        &format!("Registering {} {vmid} with the HA manager", noun(vm)),
        |added: &bool| {
            done(if *added {
                format!("{} started", sid(vmid, vm))
            } else {
                "already registered".into()
            })
        },
        || {
            if state(host, vmid)?.is_some() {
                return Ok(false);
            }
            ensure_success(&add, host.change(&add, CALL_TIMEOUT)?)?;
            Ok(true)
        },
    )
}

/// How the wait reads the guest's own state (`pct status` for a container; `None`: not on
/// this node): the guest's caller passes it in, so `ha` does not import `crate::guest`.
pub(crate) type StateOf<'a> = &'a dyn Fn() -> Result<Option<CtState>>;

/// Requests `wanted` (`ha-manager set`) and waits until the HA manager shows it settled.
pub(crate) fn request(
    host: &Host,
    (vmid, vm): (u32, bool),
    wanted: Wanted,
    reporter: &dyn Reporter,
    state_of: StateOf<'_>,
) -> Result<()> {
    let command = set(vmid, vm, wanted);
    if host.dry_run() {
        host.change(&command, CALL_TIMEOUT)?;
        return Ok(());
    }
    reporter
        .step_with(
            &format!(
                "Asking the HA manager to {} {} {vmid}",
                wanted.verb(),
                noun(vm)
            ),
            |node: &String| done(format!("{} on {node}", wanted.as_str())),
            || {
                ensure_success(&command, host.change(&command, CALL_TIMEOUT)?)?;
                wait_for(host, (vmid, vm), wanted, state_of)
            },
        )
        .map(|_| ())
}

/// What a `pct start|stop|shutdown` printed when the container is HA-managed: it only
/// queued a request (`Requesting HA start for CT <vmid>`, pve-container
/// src/PVE/API2/LXC/Status.pm:171, 274, 369) and exited 0; the HA manager acts later.
pub(crate) fn queued(stdout: &str, vmid: u32) -> Option<Wanted> {
    stdout.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Requesting HA ")?;
        let (verb, id) = rest
            .split_once(" for CT ")
            .or_else(|| rest.split_once(" for VM "))?;
        if id.trim().parse::<u32>().ok()? != vmid {
            return None;
        }
        match verb {
            "start" => Some(Wanted::Started),
            "stop" => Some(Wanted::Stopped),
            _ => None,
        }
    })
}

/// After a `pct` command that only queued an HA request ([`queued`]): waits, as a step,
/// until the HA manager has done it.
pub(crate) fn await_queued(
    host: &Host,
    (vmid, vm): (u32, bool),
    wanted: Wanted,
    reporter: &dyn Reporter,
    state_of: StateOf<'_>,
) -> Result<()> {
    reporter
        .step_with(
            &format!(
                "Waiting for the HA manager to {} {} {vmid}",
                wanted.verb(),
                noun(vm)
            ),
            |node: &String| done(format!("{} on {node}", wanted.as_str())),
            || wait_for(host, (vmid, vm), wanted, state_of),
        )
        .map(|_| ())
}

/// The one wait on the HA manager: polls `ha-manager status` until the container's service
/// shows `wanted` and `pct status` (`state_of`) agrees; returns its node. `error` (the HA manager gave up,
/// e.g. on a start that failed), an unmanaged container and the timeout are errors that name
/// the state seen.
pub(crate) fn wait_for(
    host: &Host,
    (vmid, vm): (u32, bool),
    wanted: Wanted,
    state_of: StateOf<'_>,
) -> Result<String> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let now = state(host, vmid)?;
        let late = Instant::now() >= deadline;
        match verdict((vmid, vm), wanted, now.as_ref(), late) {
            Verdict::Settled(node) => match agrees(wanted, state_of)? {
                Ok(()) => return Ok(node),
                Err(actual) if late => return Err(disagrees((vmid, vm), wanted, &node, actual)),
                Err(_) => {}
            },
            Verdict::Failed(err) => return Err(*err),
            Verdict::Pending => {}
        }
        std::thread::sleep(POLL);
    }
}

/// Whether `pct status` agrees with the HA manager's `wanted`: `started` is reported by the
/// LRM's last round (pve-ha-manager src/PVE/HA/Tools.pm:244 shows `starting` only once the
/// LRM has seen it down), so right after a container stopped it can still say `started`.
/// A container that is not on this node any more (the HA manager moved it) agrees.
fn agrees(wanted: Wanted, state_of: StateOf<'_>) -> Result<std::result::Result<(), CtState>> {
    Ok(match (wanted, state_of()?) {
        (_, None) | (Wanted::Started, Some(CtState::Running)) => Ok(()),
        (Wanted::Stopped, Some(CtState::Stopped)) => Ok(()),
        (_, Some(actual)) => Err(actual),
    })
}

fn disagrees((vmid, vm): (u32, bool), wanted: Wanted, node: &str, actual: CtState) -> Error {
    let (sid, tool) = (sid(vmid, vm), if vm { "qm" } else { "pct" });
    Error::remote(format!(
        "{} {vmid} did not {} within {}s: the HA manager shows it `{}`, but it is {}",
        noun(vm),
        wanted.verb(),
        SETTLE_TIMEOUT.as_secs(),
        wanted.as_str(),
        actual.as_str()
    ))
    .cause(format!(
        "`{STATUS}`: service {sid} ({node}, {}); `{tool} status {vmid}`: status: {}",
        wanted.as_str(),
        actual.as_str()
    ))
    .hint(format!(
        "`journalctl -u pve-ha-lrm` on {node} says what the HA manager is doing with it"
    ))
}

pub(crate) enum Verdict {
    Settled(String),
    Pending,
    Failed(Box<Error>),
}

/// What one `ha-manager status` reading means while waiting for `wanted`.
pub(crate) fn verdict(
    (vmid, vm): (u32, bool),
    wanted: Wanted,
    now: Option<&(String, String)>,
    late: bool,
) -> Verdict {
    let fail = |e: Error| Verdict::Failed(Box::new(e));
    let (noun, sid) = (noun(vm), sid(vmid, vm));
    let Some((node, state)) = now else {
        return fail(
            Error::remote(format!(
                "{noun} {vmid} did not {}: it is not managed by the HA manager (any more)",
                wanted.verb()
            ))
            .cause(format!("`{STATUS}` lists no `service {sid}`"))
            .hint(format!(
                "someone removed it meanwhile (`ha-manager remove {sid}`); `pxdeploy status` shows the {noun}'s state"
            )),
        );
    };
    let seen = || format!("`{STATUS}`: service {sid} ({node}, {state})");
    if state == wanted.as_str() {
        return Verdict::Settled(node.clone());
    }
    if state == "error" {
        return fail(
            Error::remote(format!(
                "{noun} {vmid} did not {}: the HA manager shows it in state `error`",
                wanted.verb()
            ))
            .cause(seen())
            .hint(format!(
                "the HA manager gives up on a {noun} it could not start or stop (a lock, a failed start): `journalctl -u pve-ha-lrm` on {node} says why; fix that, then `ha-manager set {sid} --state disabled` clears the error and `pxdeploy start` starts it again"
            )),
        );
    }
    if late {
        return fail(
            Error::remote(format!(
                "{noun} {vmid} did not {} within {}s: the HA manager still shows it in state `{state}`",
                wanted.verb(),
                SETTLE_TIMEOUT.as_secs()
            ))
            .cause(seen())
            .hint(format!(
                "the HA manager works in rounds of about 10 s; `ha-manager status` on {node} shows whether it is still at it, `journalctl -u pve-ha-crm -u pve-ha-lrm` why not"
            )),
        );
    }
    Verdict::Pending
}

/// vzdump's refusal of `--mode stop` for an HA-managed container whose requested state is
/// `started` (pve-manager PVE/VZDump.pm:939-945): every such backup fails.
const STOP_MODE_REFUSED: &str =
    "Cannot execute a backup with stop mode on a HA managed and enabled Service.";

/// Whether a vzdump failure reason is [`STOP_MODE_REFUSED`].
pub(crate) fn refuses_stop_mode(reason: &str) -> bool {
    reason.contains(STOP_MODE_REFUSED)
}

/// Removes the HA resource (before a destroy). Not managed: nothing to do.
pub(crate) fn unregister(host: &Host, vmid: u32, vm: bool, reporter: &dyn Reporter) -> Result<()> {
    if host.dry_run() {
        host.change(&remove(vmid, vm), CALL_TIMEOUT)?;
        return Ok(());
    }
    if state(host, vmid)?.is_none() {
        return Ok(());
    }
    reporter.step(
        &format!("Removing {} {vmid} from the HA manager", noun(vm)),
        || {
            let command = remove(vmid, vm);
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
pub(crate) fn check(
    host: &Host,
    (vmid, vm): (u32, bool),
    storage: &str,
    out: &Output,
) -> Result<String> {
    let id = sid(vmid, vm);
    let detail = match state(host, vmid)? {
        Some((node, s)) => format!("{id} is HA-managed: {s} on {node}"),
        None => format!(
            "{id} is not HA-managed (`pxdeploy create` registers a new {}; an existing one: `{}` on the host)",
            noun(vm),
            add(vmid, vm)
        ),
    };
    let listed = host.probe_ok(STORAGES)?;
    let list: Vec<serde_json::Value> =
        serde_json::from_str(listed.stdout_str().trim()).unwrap_or_default();
    let shared = list
        .iter()
        .find(|s| s["storage"] == storage)
        .map(|s| s["shared"].as_u64() == Some(1));
    if let Some(w) = storage_warning(shared, storage, vmid, vm) {
        out.warn(w);
    }
    Ok(detail)
}

/// The warning of `check` when the guest's storage is not shared (`Some(false)`) or not on
/// this node (`None`).
fn storage_warning(shared: Option<bool>, storage: &str, vmid: u32, vm: bool) -> Option<String> {
    let guest = format!("{} {vmid}", noun(vm));
    match shared {
        Some(true) => None,
        Some(false) => Some(format!(
            "`ha = true`, but storage `{storage}` is not shared: if its node fails, the HA manager cannot start {guest} on another node"
        )),
        None => Some(format!(
            "`ha = true`, but storage `{storage}` is not on this node: shared storage is what lets the HA manager recover {guest}"
        )),
    }
}

#[cfg(test)]
#[path = "ha_tests.rs"]
mod tests;
