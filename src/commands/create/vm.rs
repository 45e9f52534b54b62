//! `pxdeploy create` for `[vm]` (contract §2, §3): the image on the node once (its checksum
//! verified: `qm::download`), the cloud-init snippets and the VM's host key in known_hosts
//! before the first start, `qm create`, the disk resized, the `[firewall]` file, `qm
//! start`, then named, timed steps until the VM is usable: the guest agent answers,
//! cloud-init is done, the address, SSH answers (the recorded key), `docker compose
//! version`; then the user snippet is written again without the private host key.
//! On an existing VM: nothing changes; every setting that differs is listed.

use std::time::{Duration, Instant};

use serde_json::json;

use super::super::context::Context;
use crate::config::{Config, Vm, VmImage};
use crate::error::{Error, Result};
use crate::guest::vm::boot;
use crate::guest::vm::{host_key, link};
use crate::guest::{CtState, Guest};
use crate::output::{sanitize, tail};
use crate::progress::done;
use crate::proxmox::qm::create::{self as qm_create, VmCreateSpec};
use crate::proxmox::qm::download::{self, DownloadSpec};
use crate::proxmox::qm::{self, config as qm_config};
use crate::remote::host::{ensure_success, Host, PROBE_TIMEOUT};
use crate::remote::quote::join;

/// Bound of `qm create` (the image is imported onto the storage).
const CREATE_TIMEOUT: Duration = Duration::from_secs(1800);
/// Bound of the image download (fetched by the node).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long SSH may take to answer once cloud-init is done.
const SSH_LIMIT: Duration = Duration::from_secs(120);

/// The cloud-init data of a new VM and its host key.
pub(crate) struct Seed {
    /// user-data with `ssh_keys` (first boot; wiped from memory when dropped), and
    /// without (afterwards).
    pub user_data: zeroize::Zeroizing<String>,
    pub user_data_later: zeroize::Zeroizing<String>,
    pub meta_data: String,
    /// The VM's host key (its public half goes into known_hosts before the first start).
    pub host_key: crate::guest::vm::host_key::HostKey,
}

/// `pxdeploy create` of a `[vm]` target.
pub(crate) fn run(ctx: &Context, config: &Config, v: &Vm) -> Result<()> {
    let started = Instant::now();
    let host = ctx.connect(config)?;
    let guest = Guest::of(&host, config);
    if let Some(state) = guest.state()? {
        return existing(ctx, &host, config, v, guest, state);
    }
    if let Some(wanted) = &v.node {
        let target = crate::config::ssh::resolve(config)?;
        ctx.reporter.step_with(
            "Choosing the node",
            |choice: &crate::cluster::place::Choice| {
                done(format!("{} ({})", choice.node, choice.why))
            },
            || crate::cluster::place::place(&host, &target, ("[vm] node", wanted)),
        )?;
    }
    let node = link::node_name(&host)?;
    let seed = super::seed::seed(config, v, &node)?;
    let (ip, compose) = create(ctx, config, guest, v, &node, &seed)?;
    if host.dry_run() {
        ctx.succeed(
            Some(&host),
            json!({ "vmid": v.vmid, "hostname": v.name, "created": false }),
        );
        return Ok(());
    }
    if v.ha {
        crate::cluster::ha::register(&host, v.vmid, true, ctx.reporter.as_ref())?;
    }
    ctx.out.info(format!(
        "VM {} ({}) is ready with Docker Compose {compose}: {}",
        v.vmid,
        v.name,
        ctx.out.bold(&ip)
    ));
    ctx.out.data(&ip);
    ctx.succeed(
        Some(&host),
        json!({
            "vmid": v.vmid,
            "hostname": v.name,
            "created": true,
            "node": node,
            "ip": ip,
            "compose_version": compose,
            "host_key_alias": link::alias(v.vmid, &node),
            "duration_secs": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}

/// The VM exists: change nothing, name every setting that differs from the config.
fn existing(
    ctx: &Context,
    host: &Host,
    config: &Config,
    v: &Vm,
    guest: Guest<'_>,
    state: CtState,
) -> Result<()> {
    let text = host.probe_ok(&qm::config(v.vmid))?.stdout_str();
    let actual = qm_config::parse_config(&text);
    let drift = qm_config::drift(&actual, &VmCreateSpec::from_vm(v, ""));
    ctx.out.info(format!(
        "VM {} already exists ({}): nothing changed",
        v.vmid,
        state.as_str()
    ));
    for d in &drift {
        ctx.out.warn(format!(
            "VM {} differs from the config: {}",
            v.vmid,
            sanitize(&d.to_string())
        ));
    }
    if !drift.is_empty() {
        ctx.out.info(format!(
            "pxdeploy does not change an existing VM: adjust it with `qm set {}` on the host, or destroy and create it again",
            v.vmid
        ));
    }
    let ip = match state {
        CtState::Running => guest.address()?,
        CtState::Stopped => v.network.static_addr().map(|a| a.to_string()),
    };
    if let Some(ip) = &ip {
        ctx.out.data(ip);
    }
    let drift: Vec<String> = drift.iter().map(ToString::to_string).collect();
    ctx.succeed(
        Some(host),
        json!({
            "vmid": v.vmid,
            "hostname": actual.name().unwrap_or(&v.name),
            "created": false,
            "state": state,
            "ip": ip,
            "drift": drift,
        }),
    );
    let _ = config;
    Ok(())
}

/// Makes the VM and waits until it is usable; returns its address and Compose version.
fn create(
    ctx: &Context,
    config: &Config,
    guest: Guest<'_>,
    v: &Vm,
    node: &str,
    seed: &Seed,
) -> Result<(String, String)> {
    let host = guest.host();
    let reporter = ctx.reporter.as_ref();
    let image = image(ctx, host, v, node)?;
    reporter.step("Writing the cloud-init snippets", || {
        write_snippet(host, v, &qm_create::user_snippet(v.vmid), &seed.user_data)?;
        write_snippet(host, v, &qm_create::meta_snippet(v.vmid), &seed.meta_data)
    })?;
    if !host.dry_run() {
        let Some(target) = host.target() else {
            return Err(Error::unexpected(
                "the VM's host key needs the node's SSH settings",
            ));
        };
        let Some(file) = &target.known_hosts else {
            return Err(
                Error::config("the VM's host key cannot be recorded: no known_hosts file")
                    .cause("`UserKnownHostsFile none` in ~/.ssh/config")
                    .hint("pxdeploy checks a VM's host key against known_hosts: name a file"),
            );
        };
        let alias = link::alias(v.vmid, node);
        host_key::record(file, &alias, &seed.host_key, target.hash_known_hosts).map_err(|e| {
            Error::unexpected(format!(
                "cannot write {}",
                crate::output::display_path(file)
            ))
            .cause(e.to_string())
        })?;
        reporter.note(&format!(
            "recorded the VM's host key in known_hosts as `{}` before its first start (pxdeploy generated it: the first connection is verified)",
            link::alias(v.vmid, node)
        ));
    }
    let line = qm_create::create(&VmCreateSpec::from_vm(v, &image));
    reporter.step(&format!("Creating VM {} ({})", v.vmid, v.name), || {
        let out = host.change(&line, CREATE_TIMEOUT)?;
        match out.status.success() {
            true => Ok(()),
            false => Err(guest.refused(&line, out)),
        }
    })?;
    let resize = qm_create::resize(v.vmid, v.disk_gb);
    reporter.step(&format!("Resizing its disk to {} GiB", v.disk_gb), || {
        host.change_ok(&resize, PROBE_TIMEOUT).map(drop)
    })?;
    super::firewall_before_start(ctx, host, config)?;
    guest.start(reporter, &ctx.out)?;
    if host.dry_run() {
        for line in [
            qm::guest_cmd(v.vmid, "ping"),
            boot::status_line(v.vmid),
            qm::guest_cmd(v.vmid, "network-get-interfaces"),
        ] {
            host.change(&line, PROBE_TIMEOUT)?;
        }
        return Ok((String::new(), String::new()));
    }
    reporter.step_with(
        "Waiting for the guest agent",
        |t: &Duration| done(format!("answered after {:.1}s", t.as_secs_f64())),
        || super::vm_boot::agent_answers(host, v.vmid),
    )?;
    reporter.step(
        "Waiting for cloud-init (`cloud-init status --wait`)",
        || super::vm_boot::cloud_init(ctx, host, v.vmid),
    )?;
    let address = reporter.step_with(
        "Reading the VM's address",
        |a: &String| done(a.clone()),
        || {
            guest.address()?.ok_or_else(|| {
                Error::remote(format!("VM {} has no IPv4 address on net0", v.vmid)).hint(
                    "check the bridge's DHCP server, or set a static `ip` and `gateway` in `[vm]`",
                )
            })
        },
    )?;
    reporter.step(
        &format!(
            "Connecting over SSH (host key `{}`)",
            link::alias(v.vmid, node)
        ),
        || guest.wait_inside(SSH_LIMIT).map(drop),
    )?;
    let compose = reporter.step_with(
        "Checking Docker Compose",
        |v: &String| done(v.clone()),
        || super::compose_v2(guest),
    )?;
    // The fixed instance id: cloud-init never runs cc_ssh again, the keys in the VM stay.
    reporter.step(
        "Removing the private host key from the node (snippet and cloud-init drive)",
        || {
            write_snippet(
                host,
                v,
                &qm_create::user_snippet(v.vmid),
                &seed.user_data_later,
            )?;
            host.change_ok(&qm::cloudinit_update(v.vmid), PROBE_TIMEOUT)
                .map(drop)
        },
    )?;
    Ok((address, compose))
}

/// The image on the node: a volume named in the config as it is, else downloaded with its
/// checksum (`download-url` finds it there already when it is); the task's status decides,
/// not `pvesh`'s exit code. Returns its volume id.
fn image(ctx: &Context, host: &Host, v: &Vm, node: &str) -> Result<String> {
    let spec = match &v.image {
        VmImage::Volume(volid) => return Ok(volid.clone()),
        image => DownloadSpec::from_image(image).ok_or_else(|| {
            Error::config("`vm.image` names no image of the catalogue")
                .hint("use debian-12, debian-13, ubuntu-24.04, { url, sha512 } or a volume id")
        })?,
    };
    let line = download::line(&spec, node, &v.image_storage, "import");
    ctx.reporter.step_with(
        &format!(
            "Getting the image onto {} (checksum verified)",
            v.image_storage
        ),
        |volid: &String| done(volid.clone()),
        || {
            let out = host.change(&line, DOWNLOAD_TIMEOUT)?;
            if host.dry_run() {
                return Ok(format!(
                    "{}:import/{}.{}",
                    v.image_storage, spec.stem, spec.extension
                ));
            }
            if !out.status.success() {
                let why = sanitize(&tail(&out.stderr_str(), 3));
                return Err(match out.status.code {
                    3 => Error::remote("the image's checksum list does not name the image")
                        .cause(why),
                    4 => Error::remote("the image's checksum is not one").cause(why),
                    _ => Error::remote("downloading the image failed")
                        .cause(format!("exit {}: {why}", out.status.code)),
                });
            }
            let got = download::parse(&out.stdout_str())
                .map_err(|why| Error::remote("downloading the image failed").cause(why))?;
            wait_task(host, node, &got)?;
            Ok(got.volid)
        },
    )
}

/// The download task until it stopped; a failed task is exit 5 with its exit status.
fn wait_task(host: &Host, node: &str, got: &download::Downloaded) -> Result<()> {
    let deadline = Instant::now() + DOWNLOAD_TIMEOUT;
    let mut status = got.status.clone();
    loop {
        match &status {
            Some(s) if s.running() && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_secs(2));
                let out = host.probe_ok(&download::task_status(node, &got.upid))?;
                status = download::parse_task_status(&out.stdout_str());
            }
            Some(s) => {
                return match s.failure() {
                    None => Ok(()),
                    Some(why) => Err(Error::remote("downloading the image failed")
                        .cause(format!("task {}: {}", got.upid, sanitize(why)))
                        .hint(
                            "check the image's URL and checksum, then run `pxdeploy create` again",
                        )),
                }
            }
            None => {
                return Err(Error::remote("cannot read the state of the download task")
                    .cause(format!("task `{}`", sanitize(&got.upid))))
            }
        }
    }
}

/// Writes one snippet file through stdin (the private host key is never on a command
/// line), readable by root only, where `pvesm path` puts it.
fn write_snippet(host: &Host, v: &Vm, file: &str, text: &str) -> Result<()> {
    let volid = qm_create::snippet_volid(&v.snippets_storage, file);
    let script = "p=$(pvesm path \"$1\") || exit 1; mkdir -p \"$(dirname \"$p\")\" && umask 077 && cat > \"$p.pxdeploy-tmp\" && mv -f \"$p.pxdeploy-tmp\" \"$p\"";
    let line = join(&["sh", "-c", script, "sh", &volid]);
    let out = host.change_with_stdin(&line, &mut text.as_bytes(), PROBE_TIMEOUT)?;
    ensure_success(&line, out).map(drop)
}
