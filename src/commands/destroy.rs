//! `pxdeploy destroy`: confirmation (type the hostname) or `--yes`, Proxmox's protection flag
//! honoured, optional backup first, stop, then `pct destroy <vmid> --purge 1`.

use std::time::Duration;

use serde_json::json;

use super::context::Context;
use crate::cli::DestroyArgs;
use crate::config::Config;
use crate::container;
use crate::error::Result;
use crate::output::{sanitize, size};
use crate::proxmox::{pct, pct::CtState, pct::PctConfig, pct::Said, pvesm};
use crate::remote::host::Host;

const DESTROY_TIMEOUT: Duration = Duration::from_secs(600);

pub fn run(ctx: &Context, args: &DestroyArgs) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.container.vmid;
    let host = ctx.connect(&config)?;

    let Some(state) = container::state(&host, vmid)? else {
        ctx.out.info(format!(
            "container {vmid} does not exist on {}: nothing to destroy",
            host.alias
        ));
        ctx.succeed(Some(&host), json!({ "vmid": vmid, "destroyed": false }));
        return Ok(());
    };
    let actual = pct::parse_config(&host.probe_ok(&pct::config(vmid))?.stdout_str());
    let hostname = actual
        .hostname()
        .unwrap_or(&config.container.hostname)
        .to_string();
    if actual.protection() {
        return Err(container::protected(vmid));
    }
    if let Some(lock) = actual.lock() {
        return Err(container::locked(vmid, lock, &pct::destroy(vmid)));
    }
    if hostname != config.container.hostname {
        ctx.out.warn(format!(
            "container {vmid} is named `{}`, not `{}` as in {}",
            sanitize(&hostname),
            config.container.hostname,
            config.path.display()
        ));
    }
    if !host.dry_run() {
        confirm(ctx, &host, &config, &actual, &hostname)?;
    }

    let mut archive = None;
    if args.backup_first {
        let report = container::backup(&host, &config, ctx.reporter.as_ref(), &ctx.out).map_err(
            |mut e| {
                e.message = format!("{}: container {vmid} was not destroyed", e.message);
                e
            },
        )?;
        archive = report.archive;
    }
    if config.container.ha {
        // first: the HA manager would start a stopped `started` resource again
        crate::cluster::ha::unregister(&host, vmid, ctx.reporter.as_ref())?;
    }
    if state == CtState::Running {
        container::stop(&host, vmid, ctx.reporter.as_ref())?;
    }
    ctx.reporter
        .step(&format!("Destroying container {vmid} ({hostname})"), || {
            destroy(&host, vmid)
        })?;
    if !host.dry_run() {
        ctx.out.info(format!(
            "container {vmid} ({}) destroyed",
            sanitize(&hostname)
        ));
    }
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "hostname": hostname, "destroyed": !host.dry_run(), "backup": archive }),
    );
    Ok(())
}

/// `pct destroy --purge`; a container that is already gone is fine.
fn destroy(host: &Host, vmid: u32) -> Result<()> {
    let command = pct::destroy(vmid);
    let out = host.change(&command, DESTROY_TIMEOUT)?;
    if out.status.success() || pct::said(&out.stderr_str()) == Some(Said::Missing) {
        return Ok(());
    }
    Err(container::refused(host, vmid, &command, out))
}

/// `--yes`, or on a terminal the hostname typed back after what is at stake; otherwise
/// refused (exit 8).
fn confirm(
    ctx: &Context,
    host: &Host,
    config: &Config,
    actual: &PctConfig,
    hostname: &str,
) -> Result<()> {
    let vmid = config.container.vmid;
    super::confirm::by_hostname(ctx, vmid, hostname, "destroy", "destroyed", || {
        let disk = actual.rootfs().map_or_else(
            || "unknown".to_string(),
            |r| {
                format!(
                    "{} ({})",
                    r.volume,
                    r.size.as_deref().unwrap_or("size unknown")
                )
            },
        );
        let storage = &config.backup.storage;
        let backups = host
            .probe(&pvesm::list_backups(storage, vmid))
            .ok()
            .filter(|o| o.status.success())
            .map(|o| pvesm::parse_list(&o.stdout_str()));
        ctx.out.warn(format!(
            "this destroys container {vmid} on {} and all data on its disks",
            host.alias
        ));
        ctx.out.info(format!("  vmid:     {vmid}"));
        ctx.out.info(format!("  hostname: {}", sanitize(hostname)));
        ctx.out.info(format!("  disk:     {}", sanitize(&disk)));
        ctx.out.info(match backups {
            Some(b) if !b.is_empty() => format!(
                "  backups:  {} on storage {storage} are kept ({})",
                b.len(),
                size(b.iter().map(|b| b.size).sum())
            ),
            Some(_) => {
                format!("  backups:  none on storage {storage} (`--backup-first` makes one)")
            }
            None => format!("  backups:  unknown (`pvesm list {storage}` failed)"),
        });
    })
}
