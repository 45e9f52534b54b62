//! `pxdeploy diff`: the pushed files changed inside the guest since the deploy (or
//! rollback) that wrote them: compared with the current release's manifest, every file's
//! content hashed (`release::drift`). One read-only call; nothing is changed. The next
//! `deploy` puts back what it lists.

use serde_json::json;

use super::context::Context;
use crate::error::{Error, Result};
use crate::guest::Inside;
use crate::output::sanitize;
use crate::release::{self, drift, store_calls};

/// `pxdeploy diff`.
pub(super) fn run(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let project = config.project();
    let vmid = project.inside.id();
    let guest = project.inside.named();
    let host = ctx.connect(&config)?;
    let command = drift::command(&project);
    let out = host.probe_ok(&command)?;
    let unreadable =
        |why: String| Error::remote(format!("cannot read the pushed files of {guest}")).cause(why);
    let mut rest = &out.stdout[..];
    let store = release::parse_read(&mut rest).map_err(unreadable)?;
    store_calls::check(&store, &project)?;
    let seen = drift::parse(&mut rest).map_err(unreadable)?;
    let (Some(id), Some(manifest)) = (store.current.clone(), store.current_manifest()) else {
        ctx.out.info(format!(
            "no release in {guest} yet: nothing to compare (`pxdeploy deploy` records one)"
        ));
        ctx.succeed(
            Some(&host),
            json!({ "vmid": vmid, "release": null, "checked": false, "drifted": [] }),
        );
        return Ok(());
    };
    let Some(seen) = seen else {
        ctx.out.info(format!(
            "the switch to release {id} in {guest} is unfinished: nothing compared (the next `pxdeploy deploy` or `rollback` finishes it)"
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
        ctx.out.info(summary(project.inside, &id, files, 0));
    } else {
        for d in &drifted {
            let why = match d.what {
                "missing" => String::new(),
                _ => format!("  ({})", d.why),
            };
            ctx.out
                .data(format!("{:<8} {}{why}", d.what, sanitize(&d.path)));
        }
        ctx.out
            .info(summary(project.inside, &id, files, drifted.len()));
    }
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "release": id, "checked": true, "drifted": drifted }),
    );
    Ok(())
}

/// The last line: `drifted` of the `files` pushed files of release `id` changed.
fn summary(inside: Inside, id: &str, files: u64, drifted: usize) -> String {
    match drifted {
        0 => format!(
            "no drift: the {files} pushed files of release {id} in {} are as deployed",
            inside.named()
        ),
        n => format!(
            "{n} of the {files} pushed files of release {id} in {} changed in the {}; `pxdeploy deploy` puts them back",
            inside.named(),
            inside.noun()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_the_guest_as_it_is() {
        assert_eq!(
            summary(Inside::Vm(220), "R1", 12, 2),
            "2 of the 12 pushed files of release R1 in VM 220 changed in the VM; `pxdeploy deploy` puts them back"
        );
        assert_eq!(
            summary(Inside::Container(210), "R1", 12, 0),
            "no drift: the 12 pushed files of release R1 in container 210 are as deployed"
        );
    }
}
