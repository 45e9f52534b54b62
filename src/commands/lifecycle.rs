//! `pxdeploy stop`, `start`, `restart`: the container's state first, then the one change it
//! needs; after a start, the services' health. The mechanics are in `crate::container`.

use serde_json::json;

use super::context::Context;
use crate::cli::WaitArgs;
use crate::cluster::ha::{self, Wanted};
use crate::config::Config;
use crate::container;
use crate::error::Result;
use crate::proxmox::pct::CtState;
use crate::remote::host::Host;

pub(crate) fn stop(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.container.vmid;
    let host = ctx.connect(&config)?;
    let changed = match container::require_state(&host, vmid)? {
        CtState::Stopped => {
            ctx.out.info(format!(
                "container {vmid} is already stopped: nothing to do"
            ));
            false
        }
        CtState::Running if config.container.ha => {
            ha::request(&host, vmid, Wanted::Stopped, ctx.reporter.as_ref())?;
            ctx.out
                .info(format!("container {vmid} stopped (data kept)"));
            true
        }
        CtState::Running => {
            container::stop(&host, vmid, ctx.reporter.as_ref())?;
            ctx.out
                .info(format!("container {vmid} stopped (data kept)"));
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
    let vmid = config.container.vmid;
    let host = ctx.connect(&config)?;
    let (changed, warnings) = match container::require_state(&host, vmid)? {
        CtState::Running => {
            ctx.out.info(format!("container {vmid} is already running"));
            (false, Vec::new())
        }
        CtState::Stopped if config.container.ha => {
            ha::request(&host, vmid, Wanted::Started, ctx.reporter.as_ref())?;
            (true, Vec::new())
        }
        CtState::Stopped => (
            true,
            container::start(&host, vmid, ctx.reporter.as_ref(), &ctx.out)?,
        ),
    };
    finish_start(ctx, &host, &config, args, changed, warnings)
}

pub(crate) fn restart(ctx: &Context, args: &WaitArgs) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.container.vmid;
    let host = ctx.connect(&config)?;
    let warnings = match container::require_state(&host, vmid)? {
        state if config.container.ha => {
            if state == CtState::Running {
                ha::request(&host, vmid, Wanted::Stopped, ctx.reporter.as_ref())?;
            }
            ha::request(&host, vmid, Wanted::Started, ctx.reporter.as_ref())?;
            Vec::new()
        }
        CtState::Stopped => {
            ctx.out
                .info(format!("container {vmid} is stopped: starting it"));
            container::start(&host, vmid, ctx.reporter.as_ref(), &ctx.out)?
        }
        CtState::Running => container::reboot(&host, vmid, ctx.reporter.as_ref(), &ctx.out)?,
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
    let vmid = config.container.vmid;
    let mut facts =
        json!({ "vmid": vmid, "state": "running", "changed": changed, "warnings": warnings });
    if !args.no_wait {
        let health =
            crate::container::wait_for_services(&ctx.out, ctx.reporter.as_ref(), host, config)?;
        if let (Some(map), serde_json::Value::Object(h)) = (facts.as_object_mut(), health) {
            map.extend(h);
        }
    }
    if changed && args.no_wait {
        ctx.out.info(format!("container {vmid} is running"));
    }
    ctx.succeed(Some(host), facts);
    Ok(())
}
