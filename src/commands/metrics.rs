//! `pxdeploy metrics [--since hour|day|week|month|year]`: the node's history of the guest
//! (`rrddata`, one call): sparklines with min/avg/max on a terminal, a table otherwise,
//! JSON with `-o json` (docs/monitoring.md, "History").

use std::io::IsTerminal;

use serde_json::json;

use super::context::Context;
use crate::cli::MetricsArgs;
use crate::error::{Error, Result};
use crate::figures::{self, history};
use crate::guest::Guest;
use crate::output::tail;

pub(super) fn run(ctx: &Context, args: &MetricsArgs) -> Result<()> {
    let config = ctx.config()?;
    let host = ctx.connect(&config)?;
    let guest = Guest::of(&host, &config);
    // `pct status` first: a guest on another node of the cluster is found (the host moves
    // there, so `localhost` below is its node); a missing one is the usual exit 5.
    guest.require_state()?;
    let command = figures::rrddata(guest.kind().api(), guest.id(), &args.since);
    let out = host.probe(&command)?;
    let points = match (out.status.success(), figures::parse_rrddata(&out.stdout_str())) {
        (true, Some(points)) => points,
        _ => {
            return Err(Error::remote(format!(
                "the node has no history of {} {} yet",
                if guest.kind() == crate::guest::Kind::Vm { "VM" } else { "container" },
                guest.id()
            ))
            .cause(format!("`{command}`: {}", tail(&out.stderr_str(), 3)))
            .hint("Proxmox records a guest's figures every minute once pvestatd has seen it: try again in a few minutes"))
        }
    };
    let step = history::step(&points, &args.since);
    let known = points
        .iter()
        .filter(|p| p.cpu.is_some() || p.mem.is_some() || p.netin.is_some())
        .count();
    if std::io::stdout().is_terminal() {
        let width = crate::output::terminal_width().unwrap_or(80);
        ctx.out.data(format!(
            "{} {}, last {}: {known} of {} points (one every {})",
            if guest.kind() == crate::guest::Kind::Vm {
                "VM"
            } else {
                "container"
            },
            guest.id(),
            args.since,
            points.len(),
            figures::show_duration(Some(step)),
        ));
        ctx.out.data(history::sparklines(
            &points,
            width.saturating_sub(60).clamp(10, 120),
        ));
    } else {
        ctx.out.data(history::table(&points));
    }
    let mut facts = json!({
        "vmid": guest.id(),
        "since": args.since,
        "step_s": step,
    });
    if let (Some(map), serde_json::Value::Object(h)) =
        (facts.as_object_mut(), history::facts(&points))
    {
        map.extend(h);
    }
    ctx.succeed(None, facts);
    Ok(())
}
