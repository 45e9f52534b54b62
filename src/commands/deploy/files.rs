//! Steps 6 and 8 of a deploy (docs/deploy.md): merge `.env`; read the app folder; the pushed files that
//! drifted in the container; then stage the new release (only what the container lacks),
//! write `.env`, and switch the tree to the release, putting back what drifted.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::compose::Project;
use crate::config::Config;
use crate::envfile::{self, Redacted, Report};
use crate::error::{Error, Result};
use crate::guest::{Guest, Inside};
use crate::lock::Holder;
use crate::output::size;
use crate::progress::{done, Reporter};
use crate::push::Stats;
use crate::release::drift::{self, Drifted};
use crate::release::inspect::Inspection;
use crate::release::manifest::Local;
use crate::release::{self, plan, store_calls, Release, Store};
use crate::remote::host::{ensure_success, Host};

const ENV_TIMEOUT: Duration = Duration::from_secs(60);

/// Merges the configuration into the container's `.env` (as read by the inspection).
/// Returns the report, the new content and whether it differs from the container's;
/// secret values stay inside [`Redacted`].
pub(super) fn merge_env(
    cfg: &Config,
    project: &Project,
    existing: Option<Redacted<Vec<u8>>>,
) -> Result<(Report, Redacted<String>, bool)> {
    let existing = match existing {
        None => Redacted::default(),
        Some(bytes) => Redacted::new(String::from_utf8(bytes.expose().clone()).map_err(|_| {
            Error::remote(format!(
                "{}/.env in {} {} is not UTF-8 text",
                project.dir(),
                project.inside.noun(),
                project.inside.id()
            ))
            .hint(format!(
                "fix or remove that file inside the {}, then deploy again",
                project.inside.noun()
            ))
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
    let changed = merged.content != existing;
    Ok((merged.report, merged.content, changed))
}

/// Replaces `.env` with `content` (over stdin, never on a command line).
fn write_env(host: &Host, project: &Project, content: &Redacted<String>) -> Result<()> {
    let mut bytes = content.expose().as_bytes();
    let write = project
        .inside
        .exec(&envfile::write_argv(&project.dir(), bytes.len()));
    let out = host.change_with_stdin(&write, &mut bytes, ENV_TIMEOUT)?;
    ensure_success(&write, out)
        .map_err(|e| e.hint("the previous .env is unchanged; deploy again"))?;
    Ok(())
}

/// The current release's files that changed inside the guest since their switch (the
/// inspection's check, `release::drift`), each named in a note: this deploy puts them back.
pub(super) fn drifted(
    inspection: &Inspection,
    inside: Inside,
    dry_run: bool,
    reporter: &dyn Reporter,
) -> Vec<Drifted> {
    let (Some(manifest), Some(seen)) = (inspection.store.current_manifest(), &inspection.drift)
    else {
        return Vec::new();
    };
    let found = drift::drifted(manifest, seen);
    let then = match dry_run {
        true => "it would be put back",
        false => "putting it back",
    };
    for d in &found {
        reporter.note(&d.note(inside, "deploy", then));
    }
    found
}

/// The facts of the release this deploy makes.
pub(super) fn new_release(fingerprint: &str) -> Release {
    let holder = Holder::current();
    Release {
        id: release::new_id(SystemTime::now()),
        result: "pending".into(),
        deployed: holder.since,
        by: format!("{}@{}", holder.user, holder.machine),
        version: env!("CARGO_PKG_VERSION").into(),
        fingerprint: fingerprint.into(),
    }
}

/// `.env` when it changed, then stage (only the contents the store lacks) and switch the
/// tree from the current release to `new`, in one call: a connection dropped before the
/// switch leaves the old release whole; one dropped during it is finished by the next deploy.
/// The `drifted` paths are written again even where the source did not change.
#[allow(clippy::too_many_arguments)]
pub(super) fn push(
    guest: Guest<'_>,
    project: &Project,
    new: &Release,
    local: &Local,
    store: &Store,
    drifted: &BTreeSet<String>,
    env: (&Redacted<String>, bool),
    reporter: &dyn Reporter,
) -> Result<Stats> {
    let host = guest.inside_host()?;
    let diff = plan::diff_repairing(store.current_manifest(), &local.manifest, drifted);
    if env.1 {
        write_env(host, project, env.0)?;
    }
    let bytes = reporter.step_with(
        &format!(
            "Pushing {} changed files to {} (release {})",
            diff.changed, project.remote_dir, new.id
        ),
        |sent: &u64| {
            done(format!(
                "{} sent, tree switched ({} written, {} deleted)",
                size(*sent),
                diff.changed,
                diff.deleted
            ))
        },
        || store_calls::stage_and_switch(guest, project, new, local, store, env.0, &diff.ops),
    )?;
    Ok(Stats {
        files: diff.changed,
        bytes,
        unchanged: diff.unchanged,
        deleted: diff.deleted,
    })
}
