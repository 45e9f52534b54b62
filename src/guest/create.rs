//! Creating the guest: for a container, `pct create` and, when it is privileged, the
//! AppArmor line in its `.conf` (with the warning that says what that costs).

use std::time::Duration;

use super::container::{refused, show_task_warnings};
use super::kind::Kind;
use crate::error::Result;
use crate::output::Output;
use crate::progress::{done, Reporter};
use crate::proxmox::pct::{self, CreateSpec};
use crate::remote::host::{Host, PROBE_TIMEOUT};

/// Bound of `pct create` (the template is unpacked onto the storage).
const CREATE_TIMEOUT: Duration = Duration::from_secs(900);

/// `pct create`; privileged: the AppArmor line and a warning. Returns the task warnings.
pub(super) fn container(
    host: &Host,
    spec: &CreateSpec,
    reporter: &dyn Reporter,
    out: &Output,
) -> Result<Vec<String>> {
    let command = pct::create(spec);
    let result = reporter.step(
        &format!("Creating container {} ({})", spec.vmid, spec.hostname),
        || {
            let result = host.change(&command, CREATE_TIMEOUT)?;
            match result.status.success() {
                true => Ok(result),
                false => Err(refused(Kind::Container, host, spec.vmid, &command, result)),
            }
        },
    )?;
    let warnings = show_task_warnings(out, "pct create", &result);

    if !spec.unprivileged {
        out.warn(format!(
            "container {} is privileged and runs without AppArmor confinement (`{}`): root in the container is root on the Proxmox host, and a process that escapes the container owns the node. Prefer `unprivileged = true`",
            spec.vmid,
            pct::APPARMOR_UNCONFINED
        ));
        reporter.step_with(
            "Turning AppArmor confinement off",
            |_| done(pct::conf_path(spec.vmid)),
            || {
                host.change_ok(
                    &pct::add_raw_line(spec.vmid, pct::APPARMOR_UNCONFINED),
                    PROBE_TIMEOUT,
                )
            },
        )?;
    }
    Ok(warnings)
}
