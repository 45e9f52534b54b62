//! `pxdeploy create`: template, `pct create`, the `[firewall]` rules, start, network, Docker
//! with Compose v2.
//! On an existing container: nothing changes; every setting that differs is listed.

use std::time::{Duration, Instant};

use serde_json::json;

mod seed;
mod standalone;
mod template;
mod vm;
mod vm_boot;

use super::context::Context;
use crate::compose;
use crate::config::{Config, Container, DockerInstall};
use crate::error::{Error, Result};
use crate::guest::{CreateSpec, CtState, Guest, Inside, Op};
use crate::output::{sanitize, tail_of};
use crate::progress::done;
use crate::remote::host::Host;

const NETWORK_TIMEOUT: Duration = Duration::from_secs(120);
const NETWORK_INTERVAL: Duration = Duration::from_secs(2);
const DOCKER_INSTALL_TIMEOUT: Duration = Duration::from_secs(1800);

/// Installs curl; Docker's convenience script needs it.
pub(super) const INSTALL_CURL: &str =
    "export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y curl";
/// Docker's convenience script: Docker Engine with the Compose v2 plugin.
pub(super) const INSTALL_DOCKER_SCRIPT: &str =
    "curl -fsSL https://get.docker.com -o /tmp/get-docker.sh && sh /tmp/get-docker.sh";
/// The distribution's packages.
pub(super) const INSTALL_DOCKER_APT: &str = "export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y docker.io docker-compose-plugin";

pub(super) fn run(ctx: &Context) -> Result<()> {
    let started = Instant::now();
    let config = ctx.config()?;
    if let Some(v) = config.vm() {
        return vm::run(ctx, &config, v);
    }
    let c = config.require_container("create")?;
    let host = ctx.connect(&config)?;
    if let Some(state) = Guest::of(&host, &config).state()? {
        return existing(ctx, &host, &config, state);
    }
    if let Some(wanted) = &c.node {
        let target = crate::config::ssh::resolve(&config)?;
        ctx.reporter.step_with(
            "Choosing the node",
            |choice: &crate::cluster::place::Choice| {
                done(format!("{} ({})", choice.node, choice.why))
            },
            || crate::cluster::place::place(&host, &target, ("[container] node", wanted)),
        )?;
    }

    let template = template::resolve(ctx, &host, c)?;
    let spec = CreateSpec::from_container(c, &template);
    let guest = Guest::of(&host, &config);
    let mut warnings = guest.create(&spec, ctx.reporter.as_ref(), &ctx.out)?;
    firewall_before_start(ctx, &host, &config)?;
    warnings.extend(guest.start(ctx.reporter.as_ref(), &ctx.out)?);

    if host.dry_run() {
        for command in install_commands(guest.inside(), &c.docker_install) {
            host.change(&command, DOCKER_INSTALL_TIMEOUT)?;
        }
        ctx.succeed(
            Some(&host),
            json!({ "vmid": c.vmid, "hostname": c.hostname, "created": false, "template": template }),
        );
        return Ok(());
    }

    let ip = wait_for_network(ctx, guest, c)?;
    install_docker(ctx, guest, c)?;
    let compose = verify_compose(ctx, guest)?;
    if c.ha {
        crate::cluster::ha::register(&host, c.vmid, false, ctx.reporter.as_ref())?;
    }

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
    let c = config.require_container("create")?;
    let guest = Guest::of(host, config);
    let actual = guest.config()?;
    let drift = guest.drift(&actual, &CreateSpec::from_container(c, &c.template));
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
        CtState::Running => guest.address()?,
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

/// `[firewall]`: the container is never up without its rules, so its firewall file and
/// `firewall=1` on net0 are written before the first start (a dry run, which created
/// nothing, shows the file).
pub(super) fn firewall_before_start(ctx: &Context, host: &Host, config: &Config) -> Result<()> {
    let Some(fw) = &config.firewall else {
        return Ok(());
    };
    if host.dry_run() {
        let vmid = config.vmid();
        ctx.out.info(format!(
            "dry run: would write {}{}:\n{}",
            crate::firewall::path(vmid),
            if fw.enable {
                " and set firewall=1 on net0"
            } else {
                ""
            },
            fw.file()
        ));
        return Ok(());
    }
    crate::firewall::apply(host, config, ctx.reporter.as_ref(), &ctx.out).map(|_| ())
}

/// Polls `ip -4 -o addr show dev eth0` inside the container until it has an address.
fn wait_for_network(ctx: &Context, guest: Guest, c: &Container) -> Result<String> {
    ctx.reporter.step_with(
        "Waiting for the container's network",
        |ip: &String| done(ip.clone()),
        || address(guest, c),
    )
}

/// The container's address, once it has one.
fn address(guest: Guest, c: &Container) -> Result<String> {
    let deadline = Instant::now() + NETWORK_TIMEOUT;
    let command = guest.line(Op::Address);
    loop {
        let out = guest.host().probe(&command)?;
        if out.status.success() {
            if let Some(ip) = guest.parse_address(&out.stdout_str()) {
                return Ok(ip);
            }
        }
        if Instant::now() >= deadline {
            let why = tail_of(&out.stderr_str(), &out.stdout_str(), 3);
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

/// The host commands that install Docker in the guest.
pub(super) fn install_commands(inside: Inside, how: &DockerInstall) -> Vec<String> {
    match how {
        DockerInstall::Script => vec![
            inside.exec_sh(INSTALL_CURL),
            inside.exec_sh(INSTALL_DOCKER_SCRIPT),
        ],
        DockerInstall::Apt => vec![inside.exec_sh(INSTALL_DOCKER_APT)],
        DockerInstall::Custom(script) => vec![inside.exec_sh(script)],
    }
}

fn install_docker(ctx: &Context, guest: Guest, c: &Container) -> Result<()> {
    ctx.reporter
        .step("Installing Docker", || run_install(guest, c))
}

fn run_install(guest: Guest, c: &Container) -> Result<()> {
    for command in install_commands(guest.inside(), &c.docker_install) {
        let out = guest.host().change(&command, DOCKER_INSTALL_TIMEOUT)?;
        if !out.status.success() {
            let why = tail_of(&out.stderr_str(), &out.stdout_str(), 15);
            return Err(Error::remote(format!("installing Docker in container {} failed", c.vmid))
                .cause(format!("`{command}` {}:\n{why}", out.status))
                .hint(format!(
                    "the container is kept; fix the cause, then run the step by hand (`{command}`) or destroy and create it again"
                )));
        }
    }
    Ok(())
}

/// `docker compose version` inside; Compose v1 only (`docker-compose`) is an error with a fix.
fn verify_compose(ctx: &Context, guest: Guest) -> Result<String> {
    ctx.reporter.step_with(
        "Checking Docker Compose",
        |v: &String| done(v.clone()),
        || compose_v2(guest),
    )
}

pub(super) fn compose_v2(guest: Guest) -> Result<String> {
    let (host, vmid) = (guest.inside_host()?, guest.id());
    let command = guest.exec_line(&["docker", "compose", "version"]);
    let out = host.probe(&command)?;
    let usable = out
        .status
        .success()
        .then(|| usable_compose(&out.stdout_str()))
        .flatten();
    if let Some(version) = usable {
        let version = version.to_string();
        return Ok(version);
    }
    let standalone = host.probe(&standalone::probe(guest.inside()))?;
    let found = standalone
        .status
        .success()
        .then(|| standalone::parse(&standalone.stdout_str()))
        .flatten();
    let fix = format!(
        "install the Compose v2 plugin inside the container, e.g. with Docker's script: `pct exec {vmid} -- sh -c 'curl -fsSL https://get.docker.com | sh'`; check with `{command}`"
    );
    match found {
        Some((path, v)) if v.major < 2 => Err(Error::remote(format!(
            "container {vmid} has only Compose v1 (`{path}` {v}); pxdeploy needs Compose v2 (`docker compose`)"
        ))
        .hint(fix)),
        Some((path, v)) => Err(standalone::not_the_plugin(guest.inside(), path, v, &fix)),
        None => Err(Error::remote(format!("`docker compose` does not work in container {vmid}"))
            .cause(format!(
                "`{command}` {}: {}",
                out.status,
                tail_of(&out.stderr_str(), &out.stdout_str(), 3)
            ))
            .hint(fix)),
    }
}

/// A Compose version that `deploy` will accept too (one rule: [`compose::supported`]).
fn usable_compose(stdout: &str) -> Option<compose::Version> {
    compose::parse_version(stdout).filter(|v| compose::supported(*v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_install_commands() {
        assert_eq!(
            install_commands(Inside::Container(210), &DockerInstall::Script),
            vec![
                "pct exec 210 -- sh -c 'export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y curl'",
                "pct exec 210 -- sh -c 'curl -fsSL https://get.docker.com -o /tmp/get-docker.sh && sh /tmp/get-docker.sh'",
            ]
        );
        assert_eq!(
            install_commands(Inside::Container(210), &DockerInstall::Apt),
            vec!["pct exec 210 -- sh -c 'export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y docker.io docker-compose-plugin'"]
        );
        assert_eq!(
            install_commands(
                Inside::Container(210),
                &DockerInstall::Custom("echo 'hi' && touch /x".into())
            ),
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
}
