//! `pxdeploy status`: the guest's state (container or VM), its IP address, and each Compose service's
//! state and health. Read-only.

use serde_json::json;

use super::context::Context;
use crate::error::Result;
use crate::guest::{CtState, Guest};
use crate::output::sanitize;

pub(super) fn run(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let host = ctx.connect(&config)?;
    let guest = Guest::of(&host, &config);
    let state = guest.require_state()?;
    let node = host.node()?;

    let ip = match state {
        CtState::Running => guest.address()?,
        CtState::Stopped => None,
    };
    ctx.out.data(format!(
        "{} ({}): {}",
        guest.named(),
        sanitize(config.hostname()),
        state.as_str()
    ));
    if let Some(node) = &node {
        ctx.out.data(format!("node: {}", sanitize(node)));
    }
    ctx.out.data(format!(
        "ip: {}",
        ip.as_deref().unwrap_or(if state == CtState::Running {
            "none yet"
        } else {
            "-"
        })
    ));
    let services = services(ctx, &host, &config, state)?;
    ctx.succeed(
        None,
        json!({
            "vmid": vmid,
            "guest": guest.kind().key(),
            "hostname": config.hostname(),
            "state": state,
            "node": node,
            "ip": ip,
            "services": services,
        }),
    );
    Ok(())
}

/// The Compose services' state and health (one poll, no waiting). A container without
/// Docker or without the app yet has no services.
fn services(
    ctx: &Context,
    host: &crate::remote::host::Host,
    config: &crate::config::Config,
    state: CtState,
) -> Result<serde_json::Value> {
    if state != CtState::Running {
        return Ok(json!([]));
    }
    let project = config.project();
    let names = config.health_services();
    match crate::health::snapshot(Guest::of(host, config), &project, &names) {
        Ok(services) => {
            if !services.is_empty() {
                ctx.out.data(crate::health::table(&services));
            }
            Ok(serde_json::to_value(&services).unwrap_or_default())
        }
        Err(e) => {
            ctx.out.warn(format!("no service status: {e}"));
            Ok(json!([]))
        }
    }
}
