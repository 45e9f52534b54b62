//! `pxdeploy deploy`: lock → container running → push the app and write `.env` (side by
//! side) → `docker compose up` → health wait → summary. The mechanics are in `lock`,
//! `push`, `envfile`, `compose` and `health`; this file is the list of steps.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::compose::{self, Project};
use crate::config::Config;
use crate::envfile::{self, Redacted, Report};
use crate::error::{Error, Result};
use crate::health::{self, ServiceHealth, Timing};
use crate::lock::{self, DeployLock, Holder};
use crate::output::Output;
use crate::progress::Reporter;
use crate::push::{self, Archive, Stats};
use crate::remote::host::{ensure_success, Host};

/// Bounds of the remote steps.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const ENV_TIMEOUT: Duration = Duration::from_secs(60);
const UP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long Docker may take to answer after the container was started.
const DOCKER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What a deploy did, for the summary and the JSON document.
#[derive(Debug, Default)]
pub struct Outcome {
    pub started_container: bool,
    pub pushed: Stats,
    pub env: Report,
    pub services: Vec<ServiceHealth>,
    pub compose_version: Option<String>,
}

/// Opens the long-lived channel that holds the deploy lock (`Session::spawn`).
pub type SpawnLock<'a> = &'a (dyn Fn(&str) -> Result<Box<dyn lock::Channel>> + Sync);

/// `pxdeploy deploy`.
pub fn run(ctx: &super::context::Context) -> Result<()> {
    let config = ctx.config()?;
    let host = ctx.connect(&config)?;
    let spawn = |command: &str| -> Result<Box<dyn lock::Channel>> {
        Ok(Box::new(host.session().spawn(command)?))
    };
    let facts = deploy(&host, &config, ctx.reporter.as_ref(), &ctx.out, &spawn)?;
    ctx.succeed(Some(&host), facts);
    Ok(())
}

/// Runs every step against an open host; returns the JSON facts of the deploy.
pub fn deploy(
    host: &Host,
    cfg: &Config,
    reporter: &dyn Reporter,
    out: &Output,
    spawn_lock: SpawnLock<'_>,
) -> Result<serde_json::Value> {
    let started = Instant::now();
    let vmid = cfg.container.vmid;
    let project = health::project_of(cfg);
    let mut outcome = Outcome::default();

    let result = (|| -> Result<()> {
        let _lock = take_lock(host, vmid, reporter, spawn_lock)?;
        outcome.started_container = ensure_running(host, vmid, reporter)?;
        let (pushed, (env, version)) = push_and_env(host, cfg, &project, reporter)?;
        outcome.pushed = pushed;
        outcome.env = env;
        outcome.compose_version = version;
        compose_up(host, &project, cfg, reporter)?;
        if !host.dry_run() {
            let services = cfg.health_services();
            outcome.services = health::wait_for(
                host,
                &project,
                &services,
                Timing::from_config(cfg),
                reporter,
            )?;
        }
        Ok(())
    })();

    let facts = facts(cfg, host, &outcome, started.elapsed());
    match result {
        Ok(()) => {
            summary(out, cfg, host, &outcome, started.elapsed());
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

/// Step 1: the deploy lock (not taken under `--dry-run`, which changes nothing).
fn take_lock(
    host: &Host,
    vmid: u32,
    reporter: &dyn Reporter,
    spawn_lock: SpawnLock<'_>,
) -> Result<Option<DeployLock>> {
    if host.dry_run() {
        return Ok(None);
    }
    reporter.start(&format!("Taking the deploy lock of container {vmid}"));
    let command = lock::command(vmid, &Holder::current());
    let taken = spawn_lock(&command).and_then(|ch| lock::acquire(ch, vmid, &host.alias));
    match taken {
        Ok(l) => {
            reporter.done("");
            Ok(Some(l))
        }
        Err(e) => {
            reporter.failed(&e.message);
            Err(e)
        }
    }
}

/// Step 2: the container exists and runs; a stopped one is started (and Docker awaited).
/// Returns whether it was started.
fn ensure_running(host: &Host, vmid: u32, reporter: &dyn Reporter) -> Result<bool> {
    if super::lifecycle::require_state(host, vmid)? == crate::proxmox::pct::CtState::Running {
        return Ok(false);
    }
    reporter.start(&format!("Container {vmid} is stopped: starting it"));
    let command = crate::proxmox::pct::start(vmid);
    let started = host.change(&command, START_TIMEOUT)?;
    if !started.status.success() && !started.stderr_str().contains("already running") {
        reporter.failed(started.stderr_str().trim());
        ensure_success(&command, started)?;
    }
    if !host.dry_run() {
        wait_for_docker(host, vmid)?;
    }
    reporter.done("");
    Ok(true)
}

/// After `pct start`: Docker inside answers.
fn wait_for_docker(host: &Host, vmid: u32) -> Result<()> {
    let command =
        crate::proxmox::pct::exec(vmid, &["docker", "info", "--format", "{{.ServerVersion}}"]);
    let deadline = Instant::now() + DOCKER_READY_TIMEOUT;
    loop {
        let out = host.probe(&command)?;
        if out.status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::remote(format!(
                "Docker in container {vmid} did not answer within {}s of starting it",
                DOCKER_READY_TIMEOUT.as_secs()
            ))
            .cause(format!(
                "`{command}` {}: {}",
                out.status,
                crate::output::sanitize(out.stderr_str().trim())
            ))
            .hint(format!(
                "look at `pct exec {vmid} -- journalctl -u docker` on the host"
            )));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Steps 3 and 4: check Compose and write `.env`, then push the app.
///
/// One after the other, not on two threads: pumping two channels of the one non-blocking
/// libssh2 session from two threads at once made libssh2 fail now and then (about every
/// other deploy: "Failure while draining incoming flow" / "Unable to send EOF on channel",
/// reported as a lost connection) although sshd saw nothing wrong.
fn push_and_env(
    host: &Host,
    cfg: &Config,
    project: &Project,
    reporter: &dyn Reporter,
) -> Result<(Stats, (Report, Option<String>))> {
    let remote_dir = project_remote_dir(cfg);
    let source = source_dir(cfg);
    reporter.start(&format!(
        "Pushing {} to {remote_dir} and writing .env",
        source.display()
    ));
    let env = (|| -> Result<(Report, Option<String>)> {
        let version = check_compose(host, project)?;
        let report = write_env(host, cfg, project)?;
        Ok((report, version))
    })();
    let pushed = match &env {
        Ok(_) => push_app(host, cfg.container.vmid, &source, &remote_dir),
        Err(_) => Ok(Stats::default()),
    };
    let (pushed, env) = match (pushed, env) {
        (Ok(p), Ok(e)) => (p, e),
        (Err(e), _) | (_, Err(e)) => {
            reporter.failed(&e.message);
            return Err(e);
        }
    };
    reporter.done(&format!(
        "{} files ({}); .env: {}",
        pushed.files,
        human_bytes(pushed.bytes),
        env.0.summary()
    ));
    Ok((pushed, env))
}

/// The app folder, streamed as tar into `tar -x` inside the container.
fn push_app(host: &Host, vmid: u32, source: &std::path::Path, remote_dir: &str) -> Result<Stats> {
    let command = push::extract_command(vmid, remote_dir);
    if host.dry_run() {
        let stats = push::scan(source)?;
        host.change(&command, PUSH_TIMEOUT)?;
        return Ok(stats);
    }
    let mut archive = Archive::new(source)?;
    let stats = archive.stats.clone();
    let out = host
        .session()
        .exec(&command, Some(&mut archive), PUSH_TIMEOUT);
    let produced = archive.finish();
    let out = out?;
    produced?;
    ensure_success(&command, out)?;
    Ok(stats)
}

/// `docker compose version --short` inside the container: v2 or v5, else a clear error.
fn check_compose(host: &Host, project: &Project) -> Result<Option<String>> {
    let command = project.version();
    let out = host.probe(&command)?;
    let text = out.stdout_str();
    match compose::parse_version(text.trim()) {
        Some(v) if out.status.success() && compose::supported(v) => {
            tracing::info!(compose = %v, "Docker Compose version");
            Ok(Some(v.to_string()))
        }
        _ if host.dry_run() && !out.status.success() => Ok(None),
        Some(v) => Err(Error::remote(format!(
            "Docker Compose {v} in container {} is not supported",
            project.vmid
        ))
        .hint("pxdeploy needs the Compose v2 plugin (`docker compose`); run `pxdeploy create` to install it")),
        None => Err(Error::remote(format!(
            "Docker Compose v2 is not available in container {}",
            project.vmid
        ))
        .cause(format!(
            "`{command}` {}: {}",
            out.status,
            crate::output::sanitize(out.stderr_str().trim())
        ))
        .hint("run `pxdeploy create` to install Docker with the Compose plugin")),
    }
}

/// Reads the existing `.env`, merges the configuration in, and replaces the file when
/// something changed. Secret values stay inside [`Redacted`] and the upload's stdin.
fn write_env(host: &Host, cfg: &Config, project: &Project) -> Result<Report> {
    let dir = project.dir();
    let read = envfile::read_command(project.vmid, &dir);
    // Not `host.probe`: its trace log would show the file.
    let existing = host.session().exec(&read, None, ENV_TIMEOUT)?;
    let existing = if existing.status.success() {
        Redacted::new(String::from_utf8(existing.stdout).map_err(|_| {
            Error::remote(format!(
                "{dir}/.env in container {} is not UTF-8 text",
                project.vmid
            ))
            .hint("fix or remove that file inside the container, then deploy again")
        })?)
    } else if host.dry_run() {
        Redacted::new(String::new())
    } else {
        return Err(Error::remote(format!(
            "cannot read {dir}/.env in container {}",
            project.vmid
        ))
        .cause(format!(
            "`{read}` {}: {}",
            existing.status,
            crate::output::sanitize(existing.stderr_str().trim())
        )));
    };
    let merged = envfile::merge(
        &existing,
        &cfg.env.secrets,
        &cfg.env.values,
        &mut envfile::generate_secret,
    )?;
    if merged.content == existing {
        return Ok(merged.report);
    }
    let content = merged.content.expose().as_bytes();
    let write = envfile::write_command(project.vmid, &dir, content.len());
    if host.dry_run() {
        host.change(&write, ENV_TIMEOUT)?;
        return Ok(merged.report);
    }
    let out = host
        .session()
        .exec(&write, Some(&mut &content[..]), ENV_TIMEOUT)?;
    ensure_success(&write, out)
        .map_err(|e| e.hint("the previous .env is unchanged; deploy again"))?;
    Ok(merged.report)
}

/// Step 5: `docker compose up -d --build --remove-orphans`. A dependency that Compose found
/// unhealthy is a health failure (exit 6) with that service's logs; anything else exit 5.
fn compose_up(host: &Host, project: &Project, cfg: &Config, reporter: &dyn Reporter) -> Result<()> {
    let command = project.up();
    reporter.start(&format!(
        "Starting the services (`docker compose up` in container {})",
        project.vmid
    ));
    let out = host.change(&command, UP_TIMEOUT)?;
    if out.status.success() {
        reporter.done("");
        return Ok(());
    }
    let stderr = out.stderr_str();
    if let Some(container) = compose::unhealthy_dependency(&stderr) {
        let service = compose::service_of_container(&project.name, &container).unwrap_or(container);
        reporter.failed(&format!("`{service}` is unhealthy"));
        let services = cfg.health.services.clone().unwrap_or_default();
        let mut names = services.clone();
        if !names.contains(&service) {
            names.push(service.clone());
        }
        let snapshot = health::snapshot(host, project, &names).unwrap_or_default();
        return Err(health::explain(
            host,
            project,
            &snapshot,
            std::slice::from_ref(&service),
            format!("service `{service}` is unhealthy: `docker compose up` gave up waiting for it"),
        ));
    }
    reporter.failed(&format!("{}", out.status));
    let mut tail = compose::last_lines(&stderr, 20);
    if tail.is_empty() {
        tail = compose::last_lines(&out.stdout_str(), 20);
    }
    Err(Error::remote(format!("`docker compose up` failed in container {}", project.vmid))
        .cause(format!("`{command}` {}:\n{}", out.status, crate::output::sanitize(&tail)))
        .hint("fix the compose file or the build, then deploy again; `pxdeploy logs` shows the services' output"))
}

/// The JSON facts of a deploy (also attached to a failure).
fn facts(cfg: &Config, host: &Host, o: &Outcome, elapsed: Duration) -> serde_json::Value {
    json!({
        "vmid": cfg.container.vmid,
        "host": host.alias,
        "project": cfg.app.name,
        "remote_dir": project_remote_dir(cfg),
        "container_started": o.started_container,
        "pushed": { "files": o.pushed.files, "bytes": o.pushed.bytes },
        "env": o.env,
        "compose_version": o.compose_version,
        "services": o.services,
        "duration_secs": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// Step 6: the summary for people (stderr) and the services table (stdout).
fn summary(out: &Output, cfg: &Config, host: &Host, o: &Outcome, elapsed: Duration) {
    let vmid = cfg.container.vmid;
    if host.dry_run() {
        out.info(format!(
            "dry run: would push {} files ({}) to {} in container {vmid}; .env: {}",
            o.pushed.files,
            human_bytes(o.pushed.bytes),
            project_remote_dir(cfg),
            o.env.summary()
        ));
        return;
    }
    out.info(format!(
        "{} deployed to container {vmid} on {} in {:.1}s: {} files ({}) pushed; .env: {}; {}",
        cfg.app.name,
        host.alias,
        elapsed.as_secs_f64(),
        o.pushed.files,
        human_bytes(o.pushed.bytes),
        o.env.summary(),
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

fn project_remote_dir(cfg: &Config) -> String {
    cfg.app
        .remote_dir
        .clone()
        .unwrap_or_else(|| format!("/opt/{}", cfg.app.name))
}

fn source_dir(cfg: &Config) -> std::path::PathBuf {
    let base = cfg
        .path
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."));
    base.join(&cfg.app.source)
}

/// `1.2 MB`, `512 B`
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_bytes(200_000_000_000), "200.0 GB");
    }
}
