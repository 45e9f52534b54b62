//! `pxdeploy create` for `[vm]` (contract §2, §3): the image on the node once (checksum
//! verified), the cloud-init snippets and the VM's host key in known_hosts before the first
//! start, `qm create`, the disk resized, the `[firewall]` file, `qm start`, then named,
//! timed steps until the VM is usable: the guest agent answers, cloud-init is done, the
//! address, SSH answers (the recorded key), `docker compose version`; then the user
//! snippet is written again without the private host key.

use std::time::{Duration, Instant};

use super::super::context::Context;
use crate::error::{Error, Result};
use crate::guest::vm::boot::{self, CloudInit};
use crate::guest::Guest;
use crate::output::{sanitize, tail};
use crate::progress::done;
use crate::proxmox::download::{self, Task};
use crate::proxmox::qm;
use crate::remote::host::{ensure_success, Host, PROBE_TIMEOUT};
use crate::remote::quote::join;

/// Bound of `qm create` (the image is imported onto the storage).
const CREATE_TIMEOUT: Duration = Duration::from_secs(1800);
/// Bound of a download task (the image is fetched by the node).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long the guest agent may take to answer after the first start (cloud-init
/// installs it).
const AGENT_LIMIT: Duration = Duration::from_secs(900);
/// How long SSH may take to answer once cloud-init is done.
const SSH_LIMIT: Duration = Duration::from_secs(120);

/// Where the image comes from.
pub(crate) enum Image<'a> {
    /// A volume already on the node.
    Volume(&'a str),
    /// Downloaded, its checksum read from the published list on the node.
    Listed {
        url: &'a str,
        sums_url: &'a str,
        listed_as: &'a str,
        algorithm: &'a str,
    },
    /// Downloaded with the checksum the config gives.
    Given {
        url: &'a str,
        algorithm: &'a str,
        checksum: &'a str,
    },
}

/// What `create` makes, from `[vm]` and the pure builders (cloud-init data, the host key,
/// the `qm create` line).
pub(crate) struct Plan<'a> {
    pub vmid: u32,
    pub name: &'a str,
    pub node: &'a str,
    pub image: Image<'a>,
    pub image_storage: &'a str,
    /// The image's file name on the storage (`<image_storage>:import/<file>`).
    pub image_file: &'a str,
    pub snippets_storage: &'a str,
    pub disk_gb: u32,
    pub create_line: String,
    /// user-data with `ssh_keys` (first boot), and without (afterwards).
    pub user_data: String,
    pub user_data_later: String,
    pub meta_data: String,
    /// The VM's host key, public half (an OpenSSH line).
    pub host_public_key: String,
}

/// Makes the VM and waits until it is usable; returns its address and Compose version.
pub(crate) fn create(ctx: &Context, guest: Guest<'_>, plan: &Plan<'_>) -> Result<(String, String)> {
    let host = guest.host();
    let reporter = ctx.reporter.as_ref();
    image(ctx, host, plan)?;
    reporter.step("Writing the cloud-init snippets", || {
        write_snippet(host, plan, "user", &plan.user_data)?;
        write_snippet(host, plan, "meta", &plan.meta_data)
    })?;
    if !host.dry_run() {
        let Some(target) = host.target() else {
            return Err(Error::unexpected(
                "the VM's host key needs the node's SSH settings",
            ));
        };
        crate::guest::vm::link::record_host_key(
            target,
            plan.vmid,
            plan.node,
            &plan.host_public_key,
        )?;
        ctx.out.info(format!(
            "recorded the VM's host key in known_hosts as `{}` (pxdeploy generated it: the first connection is verified)",
            crate::guest::vm::link::alias(plan.vmid, plan.node)
        ));
    }
    reporter.step(
        &format!("Creating VM {} ({})", plan.vmid, plan.name),
        || {
            let out = host.change(&plan.create_line, CREATE_TIMEOUT)?;
            match out.status.success() {
                true => Ok(()),
                false => Err(guest.refused(&plan.create_line, out)),
            }
        },
    )?;
    let resize = qm::disk_resize(plan.vmid, "scsi0", &format!("{}G", plan.disk_gb));
    reporter.step(
        &format!("Resizing its disk to {} GiB", plan.disk_gb),
        || host.change_ok(&resize, PROBE_TIMEOUT).map(drop),
    )?;
    super::firewall_before_start(ctx, host, &ctx.config()?)?;
    guest.start(reporter, &ctx.out)?;
    if host.dry_run() {
        for line in [
            boot::status_line(plan.vmid),
            qm::guest_cmd(plan.vmid, "ping"),
        ] {
            host.change(&line, PROBE_TIMEOUT)?;
        }
        return Ok((String::new(), String::new()));
    }
    reporter.step_with(
        "Waiting for the guest agent",
        |t: &Duration| done(format!("answered after {:.1}s", t.as_secs_f64())),
        || agent_answers(host, plan.vmid),
    )?;
    reporter.step(
        "Waiting for cloud-init (`cloud-init status --wait`)",
        || cloud_init(ctx, host, plan.vmid),
    )?;
    let address = reporter.step_with(
        "Reading the VM's address",
        |a: &String| done(a.clone()),
        || {
            guest.address()?.ok_or_else(|| {
                Error::remote(format!("VM {} has no IPv4 address on net0", plan.vmid)).hint(
                    "check the bridge's DHCP server, or set a static `ip` and `gateway` in `[vm]`",
                )
            })
        },
    )?;
    reporter.step(
        "Connecting to the VM over SSH (its recorded host key)",
        || guest.wait_inside(SSH_LIMIT).map(drop),
    )?;
    let compose = reporter.step_with(
        "Checking Docker Compose",
        |v: &String| done(v.clone()),
        || super::compose_v2(guest),
    )?;
    reporter.step(
        "Removing the private host key from the node's snippet",
        || write_snippet(host, plan, "user", &plan.user_data_later),
    )?;
    Ok((address, compose))
}

/// The image on the node: already there (listed on its storage), or downloaded with its
/// checksum; the download task's status decides, not `pvesh`'s exit code.
fn image(ctx: &Context, host: &Host, plan: &Plan<'_>) -> Result<()> {
    let volid = match plan.image {
        Image::Volume(v) => v.to_string(),
        _ => format!("{}:import/{}", plan.image_storage, plan.image_file),
    };
    let listed = host.probe_ok(&download::list_images(plan.image_storage))?;
    if download::listed(&listed.stdout_str(), &volid) || matches!(plan.image, Image::Volume(_)) {
        ctx.reporter
            .note(&format!("image {volid} is on the node already"));
        return Ok(());
    }
    let line = match plan.image {
        Image::Volume(_) => unreachable!("a volume is used as it is"),
        Image::Listed {
            url,
            sums_url,
            listed_as,
            algorithm,
        } => download::with_checksum_list(
            plan.node,
            plan.image_storage,
            url,
            plan.image_file,
            sums_url,
            listed_as,
            algorithm,
        ),
        Image::Given {
            url,
            algorithm,
            checksum,
        } => download::with_checksum(
            plan.node,
            plan.image_storage,
            url,
            plan.image_file,
            algorithm,
            checksum,
        ),
    };
    ctx.reporter.step(
        &format!("Downloading the image to {volid} (checksum verified)"),
        || {
            let out = host.change(&line, DOWNLOAD_TIMEOUT)?;
            if host.dry_run() {
                return Ok(());
            }
            let said = format!("{}{}", out.stdout_str(), out.stderr_str());
            if out.status.code == 3 {
                return Err(
                    Error::remote("the image's checksum list does not name the image")
                        .cause(sanitize(&tail(&out.stderr_str(), 2))),
                );
            }
            let Some(upid) = download::upid(&out.stdout_str()) else {
                return Err(ensure_success(&line, out).err().unwrap_or_else(|| {
                    Error::remote("`download-url` printed no task id")
                        .cause(sanitize(&tail(&said, 3)))
                }));
            };
            wait_task(host, plan.node, &upid)
        },
    )
}

/// Polls the task until it stopped; a failed task is exit 5 with its exit status.
fn wait_task(host: &Host, node: &str, upid: &str) -> Result<()> {
    let command = download::task_status(node, upid);
    let deadline = Instant::now() + DOWNLOAD_TIMEOUT;
    loop {
        let out = host.probe_ok(&command)?;
        match download::parse_task(&out.stdout_str()) {
            Some(Task::Ok) => return Ok(()),
            Some(Task::Failed(why)) => {
                return Err(Error::remote("downloading the image failed")
                    .cause(format!("task {upid}: {}", sanitize(&why)))
                    .hint("the node keeps nothing of a failed download; check the image's URL and checksum, then run `pxdeploy create` again"))
            }
            Some(Task::Running) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_secs(2))
            }
            _ => {
                return Err(Error::remote(format!("cannot read the state of task {upid}"))
                    .cause(format!("`{command}`: {}", sanitize(&tail(&out.stdout_str(), 2)))))
            }
        }
    }
}

/// Writes one snippet (`user` or `meta`) through stdin (the private host key is never on
/// a command line), readable by root only, where `pvesm path` puts it.
fn write_snippet(host: &Host, plan: &Plan<'_>, which: &str, text: &str) -> Result<()> {
    let volid = format!(
        "{}:snippets/pxdeploy-{}-{which}.yaml",
        plan.snippets_storage, plan.vmid
    );
    let script = "p=$(pvesm path \"$1\") || exit 1; mkdir -p \"$(dirname \"$p\")\" && umask 077 && cat > \"$p.pxdeploy-tmp\" && mv -f \"$p.pxdeploy-tmp\" \"$p\"";
    let line = join(&["sh", "-c", script, "sh", &volid]);
    let out = host.change_with_stdin(&line, &mut text.as_bytes(), PROBE_TIMEOUT)?;
    ensure_success(&line, out).map(drop)
}

/// Polls `qm guest cmd <vmid> ping` with backoff until the agent answers.
fn agent_answers(host: &Host, vmid: u32) -> Result<Duration> {
    let started = Instant::now();
    let command = qm::guest_cmd(vmid, "ping");
    let mut wait = Duration::from_millis(500);
    loop {
        let out = host.probe(&command)?;
        if out.status.success() {
            return Ok(started.elapsed());
        }
        let stderr = out.stderr_str();
        if !qm::agent::not_answering(&stderr) || started.elapsed() >= AGENT_LIMIT {
            return Err(Error::remote(format!(
                "the guest agent of VM {vmid} did not answer within {}s",
                started.elapsed().as_secs()
            ))
            .cause(format!("`{command}` {}: {}", out.status, sanitize(&tail(&stderr, 2))))
            .hint(format!(
                "cloud-init installs and starts `qemu-guest-agent`: the VM's serial console shows how far it got (`qm terminal {vmid}` on the host)"
            )));
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// `cloud-init status --wait` through the agent; an error is exit 5 with the tail of
/// `/var/log/cloud-init-output.log`.
fn cloud_init(ctx: &Context, host: &Host, vmid: u32) -> Result<()> {
    let command = boot::status_line(vmid);
    let limit = Duration::from_secs(boot::CLOUD_INIT_TIMEOUT_SECS + 60);
    let out = ensure_success(&command, host.probe_quiet(&command, limit)?)?;
    let exec = qm::agent::parse_exec(&out.stdout_str()).map_err(|why| {
        Error::remote(format!("cloud-init in VM {vmid} did not finish"))
            .cause(format!("`{command}`: {why:?}"))
    })?;
    match boot::parse_status(exec.exitcode, &exec.stdout) {
        CloudInit::Done => Ok(()),
        CloudInit::Degraded(warnings) => {
            for w in warnings {
                ctx.out
                    .warn(format!("cloud-init in VM {vmid}: {}", sanitize(&w)));
            }
            Ok(())
        }
        CloudInit::Failed(errors) => {
            let log = host
                .probe_quiet(&boot::log_tail_line(vmid), PROBE_TIMEOUT)
                .ok()
                .and_then(|o| qm::agent::parse_exec(&o.stdout_str()).ok())
                .map(|e| e.stdout)
                .unwrap_or_default();
            let mut err = Error::remote(format!("cloud-init failed in VM {vmid}"));
            for e in errors {
                err = err.cause(sanitize(&e));
            }
            if !log.trim().is_empty() {
                err = err.cause(format!(
                    "the end of /var/log/cloud-init-output.log:\n{}",
                    sanitize(&tail(&log, 20))
                ));
            }
            Err(err.hint(format!(
                "the VM is kept: look inside with `qm guest exec {vmid} -- cat /var/log/cloud-init-output.log` on the host; fix the cause, then `pxdeploy destroy` and `pxdeploy create` again"
            )))
        }
    }
}
