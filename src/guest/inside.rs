//! The guest's inside, without the transport: the node's command line that runs an argv
//! (or a shell script) in the guest. Pure (no `Host`), so the line builders of the release
//! store, compose and health take it, and their unit tests pin the lines it makes. It sits
//! one layer below the rest of `guest` (with the builders), above only `proxmox`.

use crate::proxmox::pct;

/// Where a command runs inside the guest; [`crate::compose::Project`] carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inside {
    /// The LXC container `vmid`: `pct exec <vmid> -- <argv…>`.
    Container(u32),
}

impl Inside {
    /// The guest's id on the node (the vmid).
    pub fn id(self) -> u32 {
        match self {
            Inside::Container(vmid) => vmid,
        }
    }

    /// The node's command line that runs `argv` verbatim in the guest.
    pub fn exec<S: AsRef<str>>(self, argv: &[S]) -> String {
        match self {
            Inside::Container(vmid) => pct::exec(vmid, argv),
        }
    }

    /// The node's command line that runs the shell `script` in the guest.
    pub fn exec_sh(self, script: &str) -> String {
        match self {
            Inside::Container(vmid) => pct::exec_sh(vmid, script),
        }
    }
}
