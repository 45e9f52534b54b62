//! `pxdeploy diff`: the pushed files changed inside the container since the deploy (or
//! rollback) that wrote them: compared with the current release's manifest, every file's
//! content hashed (`release::drift`). One read-only call; nothing is changed. The next
//! `deploy` puts back what it lists.

use serde_json::json;

use super::context::Context;
use crate::error::{Error, Result};
use crate::output::sanitize;
use crate::release::{self, drift, store_calls};

/// `pxdeploy diff`.
pub(super) fn run(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let project = config.project();
    let vmid = project.inside.id();
    let host = ctx.connect(&config)?;
    let command = drift::command(&project);
    let out = host.probe_ok(&command)?;
    let unreadable = |why: String| {
        Error::remote(format!("cannot read the pushed files of container {vmid}")).cause(why)
    };
    let mut rest = &out.stdout[..];
    let store = release::parse_read(&mut rest).map_err(unreadable)?;
    store_calls::check(&store, &project)?;
    let seen = drift::parse(&mut rest).map_err(unreadable)?;
    let (Some(id), Some(manifest)) = (store.current.clone(), store.current_manifest()) else {
        ctx.out.info(format!(
            "no release in container {vmid} yet: nothing to compare (`pxdeploy deploy` records one)"
        ));
        ctx.succeed(
            Some(&host),
            json!({ "vmid": vmid, "release": null, "checked": false, "drifted": [] }),
        );
        return Ok(());
    };
    let Some(seen) = seen else {
        ctx.out.info(format!(
            "the switch to release {id} in container {vmid} is unfinished: nothing compared (the next `pxdeploy deploy` or `rollback` finishes it)"
        ));
        ctx.succeed(
            Some(&host),
            json!({ "vmid": vmid, "release": id, "checked": false, "drifted": [] }),
        );
        return Ok(());
    };
    let drifted = drift::drifted(manifest, &seen);
    let (files, _) = manifest.totals();
    if drifted.is_empty() {
        ctx.out.info(format!(
            "no drift: the {files} pushed files of release {id} in container {vmid} are as deployed"
        ));
    } else {
        for d in &drifted {
            let why = match d.what {
                "missing" => String::new(),
                _ => format!("  ({})", d.why),
            };
            ctx.out
                .data(format!("{:<8} {}{why}", d.what, sanitize(&d.path)));
        }
        ctx.out.info(format!(
            "{} of the {files} pushed files of release {id} in container {vmid} changed in the container; `pxdeploy deploy` puts them back",
            drifted.len()
        ));
    }
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "release": id, "checked": true, "drifted": drifted }),
    );
    Ok(())
}
