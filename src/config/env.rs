//! Environment overrides: `PROXMOX_*` variables, for CI and for people coming from the
//! Taskfile. Precedence: flag > environment > file > default. An empty value counts as unset.

use super::problem::Problem;
use super::{Config, GuestSpec};

/// Every variable that overrides a key, with the key it overrides. The `PROXMOX_CONTAINER_*`
/// ones set the guest's key: under `[vm]` they override `vm.vmid`, `vm.ip`, `vm.gateway`.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("PROXMOX_HOST", "proxmox.host"),
    ("PROXMOX_USER", "proxmox.user"),
    ("PROXMOX_SSH_KEY", "proxmox.identity_file"),
    ("PROXMOX_JUMP", "proxmox.jump"),
    ("PROXMOX_CONTAINER_ID", "container.vmid"),
    ("PROXMOX_CONTAINER_IP", "container.ip"),
    ("PROXMOX_CONTAINER_GATEWAY", "container.gateway"),
];

/// One key whose file value (or default) was replaced by an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    /// The variable, e.g. `PROXMOX_HOST`.
    pub var: &'static str,
    /// The key it replaced, e.g. `proxmox.host`.
    pub field: &'static str,
}

/// Applies every set, non-empty variable to `cfg` and records it in `cfg.env_overrides`.
/// A value that cannot be used (a vmid that is not a number) becomes a problem naming the
/// variable; the others are still applied so that every problem is reported at once.
pub(super) fn apply(
    cfg: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    let vm = cfg.vm().is_some();
    for &(var, field) in ENV_VARS {
        let Some(value) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let field = match field.strip_prefix("container.") {
            Some(key) if vm => vm_field(key),
            _ => field,
        };
        let value = value.trim().to_string();
        match var {
            "PROXMOX_HOST" => cfg.proxmox.host = value,
            "PROXMOX_USER" => cfg.proxmox.user = Some(value),
            "PROXMOX_SSH_KEY" => cfg.proxmox.identity_file = Some(value.into()),
            "PROXMOX_JUMP" => cfg.proxmox.jump = Some(value),
            "PROXMOX_CONTAINER_ID" => match value.parse::<u32>() {
                Ok(vmid) => match &mut cfg.guest {
                    GuestSpec::Container(c) => c.vmid = vmid,
                    GuestSpec::Vm(v) => v.vmid = vmid,
                },
                Err(_) => {
                    problems.push(Problem::new(
                        field,
                        format!(
                            "{value:?} is not a {} id (a number 100–999999999)",
                            cfg.kind().noun()
                        ),
                    ));
                    // Keep the file's value out of later checks' way: the variable was meant.
                    cfg.env_overrides.push(EnvOverride { var, field });
                    continue;
                }
            },
            "PROXMOX_CONTAINER_IP" => match &mut cfg.guest {
                GuestSpec::Container(c) => c.ip = value,
                GuestSpec::Vm(v) => v.ip = value,
            },
            "PROXMOX_CONTAINER_GATEWAY" => match &mut cfg.guest {
                GuestSpec::Container(c) => c.gateway = Some(value),
                GuestSpec::Vm(v) => v.gateway = Some(value),
            },
            _ => unreachable!("every ENV_VARS entry is handled"),
        }
        cfg.env_overrides.push(EnvOverride { var, field });
    }
}

/// `vm.<key>` for the keys the `PROXMOX_CONTAINER_*` variables set.
fn vm_field(key: &str) -> &'static str {
    match key {
        "vmid" => "vm.vmid",
        "ip" => "vm.ip",
        _ => "vm.gateway",
    }
}

/// The variable that set `field`, if one did.
pub(super) fn source_of(cfg: &Config, field: &str) -> Option<&'static str> {
    cfg.env_overrides
        .iter()
        .find(|o| o.field == field)
        .map(|o| o.var)
}
