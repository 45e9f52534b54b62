//! `pxdeploy rollback --snapshot [NAME]`: `pct rollback` to NAME (default: the newest
//! `pxdeploy_*` snapshot) under the deploy lock, after the confirmation `destroy` asks (the
//! data written since the snapshot is lost), then start and wait for the services' health.

use serde_json::json;

use super::context::Context;
use super::destructive::{self, Action};
use crate::cli::RollbackArgs;
use crate::error::{Error, Result};
use crate::guest::{Guest, Op, Snapshot};
use crate::output::sanitize;
use crate::snapshots::SNAPSHOT_TIMEOUT;

pub(super) fn run(ctx: &Context, args: &RollbackArgs) -> Result<()> {
    let Some(wanted) = &args.snapshot else {
        return Err(Error::usage("`--snapshot [NAME]` is required here"));
    };
    let config = ctx.config()?;
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let host = ctx.connect(&config)?;
    let guest = Guest::of(&host, &config);
    guest.require_state()?;
    let all = guest.snapshots()?;
    let target = choose(&all, wanted.as_deref(), &format!("{noun} {vmid}"))?;
    let rollback = guest.line(Op::Rollback(&target.name));
    let action = Action {
        command: &rollback,
        protected: None,
    };
    let found = destructive::inspect(guest, config.hostname(), action)?;
    let words = ("roll back", "rolled back");
    let _lock = destructive::confirm_and_lock(ctx, guest, &found.hostname, words, || {
        ctx.out.warn(format!(
            "this rolls {noun} {vmid} on {} back to snapshot {}: everything written since is lost",
            host.alias,
            sanitize(&target.name)
        ));
        ctx.out.info(format!(
            "  snapshot: {} (taken {})",
            sanitize(&target.name),
            target.time.as_deref().unwrap_or("at an unknown time")
        ));
    })?;
    let command = rollback;
    ctx.reporter.step(
        &format!(
            "Rolling {noun} {vmid} back to snapshot {}",
            sanitize(&target.name)
        ),
        || {
            let out = host.change(&command, SNAPSHOT_TIMEOUT)?;
            if out.status.success() {
                return Ok(());
            }
            let newer_exist = out.stderr_str().contains("is not most recent snapshot");
            let err = guest.refused(&command, out);
            Err(if newer_exist {
                err.hint(newest_only(guest.kind().tool()))
            } else {
                err
            })
        },
    )?;
    // `pct rollback` leaves the container stopped, even when it was running.
    let mut facts = json!({
        "vmid": vmid,
        "snapshot": target.name,
        "rolled_back": !host.dry_run(),
    });
    let started = super::started::start_and_wait(&ctx.out, ctx.reporter.as_ref(), guest, &config)?;
    if let Some(map) = facts.as_object_mut() {
        map.extend(started);
    }
    if !host.dry_run() {
        ctx.out.info(format!(
            "{noun} {vmid} rolled back to snapshot {} and running",
            sanitize(&target.name)
        ));
    }
    crate::hooks::post_rollback(&config, &host, &target.name, ctx.reporter.as_ref())
        .map_err(|e| e.facts(facts.clone()))?;
    ctx.succeed(Some(&host), facts);
    Ok(())
}

/// NAME among the snapshots, or the newest `pxdeploy_*` one; else exit 3 listing them.
fn choose(all: &[Snapshot], wanted: Option<&str>, named: &str) -> Result<Snapshot> {
    let names = || {
        if all.is_empty() {
            "it has none".to_string()
        } else {
            let list: Vec<String> = all.iter().map(|s| sanitize(&s.name)).collect();
            format!("its snapshots: {}", list.join(", "))
        }
    };
    let found = match wanted {
        Some(name) => all.iter().find(|s| s.name == name),
        None => all
            .iter()
            .filter(|s| s.is_ours())
            .max_by(|a, b| a.name.cmp(&b.name)),
    };
    found.cloned().ok_or_else(|| {
        let what = match wanted {
            Some(name) => format!("{named} has no snapshot `{}`", sanitize(name)),
            None => format!("{named} has no pxdeploy snapshot"),
        };
        Error::config(what).cause(names()).hint(
            "`[deploy] snapshot = true` takes one before every deploy; `--snapshot NAME` picks any",
        )
    })
}

/// The hint of a rollback that ZFS refuses because newer snapshots exist.
fn newest_only(tool: &str) -> String {
    format!("ZFS rolls back only to the newest snapshot: delete the newer ones first (`{tool} delsnapshot`), or pick the newest")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_zfs_hint_names_the_kinds_tool() {
        assert!(super::newest_only("qm").contains("(`qm delsnapshot`)"));
    }

    use super::*;

    fn s(name: &str) -> Snapshot {
        Snapshot {
            name: name.into(),
            time: None,
            description: None,
        }
    }

    #[test]
    fn picks_the_named_or_newest_pxdeploy_snapshot_else_exit_3_listing_them() {
        let all = vec![
            s("pxdeploy_20261129T191501Z"),
            s("zzz-manual"),
            s("pxdeploy_20261129T191502Z"),
        ];
        assert_eq!(
            choose(&all, None, "container 210").unwrap().name,
            "pxdeploy_20261129T191502Z"
        );
        assert_eq!(
            choose(&all, Some("zzz-manual"), "container 210")
                .unwrap()
                .name,
            "zzz-manual"
        );
        let err = choose(&all, Some("nope"), "container 210").unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.render().contains("zzz-manual"));
        let err = choose(&[s("manual")], None, "container 210").unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.render().contains("no pxdeploy snapshot"),
            "{}",
            err.render()
        );
    }
}
