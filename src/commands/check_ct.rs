//! What `pxdeploy check` says about a `[container]` target besides the storages and the
//! bridge: the template, the vmid, Docker's LXC features.

use super::check::Check;
use crate::config::{Config, Container};
use crate::error::Result;
use crate::guest::{Guest, NotRun, Op, PctConfig};
use crate::proxmox::pveam;
use crate::remote::host::Host;

/// The template is on the template storage, or can be downloaded.
pub(super) fn template(host: &Host, c: &Container) -> Result<Check> {
    let listed = host.probe_ok(&pveam::list(&c.template_storage))?;
    let present = pveam::parse_list(&listed.stdout_str());
    if pveam::is_volid(&c.template) {
        return Ok(if present.iter().any(|v| v == &c.template) {
            Check::pass("template", format!("`{}` is present", c.template))
        } else {
            Check::fail(
                "template",
                format!("`{}` is not on storage `{}`", c.template, c.template_storage),
                "use a template name prefix such as `debian-12-standard` (pxdeploy downloads the newest), or `pveam download` it",
            )
        });
    }
    let files: Vec<&str> = present.iter().map(|v| pveam::template_file(v)).collect();
    if let Some(found) = pveam::newest_match(&c.template, files.iter().copied()) {
        return Ok(Check::pass(
            "template",
            format!("`{found}` is on storage `{}`", c.template_storage),
        ));
    }
    let available = host.probe_ok(&pveam::available_system())?;
    let offered = pveam::parse_available(&available.stdout_str());
    Ok(
        match pveam::newest_match(&c.template, offered.iter().map(|a| a.template.as_str())) {
            Some(found) => Check::pass(
                "template",
                format!("`{found}` will be downloaded by `pxdeploy create`"),
            ),
            None => Check::fail(
                "template",
                format!("no template matching `{}` is available", c.template),
                "run `pveam update` on the host, then `pveam available --section system` to pick a name",
            ),
        },
    )
}

/// The vmid is free, or it is our container (same hostname). Returns its config if it exists.
pub(super) fn vmid(
    host: &Host,
    config: &Config,
    c: &Container,
) -> Result<(Check, Option<PctConfig>)> {
    let guest = Guest::of(host, config);
    let command = guest.line(Op::Config);
    let out = host.probe(&command)?;
    if !out.status.success() {
        if guest.not_run(&out.stderr_str()) == Some(NotRun::Missing) {
            return Ok((
                Check::pass(
                    "vmid",
                    format!("{} is free: `pxdeploy create` will create it", c.vmid),
                ),
                None,
            ));
        }
        return Ok((
            Check::fail(
                "vmid",
                format!("`{command}` {}: {}", out.status, out.stderr_str().trim()),
                "see the message above",
            ),
            None,
        ));
    }
    let existing = guest.parse_config(&out.stdout_str());
    let theirs = existing.hostname().unwrap_or("").to_string();
    let check = if theirs == c.hostname {
        Check::pass(
            "vmid",
            format!("{} exists and is ours (hostname `{}`)", c.vmid, c.hostname),
        )
    } else {
        Check::fail(
            "vmid",
            format!(
                "{} is taken by another container (hostname `{theirs}`)",
                c.vmid
            ),
            "choose a free vmid (`pvesh get /cluster/nextid` on the host suggests one) for `container.vmid`",
        )
    };
    Ok((check, Some(existing)))
}

/// Docker inside LXC needs nesting (and keyctl when unprivileged).
pub(super) fn docker_features(c: &Container, existing: Option<&PctConfig>) -> Check {
    let Some(existing) = existing else {
        return Check::pass(
            "docker features",
            if c.unprivileged {
                "will be created unprivileged with nesting=1,keyctl=1"
            } else {
                "will be created privileged with nesting=1 (less isolation: see docs)"
            },
        );
    };
    let features = existing.features();
    let on = |k: &str| features.get(k).is_some_and(|v| v == "1");
    let unprivileged = existing.unprivileged();
    let missing: Vec<&str> = ["nesting", "keyctl"]
        .into_iter()
        .filter(|k| !on(k) && (*k == "nesting" || unprivileged))
        .collect();
    if missing.is_empty() {
        Check::pass(
            "docker features",
            format!(
                "{} container with {}",
                if unprivileged {
                    "unprivileged"
                } else {
                    "privileged"
                },
                if unprivileged {
                    "nesting=1,keyctl=1"
                } else {
                    "nesting=1"
                }
            ),
        )
    } else {
        let wanted = if unprivileged {
            "nesting=1,keyctl=1"
        } else {
            "nesting=1"
        };
        Check::fail(
            "docker features",
            format!("container {} lacks {}", c.vmid, missing.join(" and ")),
            format!(
                "`pct set {vmid} --features {wanted}` then `pct reboot {vmid}` on the host",
                vmid = c.vmid
            ),
        )
    }
}
