//! Steps 4 and 5 of a deploy: merge and write `.env`, push the app folder.

use std::path::Path;
use std::time::Duration;

use crate::compose::Project;
use crate::config::Config;
use crate::envfile::{self, Redacted, Report};
use crate::error::{Error, Result};
use crate::push::{self, Archive, Stats};
use crate::remote::host::{ensure_success, Host};

const PUSH_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const ENV_TIMEOUT: Duration = Duration::from_secs(60);

/// Merges the configuration into the container's `.env` (as read by the inspection) and
/// replaces the file when something changed. Returns the report and the new content;
/// secret values stay inside [`Redacted`] and the upload's stdin.
pub fn write_env(
    host: &Host,
    cfg: &Config,
    project: &Project,
    existing: Option<Redacted<Vec<u8>>>,
) -> Result<(Report, Redacted<String>)> {
    let existing = match existing {
        None => Redacted::default(),
        Some(bytes) => Redacted::new(String::from_utf8(bytes.expose().clone()).map_err(|_| {
            Error::remote(format!(
                "{}/.env in container {} is not UTF-8 text",
                project.dir(),
                project.vmid
            ))
            .hint("fix or remove that file inside the container, then deploy again")
        })?),
    };
    // Sourced secrets are set on every deploy, like values (their names only are reported).
    let generated = cfg.env.secrets.iter();
    let generated = generated.filter_map(|(k, s)| Some((k.clone(), s.length()?)));
    let mut values = cfg.env.values.clone();
    values.extend(
        cfg.env
            .sourced
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().clone())),
    );
    let merged = envfile::merge(
        &existing,
        &generated.collect(),
        &values,
        &mut envfile::generate_secret,
    )?;
    if merged.content == existing {
        return Ok((merged.report, merged.content));
    }
    let mut content = merged.content.expose().as_bytes();
    let write = envfile::write_command(project.vmid, &project.dir(), content.len());
    let out = host.change_with_stdin(&write, &mut content, ENV_TIMEOUT)?;
    ensure_success(&write, out)
        .map_err(|e| e.hint("the previous .env is unchanged; deploy again"))?;
    Ok((merged.report, merged.content))
}

/// The app folder, streamed as tar into `tar -x` inside the container. Returns what was
/// pushed and its digest ([`push::digest`]; under `--dry-run` the folder is only read).
pub fn push_app(
    host: &Host,
    vmid: u32,
    source: &Path,
    remote_dir: &str,
) -> Result<(Stats, String)> {
    let command = push::extract_command(vmid, remote_dir);
    if host.dry_run() {
        let digest = push::digest(source)?;
        host.change(&command, PUSH_TIMEOUT)?;
        return Ok(digest);
    }
    let mut archive = Archive::new(source)?;
    let stats = archive.stats.clone();
    let out = host.change_with_stdin(&command, &mut archive, PUSH_TIMEOUT);
    let produced = archive.finish();
    // The remote side's failure first: it explains an archive thread stopped by it.
    ensure_success(&command, out?)?;
    Ok((stats, produced?))
}
