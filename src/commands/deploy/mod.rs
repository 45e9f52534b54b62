//! `pxdeploy deploy`: the list of its steps, numbered as in docs/deploy.md's table. Each
//! step is a named method of the deploy context [`Deploy`] (`steps.rs`: the guest, the
//! configuration, the flags, the reporter, the clock); their details are in the
//! submodules and in `lock`, `inspect`, `push`, `envfile`, `compose` and `health`.

mod container;
mod files;
mod steps;

use std::time::Duration;

use serde_json::json;

use crate::cli::DeployArgs;
use crate::config::Config;
use crate::envfile::Report;
use crate::error::Result;
use crate::health::{self, ServiceHealth};
use crate::output::{size, Output};
use crate::push::Stats;
use crate::remote::host::Host;

pub(crate) use steps::Deploy;

/// What a deploy did, for the summary and the JSON document.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
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
    /// The marker of the watcher the read call found (`[monitor]`).
    pub monitor_installed: Option<String>,
    /// What the deploy did to the watcher (none: no `[monitor]`, none installed).
    pub monitor: Option<crate::monitor::apply::Done>,
}

/// `pxdeploy deploy`.
pub(crate) fn run(ctx: &super::context::Context, args: &DeployArgs) -> Result<()> {
    let mut config = ctx.config()?;
    config.env.sourced = crate::secrets::read(&config, &|v| std::env::var(v).ok())?;
    let monitor = crate::monitor::apply::wanted(&config, &|v| std::env::var(v).ok())?;
    let host = ctx.connect(&config)?;
    let mut d = Deploy::new(&host, &config, args, ctx.reporter.as_ref(), &ctx.out);
    d.monitor = monitor;
    let facts = deploy(&d)?;
    ctx.succeed(Some(&host), facts);
    Ok(())
}

/// Runs every step (docs/deploy.md's table, in its order); returns the JSON facts of the
/// deploy, on failure too.
pub(crate) fn deploy(d: &Deploy<'_>) -> Result<serde_json::Value> {
    let mut o = Outcome::default();
    let mut current = None;
    let result = (|| -> Result<()> {
        let lock = d.lock()?; // 1
        d.pre_deploy_hook()?; // 2
        let snapshot = d.snapshot_first()?; // 3
        let mut inspection = d.read_container(&mut o)?; // 4
        current.clone_from(&inspection.store.current);
        d.firewall(&o)?; // 5
        let next = d.merge_and_read(&mut inspection, &mut o)?; // 6
        if d.nothing_changed(&inspection, &next, &mut o) {
            d.monitor(&mut o)?; // 12b
                                // Frozen past the give-up time, this run may have read what another deploy made.
            return lock.as_ref().map_or(Ok(()), |l| l.still_held());
        }
        d.before_push(snapshot)?; // 7
        let new = d.push(&inspection, &next, &mut o)?; // 8
        d.release_command(&inspection, &new, &next)?; // 9
        let finish = d.up_and_wait(lock.as_ref(), &inspection, &new, &mut o)?; // 10, 11
        d.remember(lock.as_ref(), finish, &next)?; // 12
        d.monitor(&mut o) // 12b
    })();

    let (cfg, host, elapsed) = (d.cfg, d.host(), d.clock.elapsed());
    let facts = facts(cfg, host, &o, elapsed);
    match result {
        Ok(()) => {
            summary(d.out, cfg, host, &o, elapsed); // 13
            let release = o.release.clone().or(current).unwrap_or_default();
            d.post_deploy_hook(&release) // 14
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
        "vmid": cfg.vmid(),
        "guest": cfg.kind().as_str(),
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
        "monitor": o.monitor,
        "duration_secs": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// Step 13: the summary for people (stderr) and the services table (stdout).
fn summary(out: &Output, cfg: &Config, host: &Host, o: &Outcome, elapsed: Duration) {
    let vmid = cfg.vmid();
    if host.dry_run() {
        out.info(format!(
            "dry run: would write {} files ({} to send), delete {}, keep {} unchanged in {} in {} {vmid}; .env: {}; {}",
            o.pushed.files,
            size(o.pushed.bytes),
            o.pushed.deleted,
            o.pushed.unchanged,
            cfg.app.remote_dir,
            cfg.kind().noun(),
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
            "; put back what changed in the {}: {}",
            cfg.kind().noun(),
            crate::release::drift::list(&o.drifted)
        ),
    };
    out.info(format!(
        "{} deployed to {} {vmid} on {} in {:.1}s{}: {} files written ({} sent), {} deleted, {} unchanged{put_back}; .env: {}; {}{}",
        cfg.app.name,
        cfg.kind().noun(),
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
