//! `pxdeploy backup`: vzdump with the configured storage, mode, compression and retention;
//! `backup --list`: this container's archives and its scheduled job; `--schedule` and
//! `--unschedule` manage that job (`backup_schedule.rs`).

use std::time::Instant;

use serde_json::json;

use super::context::Context;
use crate::cli::BackupArgs;
use crate::error::Result;
use crate::guest::Guest;
use crate::output::{sanitize, size};
use crate::proxmox::pvesm;

pub(super) fn run(ctx: &Context, args: &BackupArgs) -> Result<()> {
    if args.list {
        return list(ctx);
    }
    if let Some(calendar) = &args.schedule {
        return super::backup_schedule::schedule(ctx, calendar.as_deref());
    }
    if args.unschedule {
        return super::backup_schedule::unschedule(ctx);
    }
    let started = Instant::now();
    let config = ctx.config()?;
    let host = ctx.connect(&config)?;
    let guest = Guest::of(&host, &config);
    guest.require_state()?;
    let report = guest.backup(&config, ctx.reporter.as_ref(), &ctx.out)?;
    if let Some(archive) = &report.archive {
        ctx.out.data(archive);
    }
    ctx.succeed(
        Some(&host),
        json!({
            "vmid": config.vmid(),
            "storage": config.backup.storage,
            "archive": report.archive,
            "pruned": report.pruned,
            "pruned_count": report.pruned_count,
            "warnings": report.warnings,
            "duration_secs": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}

fn list(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let storage = &config.backup.storage;
    let host = ctx.connect(&config)?;
    let out = host.probe_ok(&pvesm::list_backups(storage, vmid))?;
    let mut backups: Vec<pvesm::BackupEntry> = pvesm::parse_list(&out.stdout_str())
        .into_iter()
        .filter(|b| b.vmid.map_or(true, |v| v == vmid))
        .collect();
    backups.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.volid.cmp(&b.volid)));

    if backups.is_empty() {
        ctx.out
            .info(format!("no backups of {noun} {vmid} on storage {storage}"));
    } else {
        let width = backups.iter().map(|b| b.volid.len()).max().unwrap_or(5);
        // 19 for the node's local time, 23 for a Proxmox Backup Server's `… UTC`
        let dw = backups
            .iter()
            .filter_map(|b| b.date.as_ref().map(String::len))
            .max()
            .unwrap_or(19);
        ctx.out.data(format!(
            "{:<width$}  {:<dw$}  {:>10}",
            "VOLID", "DATE", "SIZE"
        ));
        for b in &backups {
            ctx.out.data(format!(
                "{:<width$}  {:<dw$}  {:>10}",
                sanitize(&b.volid),
                b.date.as_deref().unwrap_or("-"),
                size(b.size)
            ));
        }
    }
    let id = crate::proxmox::backup_job::id(vmid);
    let job = super::backup_schedule::current(&host, &id)?;
    ctx.out
        .data(super::backup_schedule::describe(&id, job.as_ref(), &config));
    ctx.succeed(
        Some(&host),
        json!({
            "vmid": vmid,
            "storage": storage,
            "backups": backups,
            "job": super::backup_schedule::facts(job.as_ref()),
        }),
    );
    Ok(())
}
