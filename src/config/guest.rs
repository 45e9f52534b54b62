//! The guest a target deploys into: its `[container]` or its `[vm]` (exactly one), and the
//! settings both kinds have, read through [`Config`]'s accessors (`config.vmid()`, …) so
//! that the commands above do not care which kind it is.

use super::problem::Problem;
use super::{Config, Container, IpConfig, Vm};

/// `[container]` or `[vm]`.
#[derive(Debug, Clone)]
pub enum GuestSpec {
    Container(Container),
    Vm(Vm),
}

/// Which kind of guest, as JSON output and messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    Container,
    Vm,
}

impl GuestKind {
    /// `"container"` or `"vm"`: the section's name and the JSON `"guest"` fact.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Container => "container",
            GuestKind::Vm => "vm",
        }
    }

    /// `"container"` or `"VM"`, for sentences.
    pub fn noun(self) -> &'static str {
        match self {
            GuestKind::Container => "container",
            GuestKind::Vm => "VM",
        }
    }
}

impl GuestSpec {
    pub fn kind(&self) -> GuestKind {
        match self {
            GuestSpec::Container(_) => GuestKind::Container,
            GuestSpec::Vm(_) => GuestKind::Vm,
        }
    }
}

/// Before [`resolve`] has run (never seen by a command).
impl Default for GuestSpec {
    fn default() -> Self {
        GuestSpec::Vm(Vm::placeholder())
    }
}

impl Config {
    /// `container` or `vm`.
    pub fn kind(&self) -> GuestKind {
        self.guest.kind()
    }

    /// The `[container]` section, if this target is a container.
    pub fn container(&self) -> Option<&Container> {
        match &self.guest {
            GuestSpec::Container(c) => Some(c),
            GuestSpec::Vm(_) => None,
        }
    }

    /// The `[vm]` section, if this target is a VM.
    pub fn vm(&self) -> Option<&Vm> {
        match &self.guest {
            GuestSpec::Vm(v) => Some(v),
            GuestSpec::Container(_) => None,
        }
    }

    /// The Proxmox id of the guest.
    pub fn vmid(&self) -> u32 {
        match &self.guest {
            GuestSpec::Container(c) => c.vmid,
            GuestSpec::Vm(v) => v.vmid,
        }
    }

    /// The container's `hostname`, or the VM's `name` (also its hostname): what `destroy`
    /// asks to type and what tells "ours" from another guest with the same id.
    pub fn hostname(&self) -> &str {
        match &self.guest {
            GuestSpec::Container(c) => &c.hostname,
            GuestSpec::Vm(v) => &v.name,
        }
    }

    /// The node `create` puts the guest on (`"auto"` or a name); none: the node connected to.
    pub fn node(&self) -> Option<&str> {
        match &self.guest {
            GuestSpec::Container(c) => c.node.as_deref(),
            GuestSpec::Vm(v) => v.node.as_deref(),
        }
    }

    /// Managed by Proxmox's HA manager.
    pub fn ha(&self) -> bool {
        match &self.guest {
            GuestSpec::Container(c) => c.ha,
            GuestSpec::Vm(v) => v.ha,
        }
    }

    pub fn onboot(&self) -> bool {
        match &self.guest {
            GuestSpec::Container(c) => c.onboot,
            GuestSpec::Vm(v) => v.onboot,
        }
    }

    pub fn protection(&self) -> bool {
        match &self.guest {
            GuestSpec::Container(c) => c.protection,
            GuestSpec::Vm(v) => v.protection,
        }
    }

    /// The storage of the root disk (container) or boot disk (VM).
    pub fn storage(&self) -> &str {
        match &self.guest {
            GuestSpec::Container(c) => &c.storage,
            GuestSpec::Vm(v) => &v.storage,
        }
    }

    /// The bridge of net0.
    pub fn bridge(&self) -> &str {
        match &self.guest {
            GuestSpec::Container(c) => &c.bridge,
            GuestSpec::Vm(v) => &v.bridge,
        }
    }

    /// The VLAN tag of net0.
    pub fn vlan(&self) -> Option<u16> {
        match &self.guest {
            GuestSpec::Container(c) => c.vlan,
            GuestSpec::Vm(v) => v.vlan,
        }
    }

    /// net0's address: DHCP or static.
    pub fn network(&self) -> &IpConfig {
        match &self.guest {
            GuestSpec::Container(c) => &c.network,
            GuestSpec::Vm(v) => &v.network,
        }
    }

    pub fn tags(&self) -> &[String] {
        match &self.guest {
            GuestSpec::Container(c) => &c.tags,
            GuestSpec::Vm(v) => &v.tags,
        }
    }

    /// The `[container]` section for a command that only knows containers yet; a VM target
    /// is a configuration error naming the command.
    pub fn require_container(&self, command: &str) -> crate::error::Result<&Container> {
        self.container().ok_or_else(|| {
            crate::error::Error::config(format!(
                "`pxdeploy {command}` does not work on a [vm] target yet (VM {} `{}`)",
                self.vmid(),
                self.hostname()
            ))
            .hint("use a [container] target for this command")
        })
    }
}

/// Moves the parsed `[container]` / `[vm]` table into `cfg.guest`: exactly one of them.
/// False when there is none (then the guest's own checks are skipped).
pub(super) fn resolve(cfg: &mut Config, problems: &mut Vec<Problem>) -> bool {
    match (cfg.container_table.take(), cfg.vm_table.take()) {
        (Some(c), None) => cfg.guest = GuestSpec::Container(c),
        (None, Some(v)) => cfg.guest = GuestSpec::Vm(v),
        (Some(c), Some(_)) => {
            cfg.guest = GuestSpec::Container(c);
            problems.push(
                Problem::new(
                    "vm",
                    "this target has both [container] and [vm]: a target deploys into one guest, a container or a VM",
                )
                .hint("keep one of the two sections (for several guests, give each its own [targets.<name>] table: docs/targets.md)"),
            );
        }
        (None, None) => {
            problems.push(
                Problem::new(
                    "container",
                    "missing: this target has neither [container] nor [vm]: say what to deploy into",
                )
                .hint("add a [container] section (an LXC container) or a [vm] section (a QEMU VM from a cloud image): `pxdeploy init` or `pxdeploy init --vm` writes one"),
            );
            return false;
        }
    }
    true
}
