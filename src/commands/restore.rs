//! `pxdeploy restore [VOLID] [--latest]`: the whole container from a vzdump archive on
//! `[backup] storage`. Confirmation as `destroy`, Proxmox's protection honoured, under the
//! deploy lock: stop → `pct restore <vmid> <volid> --force 1 --storage <container.storage>`
//! → start → health wait.

use std::time::Duration;

use serde_json::json;

use super::context::Context;
use super::destructive::{self, Action};
use crate::cli::RestoreArgs;
use crate::error::{Error, Result};
use crate::guest::{CtState, Guest, Kind, Op};
use crate::output::{sanitize, size};
use crate::proxmox::pvesm::{self, BackupEntry};

/// Bound of one `pct restore` (it extracts the whole archive).
const RESTORE_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

pub(super) fn run(ctx: &Context, args: &RestoreArgs) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let storage = &config.backup.storage;
    let host = ctx.connect(&config)?;
    let guest = Guest::of(&host, &config);
    let state = guest.state()?;
    let mut backups: Vec<BackupEntry> = pvesm::parse_list(
        &host
            .probe_ok(&pvesm::list_backups(storage, vmid))?
            .stdout_str(),
    )
    .into_iter()
    .filter(|b| b.vmid.map_or(true, |v| v == vmid))
    .collect();
    backups.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.volid.cmp(&b.volid)));
    let archive = choose(
        &backups,
        args.volid.as_deref(),
        &format!("{noun} {vmid}"),
        storage,
    )?;

    let mut hostname = config.hostname().to_string();
    if state.is_some() {
        let action = Action {
            command: match guest.kind() {
                Kind::Container => "pct restore",
                Kind::Vm => "qmrestore",
            },
            protected: Some(protected(guest.kind(), vmid)),
        };
        hostname = destructive::inspect(guest, &hostname, action)?.hostname;
    }
    let _lock = destructive::confirm_and_lock(
        ctx,
        guest,
        &hostname,
        ("restore", "restored"),
        || {
            ctx.out.warn(format!(
            "this replaces {noun} {vmid} on {} and all data on its disks (and its snapshots) with the archive",
            host.alias
        ));
            ctx.out
                .info(format!("  archive: {}", sanitize(&archive.volid)));
            ctx.out.info(format!(
                "  taken:   {} ({})",
                archive.date.as_deref().unwrap_or("unknown"),
                size(archive.size)
            ));
        },
    )?;
    if state == Some(CtState::Running) {
        guest.stop(ctx.reporter.as_ref())?;
    }
    let command = guest.line(Op::Restore {
        volid: &archive.volid,
        storage: config.storage(),
    });
    ctx.reporter.step(
        &format!(
            "Restoring {noun} {vmid} from {}",
            sanitize(&archive.volid)
        ),
        || {
            let out = host.change(&command, RESTORE_TIMEOUT)?;
            if out.status.success() {
                return Ok(());
            }
            let err = guest.refused(&command, out);
            if guest.state()?.is_none() {
                return Err(err.hint(format!(
                    "{noun} {vmid} is gone: a forced restore that fails after Proxmox touched the disks removes the old ones; fix the cause and run `pxdeploy restore` again"
                )));
            }
            Err(err)
        },
    )?;
    let mut facts = json!({
        "vmid": vmid,
        "archive": archive.volid,
        "storage": config.storage(),
        "restored": !host.dry_run(),
    });
    let started = super::started::start_and_wait(&ctx.out, ctx.reporter.as_ref(), guest, &config)?;
    if let Some(map) = facts.as_object_mut() {
        map.extend(started);
    }
    if !host.dry_run() {
        ctx.out.info(format!(
            "{noun} {vmid} restored from {} and running",
            sanitize(&archive.volid)
        ));
    }
    ctx.succeed(Some(&host), facts);
    Ok(())
}

/// VOLID among the container's archives, or the newest (`--latest`); else exit 3 listing
/// what exists.
fn choose(
    backups: &[BackupEntry],
    volid: Option<&str>,
    named: &str,
    storage: &str,
) -> Result<BackupEntry> {
    let found = match volid {
        Some(v) => backups.iter().find(|b| b.volid == v),
        None => backups.last(),
    };
    found.cloned().ok_or_else(|| {
        let what = match volid {
            Some(v) => format!(
                "there is no archive `{}` of {named} on storage {storage}",
                sanitize(v)
            ),
            None => format!("there is no backup of {named} on storage {storage}"),
        };
        let cause = if backups.is_empty() {
            format!("storage {storage} holds no backup of {named}")
        } else {
            let list: Vec<String> = backups.iter().map(|b| sanitize(&b.volid)).collect();
            format!("archives on {storage}: {}", list.join(", "))
        };
        Error::config(what)
            .cause(cause)
            .hint("`pxdeploy backup --list` shows them; `pxdeploy backup` makes one")
    })
}

/// Restoring over a guest with `protection: 1` (exit 8), with the kind's own command to
/// turn it off.
fn protected(kind: Kind, vmid: u32) -> Error {
    Error::refused(format!(
        "{} {vmid} has `protection: 1`: Proxmox refuses to restore over it, nothing was done",
        kind.noun()
    ))
    .hint(format!(
        "turn protection off on the host with `{} set {vmid} --protection 0`, then run `pxdeploy restore` again",
        kind.tool()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_protected_vm_is_unprotected_with_qm() {
        let e = protected(Kind::Vm, 220);
        assert_eq!(e.exit_code(), 8);
        assert!(
            e.message.starts_with("VM 220 has `protection: 1`"),
            "{}",
            e.message
        );
        assert!(
            e.hint
                .as_deref()
                .unwrap_or_default()
                .contains("`qm set 220 --protection 0`"),
            "{:?}",
            e.hint
        );
        assert!(protected(Kind::Container, 210)
            .hint
            .unwrap_or_default()
            .contains("`pct set 210 --protection 0`"));
    }

    fn entry(volid: &str, date: &str) -> BackupEntry {
        BackupEntry {
            volid: volid.into(),
            format: "tar.zst".into(),
            size: 1024,
            vmid: Some(210),
            date: Some(date.into()),
        }
    }

    #[test]
    fn picks_the_named_or_newest_archive_else_exit_3_listing_them() {
        let a = "local:backup/vzdump-lxc-210-2026_01_11-14_47_17.tar.zst";
        let b = "local:backup/vzdump-lxc-210-2026_01_12-09_00_00.tar.zst";
        let all = vec![
            entry(a, "2026-01-11 14:47:17"),
            entry(b, "2026-01-12 09:00:00"),
        ];
        assert_eq!(
            choose(&all, Some(a), "container 210", "local")
                .unwrap()
                .volid,
            a
        );
        assert_eq!(
            choose(&all, None, "container 210", "local").unwrap().volid,
            b
        );
        let err = choose(
            &all,
            Some("local:backup/nope.tar.zst"),
            "container 210",
            "local",
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let text = err.render();
        assert!(text.contains(a) && text.contains(b), "{text}");
        let err = choose(&[], None, "container 210", "local").unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.render().contains("holds no backup of container 210"));
    }
}
