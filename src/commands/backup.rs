//! `pxdeploy backup`: vzdump with the configured storage, mode, compression and retention;
//! `backup --list`: this container's archives.

use std::time::{Duration, Instant};

use serde_json::json;

use super::context::Context;
use crate::cli::BackupArgs;
use crate::config::Config;
use crate::container;
use crate::error::{Error, Result};
use crate::output::sanitize;
use crate::output::{size, tail};
use crate::progress::done;
use crate::proxmox::pct::{self, Said};
use crate::proxmox::{pvesm, vzdump};
use crate::remote::host::Host;

/// Bound of one vzdump run.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

pub fn run(ctx: &Context, args: &BackupArgs) -> Result<()> {
    if args.list {
        return list(ctx);
    }
    let started = Instant::now();
    let config = ctx.config()?;
    let host = ctx.connect(&config)?;
    container::require_state(&host, config.container.vmid)?;
    let report = make(ctx, &host, &config)?;
    if let Some(archive) = &report.archive {
        ctx.out.data(archive);
    }
    ctx.succeed(
        Some(&host),
        json!({
            "vmid": config.container.vmid,
            "storage": config.backup.storage,
            "archive": report.archive,
            "pruned": report.pruned,
            "warnings": report.warnings,
            "duration_secs": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}

/// Runs vzdump; prints what was pruned and the warnings. The container must exist.
pub(crate) fn make(ctx: &Context, host: &Host, config: &Config) -> Result<vzdump::Report> {
    let vmid = config.container.vmid;
    let storage = &config.backup.storage;
    let report = ctx.reporter.step_with(
        &format!("Backing up container {vmid} to {storage}"),
        |r: &vzdump::Report| done(r.archive.clone().unwrap_or_default()),
        || vzdump(host, config),
    )?;
    for pruned in &report.pruned {
        ctx.out.info(format!(
            "pruned {pruned} (keep-last={})",
            config.backup.keep_last
        ));
    }
    for w in &report.warnings {
        ctx.out.warn(format!("vzdump: {}", sanitize(w)));
    }
    Ok(report)
}

/// `vzdump`, and its report; a run without an archive is an error with the reason vzdump
/// gave (a lock is named as such).
fn vzdump(host: &Host, config: &Config) -> Result<vzdump::Report> {
    let vmid = config.container.vmid;
    let command = vzdump::backup(vmid, &config.backup);
    let out = host.change(&command, BACKUP_TIMEOUT)?;
    if host.dry_run() {
        return Ok(vzdump::Report::default());
    }
    let report = vzdump::parse_output(&out.stdout_str(), &config.backup.storage);
    if report.archive.is_some() && out.status.success() && report.failure.is_none() {
        return Ok(report);
    }
    let reason = report.failure.clone().unwrap_or_else(|| {
        Some(tail(&out.stderr_str(), 1))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "vzdump created no archive".to_string())
    });
    if let Some(Said::Locked(lock)) = pct::said(&reason) {
        return Err(container::locked(vmid, &lock, &command));
    }
    Err(Error::remote(format!("backup of container {vmid} failed"))
        .cause(format!("`{command}` {}: {}", out.status, sanitize(&reason)))
        .hint(format!(
            "the whole log is on the host: `cat /var/log/vzdump/lxc-{vmid}.log`"
        )))
}

fn list(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.container.vmid;
    let storage = &config.backup.storage;
    let host = ctx.connect(&config)?;
    let out = host.probe_ok(&pvesm::list_backups(storage, vmid))?;
    let mut backups: Vec<pvesm::BackupEntry> = pvesm::parse_list(&out.stdout_str())
        .into_iter()
        .filter(|b| b.vmid.map_or(true, |v| v == vmid))
        .collect();
    backups.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.volid.cmp(&b.volid)));

    if backups.is_empty() {
        ctx.out.info(format!(
            "no backups of container {vmid} on storage {storage}"
        ));
    } else {
        let width = backups.iter().map(|b| b.volid.len()).max().unwrap_or(5);
        ctx.out.data(format!(
            "{:<width$}  {:<19}  {:>10}",
            "VOLID", "DATE", "SIZE"
        ));
        for b in &backups {
            ctx.out.data(format!(
                "{:<width$}  {:<19}  {:>10}",
                sanitize(&b.volid),
                b.date.as_deref().unwrap_or("-"),
                size(b.size)
            ));
        }
    }
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "storage": storage, "backups": backups }),
    );
    Ok(())
}
