//! `pxdeploy releases`: the releases kept in the guest, oldest first.

use serde_json::json;

use super::context::Context;
use crate::error::Result;
use crate::guest::Guest;
use crate::output::sanitize;
use crate::release::store::ReadMode;
use crate::release::store_calls;

pub(super) fn run(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let host = ctx.connect(&config)?;
    let store = store_calls::read(
        Guest::of(&host, &config),
        &config.project(),
        ReadMode::Current,
    )?;
    let current = store.current.as_deref();
    if store.releases.is_empty() {
        ctx.out.info(none_yet(&Guest::of(&host, &config).named()));
    } else {
        let by = store
            .releases
            .iter()
            .map(|r| r.by.len())
            .max()
            .unwrap_or(2)
            .max(2);
        ctx.out.data(format!(
            "{:<25}  {:<20}  {:<by$}  {:<11}  CURRENT",
            "ID", "DEPLOYED (UTC)", "BY", "RESULT"
        ));
        for r in &store.releases {
            ctx.out.data(format!(
                "{:<25}  {:<20}  {:<by$}  {:<11}  {}",
                r.id,
                sanitize(&r.deployed),
                sanitize(&r.by),
                r.result,
                if Some(r.id.as_str()) == current {
                    "*"
                } else {
                    ""
                }
            ));
        }
    }
    let list: Vec<_> = store
        .releases
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["current"] = json!(Some(r.id.as_str()) == current);
            v
        })
        .collect();
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "current": current, "releases": list }),
    );
    Ok(())
}

/// What `releases` says before the first deploy.
fn none_yet(guest: &str) -> String {
    format!("no releases in {guest} yet: `pxdeploy deploy` records one")
}

#[cfg(test)]
mod tests {
    #[test]
    fn none_yet_names_the_guest_as_it_is() {
        assert_eq!(
            super::none_yet("VM 220"),
            "no releases in VM 220 yet: `pxdeploy deploy` records one"
        );
    }
}
