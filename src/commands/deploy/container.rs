//! Step 4 of a deploy (docs/deploy.md): read the container's state in one call ([`inspect`]),
//! starting a stopped container first (after `before_start`: its firewall); and check its
//! Compose version.

use std::time::{Duration, Instant};

use crate::compose::{self, Project};
use crate::error::{Error, Result};
use crate::guest::{Guest, Kind, NotRun, Op};
use crate::output::{sanitize, tail, Output};
use crate::progress::{done, Reporter};
use crate::release::inspect::{self, Inspection};

const INSPECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long Docker may take to answer after the container was started.
const DOCKER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// A VM boots a kernel and sshd first: how long it may take to answer over SSH.
const VM_READY_TIMEOUT: Duration = Duration::from_secs(300);

/// The container, inspected; a stopped one is started first (`before_start`, then
/// [`Guest::start`], then Docker awaited): a running one costs one call, as before. A
/// missing one is exit 5 with the `pxdeploy create` hint. Returns whether it was started.
/// `thorough`: the drift check hashes every pushed file.
pub(super) fn inspect_running(
    guest: Guest<'_>,
    project: &Project,
    thorough: bool,
    before_start: &dyn Fn() -> Result<()>,
    reporter: &dyn Reporter,
    output: &Output,
) -> Result<(Inspection, bool)> {
    let host = guest.host();
    match reported(guest, project, thorough, reporter)? {
        Found::Running(i) => return Ok((*i, false)),
        Found::Stopped => {}
    }
    let named = guest.named();
    reporter.note(&format!("{} is stopped: starting it", capitalized(&named)));
    before_start()?;
    guest.start(reporter, output)?;
    if host.dry_run() {
        // Nothing can be read from a container that stays stopped: everything is new.
        return Ok((Inspection::default(), true));
    }
    reporter.step(&format!("Waiting for Docker in {named}"), || {
        wait_for_docker(guest)
    })?;
    match reported(guest, project, thorough, reporter)? {
        Found::Running(i) => Ok((*i, true)),
        Found::Stopped => Err(Error::remote(format!(
            "{named} stopped again right after `{}`",
            guest.line(Op::Start)
        ))
        .hint(guest.kind().debug_hint(guest.id()))),
    }
}

/// `VM 220` → `VM 220`, `container 210` → `Container 210`.
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// [`inspect_once`] as a progress step: "Reading container 210: done: Compose 2.40.3, 4 containers".
fn reported(
    guest: Guest<'_>,
    project: &Project,
    thorough: bool,
    reporter: &dyn Reporter,
) -> Result<Found> {
    reporter.step_with(
        &format!("Reading {}", project.inside.named()),
        |found: &Found| match found {
            Found::Stopped => done("stopped"),
            Found::Running(i) => {
                let compose = match &i.compose {
                    Ok(v) => format!("Compose {v}"),
                    Err(_) => "no Compose".to_string(),
                };
                done(match &i.services {
                    Ok(s) => format!("{compose}, {} containers", s.len()),
                    Err(_) => compose,
                })
            }
        },
        || inspect_once(guest, project, thorough),
    )
}

enum Found {
    Running(Box<Inspection>),
    Stopped,
}

/// One [`inspect::command`]. Its stdout holds `.env`: not `host.probe`, whose trace log
/// would show it.
fn inspect_once(guest: Guest<'_>, project: &Project, thorough: bool) -> Result<Found> {
    // A VM says it is stopped through `qm status`, before its SSH session is tried.
    let Some(host) = guest.inside_if_running()? else {
        return Ok(Found::Stopped);
    };
    let command = inspect::command(project, thorough);
    tracing::debug!(command, "probe (output not logged: it holds .env)");
    let out = host.probe_quiet(&command, INSPECT_TIMEOUT)?;
    let stderr = out.stderr_str();
    match inspect::parse(&out.stdout, out.status.success(), &stderr) {
        Ok(i) => Ok(Found::Running(Box::new(i))),
        Err(why) => match guest.not_run(&stderr) {
            Some(NotRun::Stopped) => Ok(Found::Stopped),
            Some(NotRun::Missing) => Err(guest.missing(sanitize(stderr.trim()))),
            _ => Err(unreadable(project, &out, &stderr, why)),
        },
    }
}

/// The inspection failed for another reason: its command and stderr.
fn unreadable(project: &Project, out: &crate::remote::Output, stderr: &str, why: String) -> Error {
    let err = Error::remote(format!(
        "cannot read the state of {}",
        project.inside.named()
    ))
    .cause(format!(
        "`{}` {}: {}",
        project.inside.exec(&["sh", "-c", "…"]),
        out.status,
        sanitize(stderr.trim())
    ));
    if out.status.code == 127 && stderr.contains("pct") {
        err.hint("is this a Proxmox VE node? `pxdeploy check` tells")
    } else {
        err.cause(why)
    }
}

/// After `pct start`: Docker inside answers.
fn wait_for_docker(guest: Guest<'_>) -> Result<()> {
    let named = guest.named();
    let argv = ["docker", "info", "--format", "{{.ServerVersion}}"];
    let command = guest.exec_line(&argv);
    let limit = match guest.kind() {
        Kind::Container => DOCKER_READY_TIMEOUT,
        Kind::Vm => VM_READY_TIMEOUT,
    };
    let deadline = Instant::now() + limit;
    loop {
        // A booting VM has no address or no sshd yet.
        guest.wait_inside(deadline.saturating_duration_since(Instant::now()))?;
        let out = guest.probe(&argv)?;
        if out.status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::remote(format!(
                "Docker in {named} did not answer within {}s of starting it",
                limit.as_secs()
            ))
            .cause(format!(
                "`{command}` {}: {}",
                out.status,
                tail(&out.stderr_str(), 20)
            ))
            .hint(format!(
                "look at `{}` on the host",
                guest.exec_line(&["journalctl", "-u", "docker"])
            )));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Compose v2 (or v5) answered `version --short`; anything else is a clear error.
pub(super) fn check_compose(
    inspection: &Inspection,
    project: &Project,
    dry_run: bool,
) -> Result<Option<String>> {
    match &inspection.compose {
        Ok(v) if compose::supported(*v) => {
            tracing::info!(compose = %v, "Docker Compose version");
            Ok(Some(v.to_string()))
        }
        Err(_) if dry_run => Ok(None),
        Ok(v) => Err(Error::remote(format!(
            "Docker Compose {v} in {} {} is not supported",
            project.inside.noun(),
            project.inside.id()
        ))
        .hint("pxdeploy needs the Compose v2 plugin (`docker compose`); run `pxdeploy create` to install it")),
        Err(said) => Err(Error::remote(format!(
            "Docker Compose v2 is not available in {} {}",
            project.inside.noun(),
            project.inside.id()
        ))
        .cause(format!("`docker compose version --short`: {said}"))
        .hint("run `pxdeploy create` to install Docker with the Compose plugin")),
    }
}
