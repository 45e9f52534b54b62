//! Step 1 of `create`: the template, found on the template storage or downloaded.

use std::time::Duration;

use crate::commands::context::Context;
use crate::config::Container;
use crate::error::{Error, Result};
use crate::output::tail_of;
use crate::progress::{done, Ending};
use crate::proxmox::pveam;
use crate::remote::host::Host;

const PVEAM_UPDATE_TIMEOUT: Duration = Duration::from_secs(300);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(1800);

/// The template's volume id: a full volume id as given; else the newest match of the name
/// prefix on the template storage; else `pveam update` and download the newest available.
pub(super) fn resolve(ctx: &Context, host: &Host, c: &Container) -> Result<String> {
    if pveam::is_volid(&c.template) {
        return Ok(c.template.clone());
    }
    let storage = &c.template_storage;
    let local = ctx.reporter.step_with(
        &format!("Looking for template {} on {storage}", c.template),
        |found: &Option<String>| done(found.as_deref().unwrap_or("not there yet")),
        || {
            let list = host.probe_ok(&pveam::list(storage))?;
            let local = pveam::parse_list(&list.stdout_str());
            Ok(
                pveam::newest_match(&c.template, local.iter().map(String::as_str))
                    .map(str::to_string),
            )
        },
    )?;
    if let Some(volid) = local {
        return Ok(volid);
    }
    let update_failure = update_index(ctx, host)?;

    let available = host.probe_ok(&pveam::available_system())?;
    let entries = pveam::parse_available(&available.stdout_str());
    let Some(file) = pveam::newest_match(&c.template, entries.iter().map(|a| a.template.as_str()))
    else {
        let mut err = Error::remote(format!("no template matches `{}`", c.template))
            .cause(format!("`{}` lists none", pveam::available_system()));
        if let Some(why) = update_failure {
            err = err.cause(format!("`pveam update` failed: {why}"));
        }
        return Err(err.hint(
            "`pveam available --section system` on the host lists the templates; set `container.template` to one of them",
        ));
    };
    let file = file.to_string();
    ctx.reporter.step_with(
        &format!("Downloading template {file}"),
        |volid: &String| done(if host.dry_run() { "" } else { volid }),
        || download(host, storage, &file),
    )
}

/// `pveam update`; a failure is a warning (the cached index is used). Returns the failure.
fn update_index(ctx: &Context, host: &Host) -> Result<Option<String>> {
    let failure = ctx.reporter.step_with(
        "Updating the template index",
        |failure: &Option<String>| match failure {
            Some(why) => Ending::Failed(why.clone()),
            None => done(""),
        },
        || {
            let update = host.change(&pveam::update(), PVEAM_UPDATE_TIMEOUT)?;
            Ok((!host.dry_run()
                && !pveam::update_succeeded(&update.stdout_str(), &update.stderr_str()))
            .then(|| tail_of(&update.stderr_str(), &update.stdout_str(), 3)))
        },
    )?;
    if let Some(why) = &failure {
        ctx.out.warn(format!(
            "`pveam update` failed, using the cached template index: {why}"
        ));
    }
    Ok(failure)
}

/// `pveam download`, checked by listing the storage (it exits 0 even when it failed).
fn download(host: &Host, storage: &str, file: &str) -> Result<String> {
    let volid = pveam::volid(storage, file);
    let command = pveam::download(storage, file);
    let out = host.change(&command, DOWNLOAD_TIMEOUT)?;
    if host.dry_run() {
        return Ok(volid);
    }
    let check = host.probe_ok(&pveam::list(storage))?;
    if !out.status.success() || !pveam::parse_list(&check.stdout_str()).contains(&volid) {
        let why = tail_of(&out.stderr_str(), &out.stdout_str(), 5);
        return Err(Error::remote(format!("downloading template {file} failed"))
            .cause(format!("`{command}` {}: {why}", out.status))
            .hint(format!(
                "check the host's internet access, then try `{command}` on the host"
            )));
    }
    Ok(volid)
}
