//! `pxdeploy check`: a preflight that explains every failure in plain words with the fix.
//! Read-only: it only probes the host.

use serde::Serialize;
use serde_json::json;

use super::context::Context;
use crate::config::{Config, GuestSpec, IpConfig};
use crate::error::{Error, Result};
use crate::guest::{Guest, Op};
use crate::output::sanitize;
use crate::proxmox::{node, pvesm};
use crate::remote::host::Host;

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub(super) fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }
    pub(super) fn fail(
        name: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            name,
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

pub(super) fn run(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let mut checks = vec![Check::pass(
        "config",
        format!("{} is valid", config.path.display()),
    )];
    checks.push(network_settings(&config));

    let host = match ctx.connect(&config) {
        Ok(host) => host,
        Err(e) => {
            checks.push(Check::fail(
                "ssh",
                e.to_string(),
                e.hint.clone().unwrap_or_default(),
            ));
            report(ctx, &checks);
            return Err(e.facts(json!({ "checks": checks })));
        }
    };
    checks.push(Check::pass(
        "ssh",
        format!("connected to {} (host key known, key accepted)", host.alias),
    ));

    let version = match proxmox_node(&host, &config)? {
        Ok((pass, version)) => {
            checks.push(pass);
            version
        }
        Err(fail) => {
            // Nothing else can be checked on a host without pct/qm.
            checks.push(fail);
            return finish(ctx, &checks);
        }
    };
    let mut existing = None;
    match &config.guest {
        GuestSpec::Container(c) => {
            checks.extend(storages(
                &host,
                &[
                    ("storage", "container.storage", &c.storage),
                    (
                        "template storage",
                        "container.template_storage",
                        &c.template_storage,
                    ),
                    ("backup storage", "backup.storage", &config.backup.storage),
                ],
            )?);
            checks.push(bridge(&host, &config)?);
            checks.push(super::check_ct::template(&host, c)?);
            let (vmid_check, found) = super::check_ct::vmid(&host, &config, c)?;
            checks.push(vmid_check);
            checks.push(super::check_ct::docker_features(c, found.as_ref()));
            if config.deploy.snapshot {
                checks.push(snapshots(&host, &config)?);
            }
            existing = found;
        }
        GuestSpec::Vm(v) => {
            checks.extend(super::check_vm::checks(
                &host,
                &config,
                v,
                version.as_deref(),
            )?);
            checks.push(bridge(&host, &config)?);
            checks.extend(storages(
                &host,
                &[("backup storage", "backup.storage", &config.backup.storage)],
            )?);
        }
    }
    if config.ha() {
        let detail = crate::cluster::ha::check(
            &host,
            (config.vmid(), config.kind() == crate::config::GuestKind::Vm),
            config.storage(),
            &ctx.out,
        )?;
        checks.push(Check::pass("ha", detail));
    }
    if let Some(warning) = crate::firewall::check_datacenter(&host, &config)? {
        ctx.out.warn(warning);
    }
    if existing.is_some() {
        let known = crate::breakage::warnings(Guest::of(&host, &config), existing.as_ref())?;
        known.into_iter().for_each(|w| ctx.out.warn(w));
    }
    finish(ctx, &checks)
}

fn finish(ctx: &Context, checks: &[Check]) -> Result<()> {
    report(ctx, checks);
    let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    if failed.is_empty() {
        ctx.out.info("all checks passed");
        ctx.out.success_json(json!({ "checks": checks }));
        return Ok(());
    }
    Err(Error::remote(format!(
        "{} of {} checks failed: {}",
        failed.len(),
        checks.len(),
        failed.join(", ")
    ))
    .facts(json!({ "checks": checks })))
}

/// One line per check on stdout (✓/✗), with the fix under a failed one.
fn report(ctx: &Context, checks: &[Check]) {
    for c in checks {
        let mark = if c.ok {
            ctx.out.green("✓")
        } else {
            ctx.out.red("✗")
        };
        ctx.out
            .data(format!("{mark} {}: {}", c.name, sanitize(&c.detail)));
        if let Some(fix) = c.fix.as_deref().filter(|f| !f.is_empty()) {
            ctx.out.data(format!("    fix: {}", sanitize(fix)));
        }
    }
}

/// Static IP inside the gateway's subnet (validated with the config), or DHCP.
fn network_settings(config: &Config) -> Check {
    let (network, bridge) = (config.network(), config.bridge());
    match network {
        IpConfig::Dhcp => Check::pass("network", format!("DHCP on {bridge}")),
        IpConfig::Static {
            gateway: Some(gateway),
            ..
        } => Check::pass(
            "network",
            format!(
                "static {} via gateway {gateway} on {bridge} (gateway inside the subnet)",
                network.ip(),
            ),
        ),
        IpConfig::Static { gateway: None, .. } => Check::pass(
            "network",
            format!("static {} without a gateway on {bridge}", network.ip()),
        ),
    }
}

/// `pveversion`: is this a Proxmox VE node at all? And does `pct` (`qm` for a VM) work?
/// The pass comes with pve-manager's version.
fn proxmox_node(host: &Host, config: &Config) -> Result<Result<(Check, Option<String>), Check>> {
    let (tool, list) = match config.vm() {
        Some(_) => ("qm", "qm list".to_string()),
        None => ("pct", Guest::of(host, config).line(Op::List)),
    };
    let out = host.probe(&node::pveversion())?;
    if out.status.code == 127 {
        return Ok(Err(Check::fail(
            "proxmox",
            format!("`pveversion` and `{tool}` were not found on {}", host.alias),
            "is this a Proxmox VE node? Point `[proxmox] host` at the node itself (pxdeploy runs `pct` there, as root)",
        )));
    }
    if !out.status.success() {
        return Ok(Err(Check::fail(
            "proxmox",
            format!("`pveversion` {}: {}", out.status, out.stderr_str().trim()),
            format!("log in as root (`[proxmox] user = \"root\"`): {tool} and vzdump need it"),
        )));
    }
    let version = node::parse_pveversion(&out.stdout_str());
    let listed = host.probe(&list)?;
    if !listed.status.success() {
        return Ok(Err(Check::fail(
            "proxmox",
            format!(
                "`{tool} list` {}: {}",
                listed.status,
                listed.stderr_str().trim()
            ),
            "run pxdeploy against a Proxmox VE node as root",
        )));
    }
    let shown = version.as_deref().unwrap_or("unknown");
    Ok(Ok((
        Check::pass(
            "proxmox",
            format!("Proxmox VE node (pve-manager {shown}), `{tool}` works"),
        ),
        version,
    )))
}

/// These storages (check name, config key, id) exist and are active.
fn storages(host: &Host, wanted: &[(&'static str, &str, &String)]) -> Result<Vec<Check>> {
    let out = host.probe_ok(&pvesm::status())?;
    let all = pvesm::parse_status(&out.stdout_str());
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    Ok(wanted
        .iter()
        .copied()
        .map(|(name, key, id)| match all.iter().find(|s| &s.name == id) {
            Some(s) if s.status == "active" => {
                let free = s
                    .available_kib
                    .map(|k| format!(", {} free", crate::output::size(k * 1024)))
                    .unwrap_or_default();
                Check::pass(name, format!("`{id}` ({}) is active{free}", s.kind))
            }
            Some(s) => Check::fail(
                name,
                format!("`{id}` is {}", s.status),
                format!(
                    "enable it (`pvesm set {id} --disable 0`) or set `{key}` to an active storage"
                ),
            ),
            None => Check::fail(
                name,
                format!("there is no storage `{id}` on {}", host.alias),
                format!("set `{key}` to one of: {}", names.join(", ")),
            ),
        })
        .collect())
}

/// `[deploy] snapshot = true`: every volume of the container can be snapshotted (a
/// container's check; a VM's are in `check_vm`).
fn snapshots(host: &Host, config: &Config) -> Result<Check> {
    let vmid = config.vmid();
    Ok(match crate::snapshots::blocker(host, config)? {
        None => Check::pass("snapshots", "the container's storage can take snapshots"),
        Some(why) => Check::fail(
            "snapshots",
            format!("`[deploy] snapshot = true`, but {why}: deploys would be refused"),
            crate::snapshots::fix(crate::guest::Kind::Container, vmid),
        ),
    })
}

/// The bridge of `net0` exists on this node.
fn bridge(host: &Host, config: &Config) -> Result<Check> {
    let node_name = host
        .probe_ok(&node::hostname())
        .ok()
        .and_then(|o| node::parse_node_name(&o.stdout_str()))
        .unwrap_or_else(|| "localhost".into());
    let out = host.probe_ok(&node::network(&node_name))?;
    let wanted = config.bridge();
    let Some(bridges) = node::parse_bridges(&out.stdout_str()) else {
        return Ok(Check::fail(
            "bridge",
            "could not read the node's network configuration",
            format!("check `{}` on the host", node::network(&node_name)),
        ));
    };
    Ok(if bridges.iter().any(|b| b == wanted) {
        Check::pass("bridge", format!("`{wanted}` exists on node {node_name}"))
    } else {
        Check::fail(
            "bridge",
            format!("there is no bridge `{wanted}` on node {node_name}"),
            format!(
                "set `{}.bridge` to one of: {}",
                config.kind().as_str(),
                if bridges.is_empty() {
                    "(none: create one in the Proxmox GUI under System > Network)".to_string()
                } else {
                    bridges.join(", ")
                }
            ),
        )
    })
}
