//! `pxdeploy stop`, `start`, `restart`, and the container-state helpers the other commands
//! share.

use std::time::Duration;

use serde_json::json;

use super::context::Context;
use crate::cli::WaitArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::progress::Reporter;
use crate::proxmox::{self, pct, pct::CtState};
use crate::remote::host::{ensure_success, Host};
use crate::remote::Output as RemoteOutput;

/// How long `pct shutdown` lets the container stop by itself before `pct stop`.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 60;
/// How long `pct reboot` waits for the shutdown part.
pub const REBOOT_TIMEOUT_SECS: u64 = 60;
/// Bound of `pct start` / `pct stop` on the host.
const START_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Slack on top of the Proxmox-side timeouts before we give up on the command itself.
const SLACK: Duration = Duration::from_secs(60);

/// The container's state; `None` when it does not exist on this node.
pub(crate) fn state(host: &Host, vmid: u32) -> Result<Option<CtState>> {
    Ok(probe_state(host, vmid)?.ok())
}

/// The container's state; a missing container is an error with the `create` hint (exit 5).
pub(crate) fn require_state(host: &Host, vmid: u32) -> Result<CtState> {
    probe_state(host, vmid)?
}

/// `pct status`: Ok(Ok(state)), Ok(Err(missing-container error)), or Err for anything else.
fn probe_state(host: &Host, vmid: u32) -> Result<Result<CtState>> {
    let command = pct::status(vmid);
    let out = host.probe(&command)?;
    if out.status.success() {
        if let Some(state) = pct::parse_status(&out.stdout_str()) {
            return Ok(Ok(state));
        }
        return Err(Error::remote(format!("`{command}` printed no status"))
            .cause("expected `status: running` or `status: stopped`"));
    }
    let stderr = out.stderr_str();
    if proxmox::is_missing_container(&stderr) {
        return Ok(Err(missing_container(
            host,
            vmid,
            format!(
                "`{command}` {}: {}",
                out.status,
                crate::output::sanitize(stderr.trim())
            ),
        )));
    }
    let code = out.status.code;
    let err = step_failed(&command, out);
    Err(if code == 127 {
        err.hint("is this a Proxmox VE node? `pxdeploy check` tells")
    } else {
        err
    })
}

/// The container is not on this node (exit 5, with the `pxdeploy create` hint).
pub(crate) fn missing_container(host: &Host, vmid: u32, cause: String) -> Error {
    Error::remote(format!("container {vmid} does not exist on {}", host.alias))
        .cause(cause)
        .hint("run `pxdeploy create` first")
}

/// The container's IPv4 address as seen from inside (`ip -4 -o addr show dev eth0`);
/// `None` when it has none (yet).
pub(crate) fn current_ip(host: &Host, vmid: u32) -> Result<Option<String>> {
    let probe = host.probe(&pct::ipv4_probe(vmid))?;
    Ok(pct::parse_ipv4(&probe.stdout_str()))
}

/// A remote step that exited non-zero: the command and its stderr (exit 5).
pub(crate) fn step_failed(command: &str, out: RemoteOutput) -> Error {
    ensure_success(command, out)
        .err()
        .unwrap_or_else(|| Error::remote(format!("`{command}` failed")))
}

/// `CT is locked (<lock>)` as an error that says what to do.
pub(crate) fn locked(vmid: u32, lock: &str, command: &str) -> Error {
    Error::remote(format!("container {vmid} is locked (`{lock}`)"))
        .cause(format!("`{command}`: CT is locked ({lock})"))
        .hint(format!(
            "wait for the `{lock}` task to finish, or remove a stale lock with `pct unlock {vmid}` on the host"
        ))
}

/// Shows the `WARN:` lines and the `Task finished with N warning(s)!` of a task as warnings.
pub(crate) fn show_task_warnings(
    output: &Output,
    command: &str,
    out: &RemoteOutput,
) -> Vec<String> {
    let w = proxmox::task_warnings(&out.stdout_str(), &out.stderr_str());
    for line in &w.lines {
        output.warn(format!("`{command}`: {}", crate::output::sanitize(line)));
    }
    if w.lines.is_empty() && w.count > 0 {
        output.warn(format!("`{command}` finished with {} warning(s)", w.count));
    }
    w.lines
}

/// `pct start`; "already running" is success. Returns the task warnings.
pub(crate) fn start_container(
    host: &Host,
    vmid: u32,
    reporter: &dyn Reporter,
    output: &Output,
) -> Result<Vec<String>> {
    let command = pct::start(vmid);
    reporter.start(&format!("Starting container {vmid}"));
    let out = host.change(&command, START_TIMEOUT)?;
    if !out.status.success() && !pct::says_already_running(&out.stderr_str()) {
        reporter.failed(out.stderr_str().trim());
        if let Some(lock) = pct::locked_by(&out.stderr_str()) {
            return Err(locked(vmid, &lock, &command));
        }
        return Err(step_failed(&command, out)
            .hint(format!("`pct start {vmid} --debug` on the host shows why")));
    }
    reporter.done("");
    Ok(show_task_warnings(output, &command, &out))
}

/// `pct shutdown --timeout N`, then `pct stop` if it did not stop in time. "not running" is
/// success.
pub(crate) fn stop_container(ctx: &Context, host: &Host, vmid: u32) -> Result<()> {
    let command = pct::shutdown(vmid, SHUTDOWN_TIMEOUT_SECS);
    ctx.reporter
        .start(&format!("Shutting down container {vmid}"));
    let out = host.change(&command, Duration::from_secs(SHUTDOWN_TIMEOUT_SECS) + SLACK)?;
    let stderr = out.stderr_str();
    if out.status.success() || pct::says_not_running(&stderr) {
        ctx.reporter.done("");
        return Ok(());
    }
    if let Some(lock) = pct::locked_by(&stderr) {
        ctx.reporter.failed(stderr.trim());
        return Err(locked(vmid, &lock, &command));
    }
    ctx.reporter
        .failed(&format!("did not stop within {SHUTDOWN_TIMEOUT_SECS}s"));

    let command = pct::stop(vmid);
    ctx.reporter.start(&format!("Stopping container {vmid}"));
    let out = host.change(&command, STOP_TIMEOUT)?;
    if out.status.success() || pct::says_not_running(&out.stderr_str()) {
        ctx.reporter.done("");
        return Ok(());
    }
    ctx.reporter.failed(out.stderr_str().trim());
    if let Some(lock) = pct::locked_by(&out.stderr_str()) {
        return Err(locked(vmid, &lock, &command));
    }
    ensure_success(&command, out).map(|_| ())
}

/// After `start`/`restart`: waits for the services' health.
///
/// Hook for `crate::health::wait` (the deploy branch): until it lands this only checks and
/// reports the container's state.
pub(crate) fn wait_for_services(
    ctx: &Context,
    host: &Host,
    config: &Config,
) -> Result<serde_json::Value> {
    let vmid = config.container.vmid;
    if host.dry_run() {
        return Ok(json!({}));
    }
    let state = require_state(host, vmid)?;
    if state != CtState::Running {
        return Err(Error::remote(format!(
            "container {vmid} is {} after starting",
            state.as_str()
        ))
        .hint(format!("`pct start {vmid} --debug` on the host shows why")));
    }
    // A container created but never deployed to has no compose file: nothing to wait for.
    let project = crate::health::project_of(config);
    let deployed = host.probe(&pct::exec(vmid, &["test", "-f", project.file.as_str()]))?;
    if !deployed.status.success() {
        ctx.out.info(format!(
            "no app deployed in container {vmid} yet (`pxdeploy deploy`): no services to wait for"
        ));
        return Ok(json!({ "services": [] }));
    }
    let services = crate::health::wait(host, config, ctx.reporter.as_ref())?;
    if !services.is_empty() {
        ctx.out.info(crate::health::table(&services));
    }
    Ok(json!({ "services": services }))
}

pub fn stop(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.container.vmid;
    let host = ctx.connect(&config)?;
    let changed = match require_state(&host, vmid)? {
        CtState::Stopped => {
            ctx.out.info(format!(
                "container {vmid} is already stopped: nothing to do"
            ));
            false
        }
        CtState::Running => {
            stop_container(ctx, &host, vmid)?;
            ctx.out
                .info(format!("container {vmid} stopped (data kept)"));
            true
        }
    };
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "state": "stopped", "changed": changed }),
    );
    Ok(())
}

pub fn start(ctx: &Context, args: &WaitArgs) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.container.vmid;
    let host = ctx.connect(&config)?;
    let (changed, warnings) = match require_state(&host, vmid)? {
        CtState::Running => {
            ctx.out.info(format!("container {vmid} is already running"));
            (false, Vec::new())
        }
        CtState::Stopped => (
            true,
            start_container(&host, vmid, ctx.reporter.as_ref(), &ctx.out)?,
        ),
    };
    finish_start(ctx, &host, &config, args, changed, warnings)
}

pub fn restart(ctx: &Context, args: &WaitArgs) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.container.vmid;
    let host = ctx.connect(&config)?;
    let warnings = match require_state(&host, vmid)? {
        CtState::Stopped => {
            ctx.out
                .info(format!("container {vmid} is stopped: starting it"));
            start_container(&host, vmid, ctx.reporter.as_ref(), &ctx.out)?
        }
        CtState::Running => reboot_container(ctx, &host, vmid)?,
    };
    finish_start(ctx, &host, &config, args, true, warnings)
}

/// `pct reboot`; its `VM <vmid> not running` (the container stopped meanwhile) means start.
fn reboot_container(ctx: &Context, host: &Host, vmid: u32) -> Result<Vec<String>> {
    let command = pct::reboot(vmid, REBOOT_TIMEOUT_SECS);
    ctx.reporter.start(&format!("Rebooting container {vmid}"));
    let out = host.change(
        &command,
        Duration::from_secs(REBOOT_TIMEOUT_SECS) + START_TIMEOUT,
    )?;
    if out.status.success() {
        ctx.reporter.done("");
        return Ok(show_task_warnings(&ctx.out, &command, &out));
    }
    let stderr = out.stderr_str();
    if pct::says_not_running(&stderr) {
        ctx.reporter.done("it was not running");
        return start_container(host, vmid, ctx.reporter.as_ref(), &ctx.out);
    }
    ctx.reporter.failed(stderr.trim());
    if let Some(lock) = pct::locked_by(&stderr) {
        return Err(locked(vmid, &lock, &command));
    }
    Err(step_failed(&command, out))
}

fn finish_start(
    ctx: &Context,
    host: &Host,
    config: &Config,
    args: &WaitArgs,
    changed: bool,
    warnings: Vec<String>,
) -> Result<()> {
    let vmid = config.container.vmid;
    let mut facts =
        json!({ "vmid": vmid, "state": "running", "changed": changed, "warnings": warnings });
    if !args.no_wait {
        let health = wait_for_services(ctx, host, config)?;
        if let (Some(map), serde_json::Value::Object(h)) = (facts.as_object_mut(), health) {
            map.extend(h);
        }
    }
    if changed && args.no_wait {
        ctx.out.info(format!("container {vmid} is running"));
    }
    ctx.succeed(Some(host), facts);
    Ok(())
}
