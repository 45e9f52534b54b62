//! `pxdeploy rollback [ID] [--with-env]`: lock → read the releases → `.env`: today's secrets
//! kept, the release's values put back (`--with-env`: the release's as it was) → put back
//! that release's files from the store in the container (nothing from the local folder) →
//! `docker compose up` → health wait → record it healthy and current → the `post_rollback`
//! hook. Also what a deploy whose health wait
//! failed does under `[deploy] on_failure = "rollback"` is in [`crate::release::rollback`].

use std::time::Instant;

use serde_json::json;

use super::context::Context;
use crate::cli::RollbackArgs;
use crate::error::Result;
use crate::guest::Guest;
use crate::health;
use crate::release::rollback::{roll_back, Target};

/// `pxdeploy rollback`.
pub(crate) fn run(ctx: &Context, args: &RollbackArgs) -> Result<()> {
    let started = Instant::now();
    let config = ctx.config()?;
    let host = ctx.connect(&config)?;
    let reporter = ctx.reporter.as_ref();
    let vmid = config.vmid();
    let _lock = Guest::of(&host, &config).lock_then_inside(reporter)?;
    let mut picked = None;
    let r = roll_back(
        Guest::of(&host, &config),
        &config,
        reporter,
        Target::Requested(args.id.as_deref()),
        args.with_env,
        &mut picked,
    )?;
    ctx.out.info(format!(
        "{} from release {} to {}: {} files written, {} deleted; .env: {}; {}",
        rolled_back(host.dry_run(), &Guest::of(&host, &config).named()),
        r.from.as_deref().unwrap_or("(none)"),
        r.to,
        r.written,
        r.deleted,
        r.env.summary(),
        match r.services.len() {
            0 => "no services waited for".to_string(),
            n => format!("{n} services healthy"),
        }
    ));
    if !r.services.is_empty() {
        ctx.out.data(health::table(&r.services));
    }
    let facts = json!({
        "vmid": vmid,
        "from": r.from,
        "to": r.to,
        "written": r.written,
        "deleted": r.deleted,
        "env": r.env,
        "services": r.services,
        "duration_secs": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    crate::hooks::post_rollback(&config, &host, &r.to, reporter)
        .map_err(|e| e.facts(facts.clone()))?;
    ctx.succeed(Some(&host), facts);
    Ok(())
}

/// `rolled back VM 220` (`dry run: would roll back …`): how the summary starts.
fn rolled_back(dry_run: bool, guest: &str) -> String {
    match dry_run {
        true => format!("dry run: would roll back {guest}"),
        false => format!("rolled back {guest}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_summary_names_the_guest_as_it_is() {
        assert_eq!(super::rolled_back(false, "VM 220"), "rolled back VM 220");
        assert_eq!(
            super::rolled_back(true, "container 210"),
            "dry run: would roll back container 210"
        );
    }
}
