//! `pxdeploy backup`: vzdump with the configured storage, mode, compression and retention;
//! `backup --list`: this container's archives.

use std::time::{Duration, Instant};

use serde_json::json;

use super::context::Context;
use super::lifecycle;
use crate::cli::BackupArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::sanitize;
use crate::proxmox::{human_size, pct, pvesm, vzdump};
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
    lifecycle::require_state(&host, config.container.vmid)?;
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
    let command = vzdump::backup(vmid, &config.backup);
    ctx.reporter
        .start(&format!("Backing up container {vmid} to {storage}"));
    let out = host.change(&command, BACKUP_TIMEOUT)?;
    if host.dry_run() {
        ctx.reporter.done("");
        return Ok(vzdump::Report::default());
    }
    let report = vzdump::parse_output(&out.stdout_str(), storage);
    let archive = match (&report.archive, out.status.success(), &report.failure) {
        (Some(archive), true, None) => archive.clone(),
        _ => {
            let reason = report.failure.clone().unwrap_or_else(|| {
                let stderr = out.stderr_str();
                let last = stderr.lines().rfind(|l| !l.trim().is_empty());
                last.map_or_else(|| "vzdump created no archive".to_string(), str::to_string)
            });
            ctx.reporter.failed(&reason);
            if let Some(lock) = pct::locked_by(&reason) {
                return Err(lifecycle::locked(vmid, &lock, &command));
            }
            return Err(Error::remote(format!("backup of container {vmid} failed"))
                .cause(format!("`{command}` {}: {}", out.status, sanitize(&reason)))
                .hint(format!(
                    "the whole log is on the host: `cat /var/log/vzdump/lxc-{vmid}.log`"
                )));
        }
    };
    ctx.reporter.done(&archive);
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
                human_size(b.size)
            ));
        }
    }
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "storage": storage, "backups": backups }),
    );
    Ok(())
}
