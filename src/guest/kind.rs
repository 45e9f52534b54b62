//! The two kinds of guest as their lifecycle tools see them: the words and the command
//! lines that differ between an LXC container (`pct`) and a QEMU VM (`qm`), so that the
//! lifecycle code (`container.rs`: state, start, stop, reboot, the refusals) is one.

use crate::proxmox::pct::{self, Said};
use crate::proxmox::qm;

/// An LXC container or a QEMU VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Container,
    Vm,
}

impl Kind {
    /// "container" / "VM", in messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Vm => "VM",
        }
    }

    /// `"container"` / `"vm"`: the JSON facts' `guest`, and the config section.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Vm => "vm",
        }
    }

    /// The kind as the node's API paths name it (`/nodes/<node>/<kind>/<vmid>/…`): `lxc`
    /// for a container, `qemu` for a VM.
    pub(crate) fn api(self) -> &'static str {
        match self {
            Kind::Container => "lxc",
            Kind::Vm => "qemu",
        }
    }

    /// `pct` / `qm`, in hints.
    pub(crate) fn tool(self) -> &'static str {
        match self {
            Kind::Container => "pct",
            Kind::Vm => "qm",
        }
    }

    /// What the tool's stderr says, if it is one of its refusals.
    pub(crate) fn said(self, stderr: &str) -> Option<Said> {
        match self {
            Kind::Container => pct::said(stderr),
            Kind::Vm => qm::said(stderr),
        }
    }

    pub(crate) fn status(self, vmid: u32) -> String {
        match self {
            Kind::Container => pct::status(vmid),
            Kind::Vm => qm::status(vmid),
        }
    }

    pub(crate) fn config(self, vmid: u32) -> String {
        match self {
            Kind::Container => pct::config(vmid),
            Kind::Vm => qm::config(vmid),
        }
    }

    pub(crate) fn start(self, vmid: u32) -> String {
        match self {
            Kind::Container => pct::start(vmid),
            Kind::Vm => qm::start(vmid),
        }
    }

    pub(crate) fn stop(self, vmid: u32) -> String {
        match self {
            Kind::Container => pct::stop(vmid),
            Kind::Vm => qm::stop(vmid),
        }
    }

    pub(crate) fn shutdown(self, vmid: u32, timeout_secs: u64) -> String {
        match self {
            Kind::Container => pct::shutdown(vmid, timeout_secs),
            Kind::Vm => qm::shutdown(vmid, timeout_secs),
        }
    }

    pub(crate) fn reboot(self, vmid: u32, timeout_secs: u64) -> String {
        match self {
            Kind::Container => pct::reboot(vmid, timeout_secs),
            Kind::Vm => qm::reboot(vmid, timeout_secs),
        }
    }

    /// Where the node says why a start failed.
    pub(crate) fn debug_hint(self, vmid: u32) -> String {
        match self {
            Kind::Container => format!("`pct start {vmid} --debug` on the host shows why"),
            Kind::Vm => format!(
                "the task log on the host shows why (`pvenode task list --vmid {vmid}`, then `pvenode task log <UPID>`)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_of_each_kind() {
        assert_eq!(Kind::Container.status(210), "pct status 210");
        assert_eq!(Kind::Vm.status(220), "qm status 220");
        assert_eq!(Kind::Vm.shutdown(220, 60), "qm shutdown 220 --timeout 60");
        assert_eq!(Kind::Vm.reboot(220, 60), "qm reboot 220 --timeout 60");
        assert_eq!(
            Kind::Container.reboot(210, 60),
            "pct reboot 210 --timeout 60"
        );
        assert_eq!(Kind::Vm.config(220), "qm config 220 --current 1");
        assert_eq!((Kind::Vm.noun(), Kind::Vm.key()), ("VM", "vm"));
        assert_eq!(
            Kind::Vm.said("VM 220 already running\n"),
            Some(Said::AlreadyRunning)
        );
    }
}
