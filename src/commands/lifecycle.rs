//! `pxdeploy stop`, `start`, `restart`: the container's state first, then the one change it
//! needs; after a start, the services' health. The mechanics are in `crate::container`.

use serde_json::json;

use super::context::Context;
use crate::cli::WaitArgs;
use crate::config::Config;
use crate::container;
use crate::error::{Error, Result};
use crate::proxmox::pct::{self, CtState};
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
        let health = wait_for_services(ctx, host, config)?;
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

/// After `start`/`restart`: the container runs, then the services are healthy; their table
/// goes to stdout (data), as in `deploy` and `status`.
pub(super) fn wait_for_services(
    ctx: &Context,
    host: &Host,
    config: &Config,
) -> Result<serde_json::Value> {
    let vmid = config.container.vmid;
    if host.dry_run() {
        return Ok(json!({}));
    }
    let state = container::require_state(host, vmid)?;
    if state != CtState::Running {
        return Err(Error::remote(format!(
            "container {vmid} is {} after starting",
            state.as_str()
        ))
        .hint(format!("`pct start {vmid} --debug` on the host shows why")));
    }
    // A container created but never deployed to has no compose file: nothing to wait for.
    let project = config.project();
    let deployed = host.probe(&pct::exec(vmid, &["test", "-f", project.file.as_str()]))?;
    if !deployed.status.success() {
        ctx.out.info(format!(
            "no app deployed in container {vmid} yet (`pxdeploy deploy`): no services to wait for"
        ));
        return Ok(json!({ "services": [] }));
    }
    let services = crate::health::wait(host, config, ctx.reporter.as_ref())?;
    if !services.is_empty() {
        ctx.out.data(crate::health::table(&services));
    }
    Ok(json!({ "services": services }))
}
