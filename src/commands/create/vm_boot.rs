//! The first boot of a new VM as `create` waits for it: the guest agent answers (polled
//! with backoff), then `cloud-init status --wait` through the agent (an error is exit 5
//! with the tail of `/var/log/cloud-init-output.log`).

use std::time::{Duration, Instant};

use super::super::context::Context;
use crate::error::{Error, Result};
use crate::guest::vm::boot::{self, CloudInit};
use crate::output::{sanitize, tail};
use crate::proxmox::qm;
use crate::remote::host::{ensure_success, Host, PROBE_TIMEOUT};

/// How long the guest agent may take to answer after the first start (cloud-init
/// installs it).
const AGENT_LIMIT: Duration = Duration::from_secs(900);

/// Polls `qm guest cmd <vmid> ping` with backoff until the agent answers.
pub(super) fn agent_answers(host: &Host, vmid: u32) -> Result<Duration> {
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
            .cause(format!(
                "`{command}` {}: {}",
                out.status,
                sanitize(&tail(&stderr, 2))
            ))
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
pub(super) fn cloud_init(ctx: &Context, host: &Host, vmid: u32) -> Result<()> {
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
                "the VM is kept: `qm guest exec {vmid} -- cat /var/log/cloud-init-output.log` on the host shows the whole log; fix the cause, then `pxdeploy destroy` and `pxdeploy create` again"
            )))
        }
    }
}
