//! `pxdeploy create`: template, `pct create`, start, network, Docker with Compose v2.
//! On an existing container: nothing changes; every setting that differs is listed.

use std::time::{Duration, Instant};

use serde_json::json;

use super::context::Context;
use super::lifecycle::{self, show_task_warnings, step_failed};
use crate::compose;
use crate::config::{Config, Container, DockerInstall};
use crate::error::{Error, Result};
use crate::output::sanitize;
use crate::proxmox::{pct, pct::CreateSpec, pct::CtState, pveam};
use crate::remote::host::{Host, PROBE_TIMEOUT};

const PVEAM_UPDATE_TIMEOUT: Duration = Duration::from_secs(300);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(1800);
const CREATE_TIMEOUT: Duration = Duration::from_secs(900);
const NETWORK_TIMEOUT: Duration = Duration::from_secs(120);
const NETWORK_INTERVAL: Duration = Duration::from_secs(2);
const DOCKER_INSTALL_TIMEOUT: Duration = Duration::from_secs(1800);

/// Installs curl; Docker's convenience script needs it.
pub const INSTALL_CURL: &str =
    "export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y curl";
/// Docker's convenience script: Docker Engine with the Compose v2 plugin.
pub const INSTALL_DOCKER_SCRIPT: &str =
    "curl -fsSL https://get.docker.com -o /tmp/get-docker.sh && sh /tmp/get-docker.sh";
/// The distribution's packages.
pub const INSTALL_DOCKER_APT: &str = "export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y docker.io docker-compose-plugin";

pub fn run(ctx: &Context) -> Result<()> {
    let started = Instant::now();
    let config = ctx.config()?;
    let c = &config.container;
    let host = ctx.connect(&config)?;
    if let Some(state) = lifecycle::state(&host, c.vmid)? {
        return existing(ctx, &host, &config, state);
    }

    let template = resolve_template(ctx, &host, c)?;
    let spec = CreateSpec::from_container(c, &template);
    let mut warnings = create_container(ctx, &host, &spec)?;
    warnings.extend(lifecycle::start_container(
        &host,
        c.vmid,
        ctx.reporter.as_ref(),
        &ctx.out,
    )?);

    if host.dry_run() {
        for command in install_commands(c.vmid, &c.docker_install) {
            host.change(&command, DOCKER_INSTALL_TIMEOUT)?;
        }
        ctx.succeed(
            Some(&host),
            json!({ "vmid": c.vmid, "hostname": c.hostname, "created": false, "template": template }),
        );
        return Ok(());
    }

    let ip = wait_for_network(ctx, &host, c)?;
    install_docker(ctx, &host, c)?;
    let compose = verify_compose(ctx, &host, c.vmid)?;

    ctx.out.info(format!(
        "container {} ({}) is ready with Docker Compose {compose}: {}",
        c.vmid,
        c.hostname,
        ctx.out.bold(&ip)
    ));
    ctx.out.data(&ip);
    ctx.succeed(
        Some(&host),
        json!({
            "vmid": c.vmid,
            "hostname": c.hostname,
            "created": true,
            "template": template,
            "ip": ip,
            "compose_version": compose,
            "warnings": warnings,
            "duration_secs": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}

/// The container exists: change nothing, name every setting that differs from the config.
fn existing(ctx: &Context, host: &Host, config: &Config, state: CtState) -> Result<()> {
    let c = &config.container;
    let out = host.probe_ok(&pct::config(c.vmid))?;
    let actual = pct::parse_config(&out.stdout_str());
    let drift = pct::drift(&actual, &CreateSpec::from_container(c, &c.template));
    ctx.out.info(format!(
        "container {} already exists ({}): nothing changed",
        c.vmid,
        state.as_str()
    ));
    for d in &drift {
        ctx.out.warn(format!(
            "container {} differs from the config: {}",
            c.vmid,
            sanitize(&d.to_string())
        ));
    }
    if !drift.is_empty() {
        ctx.out.info(format!(
            "pxdeploy does not change an existing container: adjust it with `pct set {}` on the host, or destroy and create it again",
            c.vmid
        ));
    }
    let ip = match state {
        CtState::Running => lifecycle::current_ip(host, c.vmid)?,
        CtState::Stopped => static_address(c),
    };
    if let Some(ip) = &ip {
        ctx.out.data(ip);
    }
    ctx.succeed(
        Some(host),
        json!({
            "vmid": c.vmid,
            "hostname": actual.hostname().unwrap_or(&c.hostname),
            "created": false,
            "state": state,
            "ip": ip,
            "drift": drift,
        }),
    );
    Ok(())
}

fn static_address(c: &Container) -> Option<String> {
    c.network.static_addr().map(|a| a.to_string())
}

/// The template's volume id: a full volume id as given; else the newest match of the name
/// prefix on the template storage; else `pveam update` and download the newest available.
fn resolve_template(ctx: &Context, host: &Host, c: &Container) -> Result<String> {
    if pveam::is_volid(&c.template) {
        return Ok(c.template.clone());
    }
    let storage = &c.template_storage;
    ctx.reporter
        .start(&format!("Looking for template {} on {storage}", c.template));
    let list = host
        .probe_ok(&pveam::list(storage))
        .inspect_err(|e| ctx.reporter.failed(&e.to_string()))?;
    let local = pveam::parse_list(&list.stdout_str());
    if let Some(volid) = pveam::newest_match(&c.template, local.iter().map(String::as_str)) {
        ctx.reporter.done(volid);
        return Ok(volid.to_string());
    }
    ctx.reporter.done("not there yet");

    ctx.reporter.start("Updating the template index");
    let update = host.change(&pveam::update(), PVEAM_UPDATE_TIMEOUT)?;
    let update_failure = (!host.dry_run()
        && !pveam::update_succeeded(&update.stdout_str(), &update.stderr_str()))
    .then(|| last_lines(&update.stderr_str(), &update.stdout_str(), 3));
    match &update_failure {
        Some(why) => {
            ctx.reporter.failed(why);
            ctx.out.warn(format!(
                "`pveam update` failed, using the cached template index: {why}"
            ));
        }
        None => ctx.reporter.done(""),
    }

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
    let volid = pveam::volid(storage, &file);

    ctx.reporter.start(&format!("Downloading template {file}"));
    let command = pveam::download(storage, &file);
    let out = host.change(&command, DOWNLOAD_TIMEOUT)?;
    if host.dry_run() {
        ctx.reporter.done("");
        return Ok(volid);
    }
    // `pveam download` exits 0 even when the download failed: look for the file.
    let check = host.probe_ok(&pveam::list(storage))?;
    if !out.status.success() || !pveam::parse_list(&check.stdout_str()).contains(&volid) {
        let why = last_lines(&out.stderr_str(), &out.stdout_str(), 5);
        ctx.reporter.failed(&why);
        return Err(Error::remote(format!("downloading template {file} failed"))
            .cause(format!("`{command}` {}: {why}", out.status))
            .hint(format!(
                "check the host's internet access, then try `{command}` on the host"
            )));
    }
    ctx.reporter.done(&volid);
    Ok(volid)
}

/// `pct create`; privileged: the AppArmor line and a warning. Returns the task warnings.
fn create_container(ctx: &Context, host: &Host, spec: &CreateSpec) -> Result<Vec<String>> {
    let command = pct::create(spec);
    ctx.reporter.start(&format!(
        "Creating container {} ({})",
        spec.vmid, spec.hostname
    ));
    let out = host.change(&command, CREATE_TIMEOUT)?;
    if !out.status.success() {
        let stderr = out.stderr_str();
        ctx.reporter.failed(stderr.trim());
        if pct::says_already_exists(&stderr) {
            return Err(Error::remote(format!("vmid {} is already taken", spec.vmid))
                .cause(sanitize(stderr.trim()))
                .hint("choose another `container.vmid`; `pvesh get /cluster/nextid` on the host prints a free one"));
        }
        if let Some(reason) = pct::create_failure(&stderr) {
            return Err(Error::remote(format!("could not create container {}", spec.vmid))
                .cause(sanitize(&reason))
                .hint("nothing was left behind: Proxmox removes a half-created container; fix the cause and run `pxdeploy create` again"));
        }
        return Err(step_failed(&command, out));
    }
    ctx.reporter.done("");
    let warnings = show_task_warnings(&ctx.out, "pct create", &out);

    if !spec.unprivileged {
        ctx.out.warn(format!(
            "container {} is privileged and runs without AppArmor confinement (`{}`): root in the container is root on the Proxmox host, and a process that escapes the container owns the node. Prefer `unprivileged = true`",
            spec.vmid,
            pct::APPARMOR_UNCONFINED
        ));
        ctx.reporter.start("Turning AppArmor confinement off");
        host.change_ok(
            &pct::add_raw_line(spec.vmid, pct::APPARMOR_UNCONFINED),
            PROBE_TIMEOUT,
        )
        .inspect_err(|e| ctx.reporter.failed(&e.to_string()))?;
        ctx.reporter.done(&pct::conf_path(spec.vmid));
    }
    Ok(warnings)
}

/// Polls `ip -4 -o addr show dev eth0` inside the container until it has an address.
fn wait_for_network(ctx: &Context, host: &Host, c: &Container) -> Result<String> {
    ctx.reporter.start("Waiting for the container's network");
    let deadline = Instant::now() + NETWORK_TIMEOUT;
    let command = pct::ipv4_probe(c.vmid);
    loop {
        let out = host.probe(&command)?;
        if out.status.success() {
            if let Some(ip) = pct::parse_ipv4(&out.stdout_str()) {
                ctx.reporter.done(&ip);
                return Ok(ip);
            }
        }
        if Instant::now() >= deadline {
            let why = last_lines(&out.stderr_str(), &out.stdout_str(), 3);
            ctx.reporter.failed("no address");
            let hint = if static_address(c).is_some() {
                format!(
                    "check `container.ip` and `container.gateway` against bridge `{}`",
                    c.bridge
                )
            } else {
                format!(
                    "check that bridge `{}` has a DHCP server, or set a static `container.ip`",
                    c.bridge
                )
            };
            let mut err = Error::remote(format!(
                "container {} has no IPv4 address on eth0 after {}s",
                c.vmid,
                NETWORK_TIMEOUT.as_secs()
            ))
            .hint(hint);
            if !why.is_empty() {
                err = err.cause(format!("`{command}`: {why}"));
            }
            return Err(err);
        }
        std::thread::sleep(NETWORK_INTERVAL);
    }
}

/// The host commands that install Docker in the container.
pub fn install_commands(vmid: u32, how: &DockerInstall) -> Vec<String> {
    match how {
        DockerInstall::Script => vec![
            pct::exec_sh(vmid, INSTALL_CURL),
            pct::exec_sh(vmid, INSTALL_DOCKER_SCRIPT),
        ],
        DockerInstall::Apt => vec![pct::exec_sh(vmid, INSTALL_DOCKER_APT)],
        DockerInstall::Custom(script) => vec![pct::exec_sh(vmid, script)],
    }
}

fn install_docker(ctx: &Context, host: &Host, c: &Container) -> Result<()> {
    ctx.reporter.start("Installing Docker");
    for command in install_commands(c.vmid, &c.docker_install) {
        let out = host.change(&command, DOCKER_INSTALL_TIMEOUT)?;
        if !out.status.success() {
            let why = last_lines(&out.stderr_str(), &out.stdout_str(), 15);
            ctx.reporter.failed(&format!("{}", out.status));
            return Err(Error::remote(format!("installing Docker in container {} failed", c.vmid))
                .cause(format!("`{command}` {}:\n{why}", out.status))
                .hint(format!(
                    "the container is kept; fix the cause, then run the step by hand (`{command}`) or destroy and create it again"
                )));
        }
    }
    ctx.reporter.done("");
    Ok(())
}

/// `docker compose version` inside; Compose v1 only (`docker-compose`) is an error with a fix.
fn verify_compose(ctx: &Context, host: &Host, vmid: u32) -> Result<String> {
    ctx.reporter.start("Checking Docker Compose");
    let command = pct::exec(vmid, &["docker", "compose", "version"]);
    let out = host.probe(&command)?;
    let usable = out
        .status
        .success()
        .then(|| usable_compose(&out.stdout_str()))
        .flatten();
    if let Some(version) = usable {
        let version = version.to_string();
        ctx.reporter.done(&version);
        return Ok(version);
    }
    let v1_out = host.probe(&pct::exec(vmid, &["docker-compose", "version"]))?;
    let v1 = v1_out
        .status
        .success()
        .then(|| compose::parse_version(&v1_out.stdout_str()))
        .flatten();
    ctx.reporter.failed("no Compose v2");
    let fix = format!(
        "install the Compose v2 plugin inside the container, e.g. with Docker's script: `pct exec {vmid} -- sh -c 'curl -fsSL https://get.docker.com | sh'`; check with `{command}`"
    );
    match v1 {
        Some(v) => Err(Error::remote(format!(
            "container {vmid} has only Compose v1 (`docker-compose` {v}); pxdeploy needs Compose v2 (`docker compose`)"
        ))
        .hint(fix)),
        None => Err(Error::remote(format!("`docker compose` does not work in container {vmid}"))
            .cause(format!(
                "`{command}` {}: {}",
                out.status,
                last_lines(&out.stderr_str(), &out.stdout_str(), 3)
            ))
            .hint(fix)),
    }
}

/// A Compose version that `deploy` will accept too (one rule: [`compose::supported`]).
fn usable_compose(stdout: &str) -> Option<compose::Version> {
    compose::parse_version(stdout).filter(|v| compose::supported(*v))
}

/// The last `n` non-empty lines of stderr, or of stdout when stderr is empty, sanitized.
fn last_lines(stderr: &str, stdout: &str, n: usize) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    sanitize(&lines[lines.len().saturating_sub(n)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_install_commands() {
        assert_eq!(
            install_commands(210, &DockerInstall::Script),
            vec![
                "pct exec 210 -- sh -c 'export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y curl'",
                "pct exec 210 -- sh -c 'curl -fsSL https://get.docker.com -o /tmp/get-docker.sh && sh /tmp/get-docker.sh'",
            ]
        );
        assert_eq!(
            install_commands(210, &DockerInstall::Apt),
            vec!["pct exec 210 -- sh -c 'export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y docker.io docker-compose-plugin'"]
        );
        assert_eq!(
            install_commands(210, &DockerInstall::Custom("echo 'hi' && touch /x".into())),
            vec!["pct exec 210 -- sh -c 'echo '\\''hi'\\'' && touch /x'"]
        );
    }

    /// `create` used to accept any major version from 2 on (3.x, 4.x), which `deploy` then
    /// refused: both decide with the same function now.
    #[test]
    fn create_and_deploy_accept_the_same_compose_versions() {
        for v in ["1.29.2", "2.20.3", "2.40.3", "3.0.0", "4.1.0", "5.0.0"] {
            let deploy = compose::parse_version(v).filter(|v| compose::supported(*v));
            let create = usable_compose(&format!("Docker Compose version v{v}\n"));
            assert_eq!(create, deploy, "{v}");
        }
        assert_eq!(usable_compose("Docker Compose version 3.0.0\n"), None);
        assert_eq!(
            usable_compose("Docker Compose version v2.20.3\n").map(|v| v.to_string()),
            Some("2.20.3".into())
        );
        assert_eq!(
            usable_compose("docker-compose version 1.29.2, build 5becea4c\n"),
            None
        );
    }

    #[test]
    fn last_lines_prefers_stderr() {
        assert_eq!(last_lines("a\n\nb\nc\n", "x", 2), "b\nc");
        assert_eq!(last_lines("  \n", "x\ny\n", 5), "x\ny");
    }
}
