//! `pxdeploy destroy`: confirmation (type the hostname) or `--yes`, Proxmox's protection flag
//! honoured, optional backup first, stop, then `pct destroy <vmid> --purge 1`, which also
//! removes the container's firewall file, backup-job entries and HA resource: looked up
//! first, said in the prompt and afterwards ([`crate::proxmox::purge`]).

use std::time::Duration;

use serde_json::json;

use super::context::Context;
use super::destructive::{self, Action, Found};
use crate::cli::DestroyArgs;
use crate::config::{Config, GuestKind};
use crate::error::Result;
use crate::guest::{CtState, Guest, Op, PctConfig};
use crate::output::{sanitize, size};
use crate::proxmox::{backup_job, purge, pvesm};
use crate::remote::host::Host;
use crate::remote::quote::join;

const DESTROY_TIMEOUT: Duration = Duration::from_secs(600);

pub(super) fn run(ctx: &Context, args: &DestroyArgs) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let host = ctx.connect(&config)?;

    let guest = Guest::of(&host, &config);
    let Some(state) = guest.state()? else {
        ctx.out.info(format!(
            "{noun} {vmid} does not exist on {}: nothing to destroy",
            host.alias
        ));
        ctx.succeed(Some(&host), json!({ "vmid": vmid, "destroyed": false }));
        return Ok(());
    };
    let action = Action {
        command: &guest.line(Op::Destroy),
        protected: Some(guest.protected()),
    };
    let Found { actual, hostname } = destructive::inspect(guest, config.hostname(), action)?;
    if hostname != config.hostname() {
        ctx.out.warn(format!(
            "{noun} {vmid} is named `{}`, not `{}` as in {}",
            sanitize(&hostname),
            config.hostname(),
            config.path.display()
        ));
    }
    let goes = goes_with(&host, vmid)?;
    if !host.dry_run() {
        confirm(ctx, &host, &config, &actual, &hostname, &goes)?;
    }

    let mut archive = None;
    if args.backup_first {
        let report = guest
            .backup(&config, ctx.reporter.as_ref(), &ctx.out)
            .map_err(|mut e| {
                e.message = format!("{}: {noun} {vmid} was not destroyed", e.message);
                e
            })?;
        archive = report.archive;
    }
    if config.ha() {
        // first: the HA manager would start a stopped `started` resource again
        crate::cluster::ha::unregister(
            &host,
            vmid,
            config.kind() == GuestKind::Vm,
            ctx.reporter.as_ref(),
        )?;
    }
    if state == CtState::Running {
        guest.stop(ctx.reporter.as_ref())?;
    }
    let ha_removed = ctx
        .reporter
        .step(&format!("Destroying {noun} {vmid} ({hostname})"), || {
            guest.destroy(DESTROY_TIMEOUT)
        })?;
    let goes = Goes { ha_removed, ..goes };
    if !host.dry_run() {
        let also = goes.describe(vmid, config.kind());
        ctx.out.info(match also.is_empty() {
            true => format!("{noun} {vmid} ({}) destroyed", sanitize(&hostname)),
            false => format!(
                "{noun} {vmid} ({}) destroyed; also removed by Proxmox with it: {}",
                sanitize(&hostname),
                also.join(", ")
            ),
        });
    }
    ctx.succeed(
        Some(&host),
        json!({
            "vmid": vmid,
            "hostname": hostname,
            "destroyed": !host.dry_run(),
            "backup": archive,
            "also_removed": {
                "firewall_file": goes.firewall_file,
                "backup_jobs_deleted": goes.jobs.deleted,
                "backup_jobs_changed": goes.jobs.changed,
                "backup_jobs_unexcluded": goes.jobs.unexcluded,
                "ha_resource": goes.ha_removed,
            },
        }),
    );
    Ok(())
}

/// What `pct destroy --purge 1` removes besides the container. Proxmox says nothing about
/// the firewall file and the backup jobs, so they are looked up before.
#[derive(Debug, Default)]
struct Goes {
    firewall_file: Option<String>,
    jobs: purge::JobsTouched,
    ha_removed: bool,
}

impl Goes {
    /// One phrase per thing, for messages.
    fn describe(&self, vmid: u32, kind: GuestKind) -> Vec<String> {
        let noun = kind.noun();
        let mut out = Vec::new();
        if let Some(path) = &self.firewall_file {
            out.push(format!("firewall rules ({path})"));
        }
        for id in &self.jobs.deleted {
            out.push(format!("backup job `{}`", sanitize(id)));
        }
        for id in &self.jobs.changed {
            out.push(format!("{noun} {vmid} from backup job `{}`", sanitize(id)));
        }
        for id in &self.jobs.unexcluded {
            out.push(format!(
                "{noun} {vmid} from the exclusions of backup job `{}`",
                sanitize(id)
            ));
        }
        if self.ha_removed {
            let sid = crate::cluster::ha::sid(vmid, kind == GuestKind::Vm);
            out.push(format!("HA resource `{sid}`"));
        }
        out
    }
}

fn goes_with(host: &Host, vmid: u32) -> Result<Goes> {
    let path = crate::firewall::path(vmid);
    let fw = host.probe(&join(&["test", "-e", &path]))?;
    let jobs = host.probe(backup_job::LIST)?;
    Ok(Goes {
        firewall_file: fw.status.success().then_some(path),
        jobs: jobs
            .status
            .success()
            .then(|| purge::backup_jobs(&jobs.stdout_str(), vmid))
            .flatten()
            .unwrap_or_default(),
        ha_removed: false,
    })
}

/// `--yes`, or on a terminal the hostname typed back after what is at stake; otherwise
/// refused (exit 8).
fn confirm(
    ctx: &Context,
    host: &Host,
    config: &Config,
    actual: &PctConfig,
    hostname: &str,
    goes: &Goes,
) -> Result<()> {
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let named = format!("{noun} {vmid}");
    super::confirm::by_hostname(ctx, &named, hostname, "destroy", "destroyed", || {
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
            "this destroys {noun} {vmid} on {} and all data on its disks",
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
        let also = goes.describe(vmid, config.kind());
        if !also.is_empty() {
            ctx.out.info(format!(
                "  also:     {} (Proxmox removes them with the {noun})",
                also.join(", ")
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Job ids come from the node: a control sequence in one is shown escaped.
    #[test]
    fn what_goes_with_the_container_is_named_and_escaped() {
        let goes = Goes {
            firewall_file: Some(crate::firewall::path(210)),
            jobs: purge::JobsTouched {
                deleted: vec!["pxdeploy-210".into()],
                changed: vec!["night\u{1b}[2Jly".into()],
                unexcluded: vec!["all".into()],
            },
            ha_removed: true,
        };
        assert_eq!(
            goes.describe(210, GuestKind::Container),
            [
                "firewall rules (/etc/pve/firewall/210.fw)",
                "backup job `pxdeploy-210`",
                "container 210 from backup job `night\\x1b[2Jly`",
                "container 210 from the exclusions of backup job `all`",
                "HA resource `ct:210`",
            ]
        );
        assert!(Goes::default()
            .describe(210, GuestKind::Container)
            .is_empty());
        let vm = Goes {
            jobs: purge::JobsTouched {
                changed: vec!["nightly".into()],
                ..Default::default()
            },
            ha_removed: true,
            ..Default::default()
        };
        assert_eq!(
            vm.describe(220, GuestKind::Vm),
            ["VM 220 from backup job `nightly`", "HA resource `vm:220`"]
        );
    }
}
