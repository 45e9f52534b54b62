//! Putting a release back: after a failed deploy (`[deploy] on_failure`) and for
//! `pxdeploy rollback`.

use super::activate;
use super::drift;
use super::plan::{self, Op};
use super::rollback_env::{self, EnvOutcome};
use super::store::ReadMode;
use super::{store_calls, Store};
use crate::config::{Config, OnFailure};
use crate::error::{Error, ErrorKind, Result};
use crate::guest::Guest;
use crate::health::{self, ServiceHealth, Timing};
use crate::progress::{done, Reporter};

/// Which release to go back to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// This id, or the newest healthy one before the current one.
    Requested(Option<&'a str>),
    /// The newest healthy one before this (failed) release.
    HealthyBefore(&'a str),
}

/// What a rollback did.
#[derive(Debug)]
pub(crate) struct Rolled {
    pub from: Option<String>,
    pub to: String,
    pub written: u64,
    pub deleted: u64,
    /// What happened to `.env`.
    pub env: EnvOutcome,
    pub services: Vec<ServiceHealth>,
}

/// Puts back the release `target` names and waits for its health. `.env` keeps today's
/// secrets and gets the release's values back, or with `with_env` is the release's as it
/// was ([`rollback_env`]). `picked` is set as soon as the release is chosen (so a caller
/// can name it when its health wait fails).
pub(crate) fn roll_back(
    guest: Guest<'_>,
    cfg: &Config,
    reporter: &dyn Reporter,
    target: Target<'_>,
    with_env: bool,
    picked: &mut Option<String>,
) -> Result<Rolled> {
    let host = guest.inside_host()?;
    let project = cfg.project();
    let vmid = project.inside.id();
    let store = reporter.step_with(
        &format!("Reading the releases of {} {vmid}", project.inside.noun()),
        |s: &Store| {
            done(format!(
                "{} kept, current {}",
                s.releases.len(),
                s.current.as_deref().unwrap_or("none")
            ))
        },
        || store_calls::read(guest, &project, ReadMode::All),
    )?;
    let to = match target {
        Target::Requested(id) => plan::rollback_target(&store, id, project.inside)?.clone(),
        Target::HealthyBefore(id) => plan::previous_healthy(&store, id)
            .cloned()
            .ok_or_else(|| Error::config("no earlier healthy release"))?,
    };
    *picked = Some(to.id.clone());
    let manifest = store.manifests.get(&to.id).ok_or_else(|| {
        Error::remote(format!(
            "release `{}` in {} {vmid} has no manifest",
            to.id,
            project.inside.noun()
        ))
    })?;
    // Files changed by hand in the guest since their switch are put back too.
    let drifted = match store.current_manifest() {
        Some(current) => drift::check(host, &project, current),
        None => Vec::new(),
    };
    for d in &drifted {
        reporter.note(&d.note(project.inside, "switch", "putting it back"));
    }
    let mut diff =
        plan::diff_repairing(store.current_manifest(), manifest, &drift::paths(&drifted));
    let env = if with_env {
        diff.ops.push(Op::Env {
            id: to.id.clone(),
            dir: project.dir(),
        });
        EnvOutcome::release()
    } else {
        reporter.step_with(
            "Keeping today's secrets in .env",
            |e: &EnvOutcome| done(e.summary()),
            || rollback_env::keep_secrets(guest, &project, cfg, &to.id),
        )?
    };
    reporter.step(
        &format!(
            "Putting back release {} ({} files written, {} deleted)",
            to.id, diff.changed, diff.deleted
        ),
        || store_calls::switch(guest, &project, &to.id, &diff.ops),
    )?;
    let from = store.current.clone().filter(|c| *c != to.id);
    // The release's own compose file decides what to wait for and how to judge it (a
    // one-shot job there may be a long-running service, or missing, in today's file).
    let stored = store_calls::compose(guest, &project, manifest);
    let services = cfg
        .health
        .services
        .clone()
        .or_else(|| stored.as_ref().map(|c| c.services.clone()))
        .unwrap_or_else(|| cfg.health_services());
    let project = match stored {
        Some(c) => crate::compose::Project {
            model: c.model,
            ..project
        },
        None => project,
    };
    let waited = activate::compose_up(guest, &project, cfg, reporter).and_then(|()| {
        if host.dry_run() {
            return Ok(Vec::new());
        }
        health::wait_for(
            guest,
            &project,
            &services,
            Timing::from_config(cfg),
            reporter,
        )
    });
    let mut results = Vec::new();
    if let (Target::Requested(_), Some(f)) = (target, &from) {
        if store.release(f).is_some_and(|r| r.result != "failed") {
            results.push((f.as_str(), "rolled-back"));
        }
    }
    results.push((
        to.id.as_str(),
        if waited.is_ok() { "healthy" } else { "failed" },
    ));
    store_calls::finish(guest, &project, None, &results)?;
    let services = waited?;
    if !to.fingerprint.is_empty() {
        activate::mark(guest, &project, &to.fingerprint)?;
    }
    Ok(Rolled {
        from,
        to: to.id,
        written: diff.changed,
        deleted: diff.deleted,
        env,
        services,
    })
}

/// A deploy of release `failed` ended with `err` after its switch: record it as failed
/// and, when its health wait failed and `[deploy] on_failure = "rollback"`, go back to the
/// newest healthy release before it. Returns `err` saying what runs now; `rolled` gets the
/// release rolled back to and whether it is healthy.
pub(crate) fn after_failed_deploy(
    guest: Guest<'_>,
    cfg: &Config,
    failed: &str,
    mut err: Error,
    reporter: &dyn Reporter,
    rolled: &mut Option<(String, bool)>,
) -> Error {
    let host = guest.host();
    // Ctrl-C, or a lost lock (another deploy may run now): no further remote command.
    if matches!(err.kind, ErrorKind::Interrupted | ErrorKind::Locked) {
        return err;
    }
    let project = cfg.project();
    if let Err(e) = store_calls::finish(guest, &project, None, &[(failed, "failed")]) {
        return err.cause(format!(
            "release {failed} could not be recorded as failed: {}",
            e.message
        ));
    }
    let what = if err.kind != ErrorKind::Unhealthy || host.dry_run() {
        return err;
    } else if cfg.deploy.on_failure == OnFailure::Keep {
        format!("release `{failed}` is left running ([deploy] on_failure = \"keep\"); `pxdeploy rollback` goes back")
    } else {
        reporter.note(&format!(
            "release {failed} is not healthy: rolling back ([deploy] on_failure = \"rollback\")"
        ));
        let mut picked = None;
        let to = Target::HealthyBefore(failed);
        match roll_back(guest, cfg, reporter, to, false, &mut picked) {
            Ok(r) => {
                *rolled = Some((r.to.clone(), true));
                format!(
                    "rolled back: release `{}` is running now and healthy; the failed release `{failed}` is kept (`pxdeploy releases`)",
                    r.to
                )
            }
            Err(e) => match picked {
                None => format!(
                    "no earlier healthy release to roll back to: release `{failed}` is still running"
                ),
                Some(to) => {
                    *rolled = Some((to.clone(), false));
                    format!(
                        "rolled back to release `{to}`, which is running now but not healthy either: {}",
                        e.message
                    )
                }
            },
        }
    };
    reporter.note(&what);
    err.causes.insert(0, what);
    err
}

/// The release command of release `failed` (whose tree is `manifest`) failed after the
/// switch and before `up`: the services still run the release `before` had as current, so
/// its files and `.env` go back into the tree (no `up`: nothing was restarted), and `failed`
/// is recorded as failed. Returns `err` saying what runs now.
pub(crate) fn after_failed_release_command(
    guest: Guest<'_>,
    cfg: &Config,
    before: &Store,
    failed: &str,
    manifest: &super::Manifest,
    mut err: Error,
    reporter: &dyn Reporter,
) -> Error {
    if matches!(err.kind, ErrorKind::Interrupted | ErrorKind::Locked) {
        return err;
    }
    let project = cfg.project();
    let previous = before
        .current
        .as_ref()
        .and_then(|id| Some((id, before.manifests.get(id)?)));
    let what = match previous {
        None => format!("release `{failed}` is in place but `docker compose up` did not run"),
        Some((id, old)) => {
            let mut diff = plan::diff(Some(manifest), old);
            diff.ops.push(Op::Env {
                id: id.clone(),
                dir: project.dir(),
            });
            let put_back = reporter.step(
                &format!(
                    "Putting back the files of release {id} ({} written, {} deleted)",
                    diff.changed, diff.deleted
                ),
                || store_calls::switch(guest, &project, id, &diff.ops),
            );
            match put_back {
                Ok(()) => format!("the services still run release `{id}`, untouched, and its files are back in place"),
                Err(e) => format!("the services still run release `{id}`, but its files could not be put back: {}", e.message),
            }
        }
    };
    if let Err(e) = store_calls::finish(guest, &project, None, &[(failed, "failed")]) {
        err = err.cause(format!(
            "release {failed} could not be recorded as failed: {}",
            e.message
        ));
    }
    err.causes.insert(0, what);
    err
}
