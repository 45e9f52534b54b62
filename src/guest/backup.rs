//! A backup of the guest with `vzdump` (which backs up containers and VMs alike) to
//! `[backup] storage`: what was pruned, the warnings, and why a run made no archive.

use std::time::Duration;

use super::container::locked;
use super::kind::Kind;
use crate::cluster::ha;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::{sanitize, tail, Output};
use crate::progress::{done, Reporter};
use crate::proxmox::pct::Said;
use crate::proxmox::vzdump;
use crate::remote::host::Host;

/// Bound of one vzdump run.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

/// Runs vzdump; prints what was pruned and the warnings. The container must exist.
pub(crate) fn backup(
    k: Kind,
    host: &Host,
    vmid: u32,
    config: &Config,
    reporter: &dyn Reporter,
    out: &Output,
) -> Result<vzdump::Report> {
    let storage = &config.backup.storage;
    let report = reporter.step_with(
        &format!("Backing up {} {vmid} to {storage}", k.noun()),
        |r: &vzdump::Report| done(r.archive.clone().unwrap_or_default()),
        || run_vzdump(k, host, vmid, config),
    )?;
    for pruned in &report.pruned {
        out.info(format!(
            "pruned {pruned} (keep-last={})",
            config.backup.keep_last
        ));
    }
    // a Proxmox Backup Server prunes without naming what it removed: only the count
    if let Some(n) = report
        .pruned_count
        .filter(|n| *n > 0 && report.pruned.is_empty())
    {
        out.info(format!(
            "pruned {n} older backup(s) on {storage} (keep-last={})",
            config.backup.keep_last
        ));
    }
    for w in &report.warnings {
        out.warn(format!("vzdump: {}", sanitize(w)));
    }
    Ok(report)
}

/// `vzdump`, and its report; a run without an archive is an error with the reason vzdump
/// gave (a lock is named as such).
fn run_vzdump(k: Kind, host: &Host, vmid: u32, config: &Config) -> Result<vzdump::Report> {
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
    if let Some(Said::Locked(lock)) = k.said(&reason) {
        return Err(locked(k, vmid, &lock, &command));
    }
    let noun = k.noun();
    let err = Error::remote(format!("backup of {noun} {vmid} failed")).cause(format!(
        "`{command}` {}: {}",
        out.status,
        sanitize(&reason)
    ));
    Err(if ha::refuses_stop_mode(&reason) {
        err.hint(format!("the {noun} is HA-managed, and Proxmox never stops one for a backup: set `[backup] mode = \"snapshot\"` (or `\"suspend\"`) in pxdeploy.toml"))
    } else {
        let log = match k {
            Kind::Container => "lxc",
            Kind::Vm => "qemu",
        };
        err.hint(format!(
            "the whole log is on the host: `cat /var/log/vzdump/{log}-{vmid}.log`"
        ))
    })
}
