//! `pxdeploy stop`, `start`, `restart`: the container's state first, then the one change it
//! needs; before a start, its `[firewall]` brought in line with pxdeploy.toml (it never
//! starts without its rules); after a start, the services' health. A locked container is
//! not restarted. The mechanics are in `crate::guest` and, for HA-managed containers,
//! `crate::cluster::ha`.

use serde_json::json;

use super::context::Context;
use crate::cli::WaitArgs;
use crate::cluster::ha::{self, Wanted};
use crate::config::{Config, GuestKind};
use crate::error::{Error, Result};
use crate::guest::{CtState, Guest, Op};
use crate::output::sanitize;
use crate::remote::host::Host;

pub(crate) fn stop(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let host = ctx.connect(&config)?;
    let changed = match Guest::of(&host, &config).require_state()? {
        CtState::Stopped => {
            ctx.out
                .info(format!("{noun} {vmid} is already stopped: nothing to do"));
            false
        }
        CtState::Running if config.ha() => {
            ha_request(ctx, &host, &config, Wanted::Stopped)?;
            ctx.out.info(format!("{noun} {vmid} stopped (data kept)"));
            true
        }
        CtState::Running => {
            Guest::of(&host, &config).stop(ctx.reporter.as_ref())?;
            ctx.out.info(format!("{noun} {vmid} stopped (data kept)"));
            true
        }
    };
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "state": "stopped", "changed": changed }),
    );
    Ok(())
}

pub(crate) fn start(ctx: &Context, args: &WaitArgs) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let host = ctx.connect(&config)?;
    let (changed, warnings) = match Guest::of(&host, &config).require_state()? {
        CtState::Running => {
            ctx.out.info(format!("{noun} {vmid} is already running"));
            (false, Vec::new())
        }
        CtState::Stopped if config.ha() => {
            super::started::rules_first(&ctx.out, ctx.reporter.as_ref(), &host, &config)?;
            ha_request(ctx, &host, &config, Wanted::Started)?;
            (true, Vec::new())
        }
        CtState::Stopped => {
            super::started::rules_first(&ctx.out, ctx.reporter.as_ref(), &host, &config)?;
            (
                true,
                Guest::of(&host, &config).start(ctx.reporter.as_ref(), &ctx.out)?,
            )
        }
    };
    finish_start(ctx, &host, &config, args, changed, warnings)
}

pub(crate) fn restart(ctx: &Context, args: &WaitArgs) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let host = ctx.connect(&config)?;
    let state = Guest::of(&host, &config).require_state()?;
    refuse_if_locked(Guest::of(&host, &config))?;
    super::started::rules_first(&ctx.out, ctx.reporter.as_ref(), &host, &config)?;
    let warnings = match state {
        state if config.ha() => {
            if state == CtState::Running {
                ha_request(ctx, &host, &config, Wanted::Stopped)?;
            }
            ha_request(ctx, &host, &config, Wanted::Started)?;
            Vec::new()
        }
        CtState::Stopped => {
            ctx.out
                .info(format!("{noun} {vmid} is stopped: starting it"));
            Guest::of(&host, &config).start(ctx.reporter.as_ref(), &ctx.out)?
        }
        CtState::Running => Guest::of(&host, &config).reboot(ctx.reporter.as_ref(), &ctx.out)?,
    };
    finish_start(ctx, &host, &config, args, true, warnings)
}

/// The facts of a start, with the services' health unless `--no-wait`.
fn finish_start(
    ctx: &Context,
    host: &Host,
    config: &Config,
    args: &WaitArgs,
    changed: bool,
    warnings: Vec<String>,
) -> Result<()> {
    let vmid = config.vmid();
    let noun = config.kind().noun();
    let mut facts =
        json!({ "vmid": vmid, "state": "running", "changed": changed, "warnings": warnings });
    if !args.no_wait {
        let health = super::started::wait_for_services(
            &ctx.out,
            ctx.reporter.as_ref(),
            Guest::of(host, config),
            config,
        )?;
        if let (Some(map), serde_json::Value::Object(h)) = (facts.as_object_mut(), health) {
            map.extend(h);
        }
    }
    if changed && args.no_wait {
        ctx.out.info(format!("{noun} {vmid} is running"));
    }
    ctx.succeed(Some(host), facts);
    Ok(())
}

/// Asks the HA manager for `wanted` and waits until the guest is there.
fn ha_request(ctx: &Context, host: &Host, config: &Config, wanted: Wanted) -> Result<()> {
    ha::request(
        host,
        (config.vmid(), config.kind() == GuestKind::Vm),
        wanted,
        ctx.reporter.as_ref(),
        &|| Guest::of(host, config).state(),
    )
}

/// A lock in the guest's config, in plain words (pve-container src/PVE/LXC/Config.pm and
/// qemu-server's `lock` enums), with the guest's `noun` and `tool`.
fn lock_meaning(lock: &str, noun: &str, tool: &str) -> String {
    match lock {
        "backup" => "a backup is running".into(),
        "create" => format!("the {noun} is being created"),
        "destroyed" => format!("the {noun} is being destroyed"),
        "disk" => "a disk is being moved or resized".into(),
        "fstrim" => format!("`{tool} fstrim` is running"),
        "migrate" => "a migration is running".into(),
        "mounted" => format!("its disks are mounted on the host (`{tool} mount`)"),
        "rollback" => "a snapshot rollback is running".into(),
        "snapshot" => "a snapshot is being taken".into(),
        "snapshot-delete" => "a snapshot is being deleted".into(),
        _ => "a Proxmox task holds it".into(),
    }
}

/// Before a restart: `pct reboot` stops the container without checking its lock, and the
/// start that follows is refused on it (pve-container src/PVE/LXC.pm:3273-3286,
/// src/lxc-pve-prestart-hook:59-60), leaving the app down; the HA manager's start of a locked
/// container ends in `error`. So a locked container (other than `mounted`, which a start
/// ignores) is refused here first (exit 5).
fn refuse_if_locked(guest: Guest<'_>) -> Result<()> {
    let (vmid, noun, tool) = (guest.id(), guest.kind().noun(), guest.kind().tool());
    let command = guest.line(Op::Config);
    let config = guest.config()?;
    match config.lock() {
        Some(lock) if lock != "mounted" => Err(Error::remote(format!(
            "{noun} {vmid} is locked (`{}`): {}; not restarting it",
            sanitize(lock),
            lock_meaning(lock, noun, tool)
        ))
        .cause(format!(
            "`{command}` shows `lock: {}`: a reboot would stop the {noun} and Proxmox would then refuse to start it, leaving the app down",
            sanitize(lock)
        ))
        .hint(format!(
            "run `pxdeploy restart` again once it has finished; a lock left behind by a task that died: `{tool} unlock {vmid}` on the host"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_explained_in_the_guests_words() {
        assert_eq!(
            lock_meaning("create", "VM", "qm"),
            "the VM is being created"
        );
        assert_eq!(
            lock_meaning("destroyed", "container", "pct"),
            "the container is being destroyed"
        );
        assert_eq!(lock_meaning("backup", "VM", "qm"), "a backup is running");
    }
}
