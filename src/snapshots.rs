//! Container snapshots as the commands use them: can this container be snapshotted (for
//! `check` and before a deploy changes anything), the `pxdeploy_*` snapshot a deploy takes
//! with its pruning to `[deploy] keep_snapshots`, and the list of snapshots.

use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::guest::{CtState, Guest, Kind, Op, Snapshot};
use crate::output::sanitize;
use crate::progress::{done, Reporter};
use crate::proxmox::pct::snapshot as snap;
use crate::proxmox::pvesm;
use crate::remote::host::Host;

/// Bound of one `pct snapshot` / `pct delsnapshot` / `pct rollback`.
pub(crate) const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);

/// Why the container's volumes cannot be snapshotted, if they cannot. The container's own
/// `pct config` when it exists, else the configured `container.storage` (what `create` uses).
pub(crate) fn blocker(host: &Host, cfg: &Config) -> Result<Option<String>> {
    let vmid = cfg.vmid();
    let guest = Guest::of(host, cfg);
    let mounts = match guest.state()? {
        Some(_) => guest.volumes()?,
        None => vec![(
            "rootfs".to_string(),
            format!("{}:vm-{vmid}-disk-0", cfg.storage()),
        )],
    };
    let storages = pvesm::parse_status(&host.probe_ok(&pvesm::status())?.stdout_str());
    let kind_of = |id: &str| {
        storages
            .iter()
            .find(|s| s.name == id)
            .map(|s| s.kind.clone())
    };
    Ok(snap::blocker(&mounts, &kind_of).map(|why| sanitize(&why)))
}

/// The fix for a guest that cannot be snapshotted: the move of its root volume (a VM's
/// boot disk is `scsi0`) with the kind's own tool.
pub(crate) fn fix(kind: Kind, vmid: u32) -> String {
    let example = match kind {
        Kind::Container => format!("pct move-volume {vmid} rootfs local-lvm"),
        Kind::Vm => format!("qm disk move {vmid} scsi0 local-lvm"),
    };
    format!(
        "set `snapshot = false` under [deploy], or move the {}'s volumes to a storage that can snapshot ({}), e.g. `{example}` on the host",
        kind.noun(),
        snap::SNAPSHOT_TYPES.join(", ")
    )
}

/// `[deploy] snapshot = true` on a guest that cannot be snapshotted (exit 5).
fn unsupported(kind: Kind, vmid: u32, why: &str) -> Error {
    Error::remote(format!(
        "{} {vmid} cannot be snapshotted, and `[deploy] snapshot = true`: nothing was changed",
        kind.noun()
    ))
    .cause(why.to_string())
    .hint(fix(kind, vmid))
}

/// When a deploy takes its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// Snapshots are off, or there is no container yet (the deploy fails on that by itself).
    Never,
    /// Now: the container is stopped, and starting it is the deploy's first change.
    Now,
    /// Once the deploy knows it will change something: an unchanged deploy takes none, so it
    /// does not push a useful snapshot out of `keep_snapshots`.
    IfChanged,
}

/// When a deploy takes a snapshot (`[deploy] snapshot = true`), decided before the deploy
/// changes anything: a container that cannot be snapshotted is refused here (exit 5).
pub(crate) fn when(host: &Host, cfg: &Config) -> Result<When> {
    let vmid = cfg.vmid();
    let guest = Guest::of(host, cfg);
    let state = match cfg.deploy.snapshot {
        true => guest.state()?,
        false => None,
    };
    let Some(state) = state else {
        return Ok(When::Never);
    };
    if let Some(why) = blocker(host, cfg)? {
        return Err(unsupported(guest.kind(), vmid, &why));
    }
    Ok(match state {
        CtState::Running => When::IfChanged,
        _ => When::Now,
    })
}

/// The deploy's snapshot step, at the moment [`when`] said: takes `pxdeploy_<UTC stamp>`, then deletes the oldest `pxdeploy_*`
/// beyond `keep_snapshots`. Returns the new snapshot's name.
pub(crate) fn before_deploy(host: &Host, cfg: &Config, reporter: &dyn Reporter) -> Result<String> {
    let vmid = cfg.vmid();
    let guest = Guest::of(host, cfg);
    let existing = guest.snapshots()?;
    let name = snap::unique_name(&snap::name_at(SystemTime::now()), &existing);
    let command = guest.line(Op::Snapshot(&name));
    reporter.step(
        &format!("Taking snapshot {name} of {} {vmid}", cfg.kind().noun()),
        || {
            let out = host.change(&command, SNAPSHOT_TIMEOUT)?;
            if out.status.success() {
                return Ok(());
            }
            if out
                .stderr_str()
                .contains("snapshot feature is not available")
            {
                return Err(unsupported(
                    guest.kind(),
                    vmid,
                    &format!(
                        "`{} snapshot`: snapshot feature is not available",
                        guest.kind().tool()
                    ),
                ));
            }
            Err(guest.refused(&command, out))
        },
    )?;
    let mut all = existing;
    all.push(Snapshot {
        name: name.clone(),
        time: None,
        description: None,
    });
    let old = snap::to_prune(&all, cfg.deploy.keep_snapshots);
    if !old.is_empty() {
        reporter.step_with(
            &format!(
                "Keeping the newest {} pxdeploy snapshots",
                cfg.deploy.keep_snapshots
            ),
            |n: &usize| done(format!("{n} deleted")),
            || {
                for old in &old {
                    host.change_ok(&guest.line(Op::DeleteSnapshot(old)), SNAPSHOT_TIMEOUT)?;
                }
                Ok(old.len())
            },
        )?;
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_and_its_fix_speak_of_the_guests_kind() {
        let e = unsupported(Kind::Vm, 220, "storage `local` (dir) cannot snapshot");
        assert_eq!(e.exit_code(), 5);
        assert_eq!(
            e.message,
            "VM 220 cannot be snapshotted, and `[deploy] snapshot = true`: nothing was changed"
        );
        let hint = fix(Kind::Vm, 220);
        assert!(hint.contains("move the VM's volumes"), "{hint}");
        assert!(
            hint.contains("`qm disk move 220 scsi0 local-lvm`"),
            "{hint}"
        );
        assert!(!hint.contains("pct"), "{hint}");
        let e = unsupported(Kind::Container, 210, "why");
        assert!(e.message.starts_with("container 210 cannot be snapshotted"));
        assert!(fix(Kind::Container, 210).contains("`pct move-volume 210 rootfs local-lvm`"));
    }
}
