//! `pxdeploy deploy`: lock → inspect the container (starting it if stopped) → `.env` →
//! push → `docker compose up` (skipped when nothing changed and every service is healthy)
//! → health wait → summary. The mechanics are in `lock`, `inspect`, `push`, `envfile`,
//! `compose` and `health`; the steps' details in the submodules; this file is the list.

mod container;
mod files;

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::DeployArgs;
use crate::config::Config;
use crate::envfile::Report;
use crate::error::Result;
use crate::health::{self, ServiceHealth, Timing};
use crate::hooks::{self, Hook};
use crate::lock;
use crate::output::{size, Output};
use crate::progress::{done, Reporter};
use crate::push::Stats;
use crate::release::manifest::{self, Local};
use crate::release::{command, up};
use crate::release::{plan, remote};
use crate::remote::host::Host;
use crate::snapshots::When;

/// What a deploy did, for the summary and the JSON document.
#[derive(Debug, Default)]
pub struct Outcome {
    pub started_container: bool,
    pub pushed: Stats,
    pub env: Report,
    /// `docker compose up` ran (false: nothing had changed, every service was healthy).
    pub up: bool,
    pub services: Vec<ServiceHealth>,
    pub compose_version: Option<String>,
    /// The release this deploy recorded (none when nothing changed).
    pub release: Option<String>,
    /// After a failed health wait: the release rolled back to, and whether it is healthy.
    pub rolled_back: Option<(String, bool)>,
    /// Pushed files changed in the container since the last deploy, put back.
    pub drifted: Vec<crate::release::drift::Drifted>,
}

pub use crate::lock::SpawnLock;

/// `pxdeploy deploy`.
pub fn run(ctx: &super::context::Context, args: &DeployArgs) -> Result<()> {
    let mut config = ctx.config()?;
    config.env.sourced = crate::secrets::read(&config, &|v| std::env::var(v).ok())?;
    let host = ctx.connect(&config)?;
    let spawn = |command: &str| -> Result<Box<dyn lock::Channel>> {
        Ok(Box::new(host.session().spawn(command)?))
    };
    let facts = deploy(
        &host,
        &config,
        args,
        ctx.reporter.as_ref(),
        &ctx.out,
        &spawn,
    )?;
    ctx.succeed(Some(&host), facts);
    Ok(())
}

/// Runs every step against an open host; returns the JSON facts of the deploy.
pub fn deploy(
    host: &Host,
    cfg: &Config,
    args: &DeployArgs,
    reporter: &dyn Reporter,
    out: &Output,
    spawn_lock: SpawnLock<'_>,
) -> Result<serde_json::Value> {
    let started = Instant::now();
    let vmid = cfg.container.vmid;
    let project = cfg.project();
    let mut outcome = Outcome::default();
    let mut release = String::new();

    let result = (|| -> Result<()> {
        let lock = crate::lock::take(host, vmid, reporter, spawn_lock)?;
        hooks::run(Hook::PreDeploy, cfg, host, "", "deploy", reporter)?;
        let snapshot = crate::snapshots::when(host, cfg)?;
        if snapshot == When::Now {
            crate::snapshots::before_deploy(host, cfg, reporter)?;
        }
        let (mut inspection, started) =
            container::inspect_running(host, &project, args.force, reporter, out)?;
        outcome.started_container = started;
        outcome.compose_version = container::check_compose(&inspection, &project, host.dry_run())?;
        remote::check(&inspection.store, &project)?;
        release = inspection.store.current.clone().unwrap_or_default();
        outcome.drifted = files::drifted(&inspection, host.dry_run(), reporter);
        crate::firewall::apply(host, cfg, reporter, out)?;

        let existing = inspection.env.take();
        let (report, env, env_changed) = reporter.step_with(
            "Merging .env",
            |(r, _, _): &(Report, _, _)| match r.changes() {
                true => done(format!("changed: {}", r.summary())),
                false => done(format!("unchanged: {}", r.summary())),
            },
            || files::merge_env(cfg, &project, existing),
        )?;
        outcome.env = report;

        let source = cfg.source_dir();
        let local = reporter.step_with(
            &format!("Reading {}", source.display()),
            |l: &Local| {
                let (n, bytes) = l.manifest.totals();
                done(format!("{n} files ({})", size(bytes)))
            },
            || manifest::read_local(&source),
        )?;
        let fingerprint = up::fingerprint(&project, &local.manifest.digest(), &env);
        // A drifted file is a change: it is put back, and `up` runs on what was pushed.
        let unchanged = !args.force && outcome.drifted.is_empty();
        if let Some(services) = up::unchanged(&inspection, &fingerprint, cfg).filter(|_| unchanged)
        {
            reporter.note(if host.dry_run() {
                "nothing changed since the last deploy and every service is healthy: nothing would be pushed, `docker compose up` would be skipped (`--force` runs it)"
            } else {
                "nothing changed since the last deploy and every service is healthy: nothing pushed, `docker compose up` skipped (`--force` runs it)"
            });
            outcome.pushed.unchanged = local.manifest.totals().0;
            outcome.services = services;
            return Ok(());
        }
        crate::compose::conflicts::check(&project, |ps| {
            Ok(Some(host.probe(ps)?)
                .filter(|o| o.status.success())
                .map(|o| o.stdout_str()))
        })?;
        if snapshot == When::IfChanged {
            crate::snapshots::before_deploy(host, cfg, reporter)?;
        }
        let new = files::new_release(&fingerprint);
        outcome.release = Some(new.id.clone());
        release.clone_from(&new.id);
        outcome.pushed = files::push(
            host,
            &project,
            &new,
            &local,
            &inspection.store,
            &crate::release::drift::paths(&outcome.drifted),
            (&env, env_changed),
            reporter,
        )?;
        if let Err(e) = command::run(host, &project, cfg, reporter) {
            return Err(crate::release::rollback::after_failed_release_command(
                host,
                cfg,
                &inspection.store,
                &new.id,
                &local.manifest,
                e,
                reporter,
            ));
        }
        outcome.up = true;
        let keep = plan::keep(&inspection.store, &new.id, cfg.deploy.keep_releases);
        // The finish's channel opens as the wait starts; dropped unused on a failed wait
        // (before the rollback), it records nothing.
        let waited = up::compose_up(host, &project, cfg, reporter).and_then(|()| {
            let held = lock.as_ref().map(|l| l.held());
            let results = [(new.id.as_str(), "healthy")];
            let finish = up::prepare_finish(host, &project, Some(&keep), &results, held.as_ref());
            let services = match host.dry_run() {
                true => Vec::new(),
                false => health::wait_for(
                    host,
                    &project,
                    &cfg.health_services(),
                    Timing::from_config(cfg),
                    reporter,
                )?,
            };
            Ok((services, finish))
        });
        let finish = match waited {
            Ok((services, finish)) => {
                outcome.services = services;
                finish
            }
            Err(e) => {
                return Err(crate::release::rollback::after_failed_deploy(
                    host,
                    cfg,
                    &new.id,
                    e,
                    reporter,
                    &mut outcome.rolled_back,
                ));
            }
        };
        up::finish_and_mark(host, vmid, finish, &fingerprint)
    })();

    let facts = facts(cfg, host, &outcome, started.elapsed());
    match result {
        Ok(()) => {
            summary(out, cfg, host, &outcome, started.elapsed());
            hooks::run(Hook::PostDeploy, cfg, host, &release, "deploy", reporter)
                .map_err(|e| e.facts(facts.clone()))?;
            Ok(facts)
        }
        Err(mut err) => {
            // Keep the error's own facts (services and their state) and add the deploy's.
            let mut merged = facts;
            if let (Some(map), Some(serde_json::Value::Object(own))) =
                (merged.as_object_mut(), err.facts.take())
            {
                map.extend(own);
            }
            Err(err.facts(merged))
        }
    }
}

/// The JSON facts of a deploy (also attached to a failure).
fn facts(cfg: &Config, host: &Host, o: &Outcome, elapsed: Duration) -> serde_json::Value {
    json!({
        "vmid": cfg.container.vmid,
        "host": host.alias,
        "project": cfg.app.name,
        "remote_dir": cfg.app.remote_dir.clone(),
        "container_started": o.started_container,
        "pushed": o.pushed,
        "release": o.release,
        "drifted": o.drifted,
        "rolled_back_to": o.rolled_back.as_ref().map(|(id, healthy)| json!({ "id": id, "healthy": healthy })),
        "env": o.env,
        "compose_version": o.compose_version,
        "compose_up": if o.up { "ran" } else { "skipped: nothing changed" },
        "services": o.services,
        "duration_secs": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// Step 6: the summary for people (stderr) and the services table (stdout).
fn summary(out: &Output, cfg: &Config, host: &Host, o: &Outcome, elapsed: Duration) {
    let vmid = cfg.container.vmid;
    if host.dry_run() {
        out.info(format!(
            "dry run: would write {} files ({} to send), delete {}, keep {} unchanged in {} in container {vmid}; .env: {}; {}",
            o.pushed.files,
            size(o.pushed.bytes),
            o.pushed.deleted,
            o.pushed.unchanged,
            cfg.app.remote_dir,
            o.env.summary(),
            if o.up {
                "would run `docker compose up`"
            } else {
                "nothing changed: `docker compose up` would be skipped"
            }
        ));
        return;
    }
    let put_back = match o.drifted.len() {
        0 => String::new(),
        _ => format!(
            "; put back what changed in the container: {}",
            crate::release::drift::list(&o.drifted)
        ),
    };
    out.info(format!(
        "{} deployed to container {vmid} on {} in {:.1}s{}: {} files written ({} sent), {} deleted, {} unchanged{put_back}; .env: {}; {}{}",
        cfg.app.name,
        host.alias,
        elapsed.as_secs_f64(),
        o.release
            .as_ref()
            .map(|id| format!(" as release {id}"))
            .unwrap_or_default(),
        o.pushed.files,
        size(o.pushed.bytes),
        o.pushed.deleted,
        o.pushed.unchanged,
        o.env.summary(),
        if o.up {
            ""
        } else {
            "nothing changed, services left running; "
        },
        if o.services.is_empty() {
            "no services to wait for".to_string()
        } else {
            format!("{} services healthy", o.services.len())
        }
    ));
    if !o.services.is_empty() {
        out.data(health::table(&o.services));
    }
}
