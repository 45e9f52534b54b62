//! The guest's inside, without the transport: the command line that runs an argv (or a
//! shell script) in the guest. Pure (no `Host`), so the line builders of the release
//! store, compose and health take it, and their unit tests pin the lines it makes. It sits
//! one layer below the rest of `guest` (with the builders), above only `proxmox`.
//!
//! Where the line runs is the guest's business ([`super::Guest::inside_host`]): a
//! container's line runs on the node (`pct exec`), a VM's on the SSH session inside it.

use crate::proxmox::pct;
use crate::remote::quote::join;

/// Where a command runs inside the guest; [`crate::compose::Project`] carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inside {
    /// The LXC container `vmid`: `pct exec <vmid> -- <argv…>` on the node.
    Container(u32),
    /// The VM `vmid`: `sudo -n -- <argv…>` on the VM's own SSH session (root, like
    /// `pct exec`; `-n`: never a password prompt).
    Vm(u32),
}

impl Inside {
    /// The guest's id on the node (the vmid).
    pub fn id(self) -> u32 {
        match self {
            Inside::Container(vmid) | Inside::Vm(vmid) => vmid,
        }
    }

    /// "container" or "VM", for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Inside::Container(_) => "container",
            Inside::Vm(_) => "VM",
        }
    }

    /// `container 210` / `VM 220`, for messages.
    pub fn named(self) -> String {
        format!("{} {}", self.noun(), self.id())
    }

    /// How a person runs `argv` in the guest, for hints: on the node with `pct exec` for a
    /// container; with `sudo` inside a VM (`pxdeploy shell` opens a shell there).
    pub fn by_hand<S: AsRef<str>>(self, argv: &[S]) -> String {
        match self {
            Inside::Container(vmid) => format!("`{}` on the host", pct::exec(vmid, argv)),
            Inside::Vm(vmid) => format!(
                "`sudo {}` in VM {vmid} (`pxdeploy shell` opens a shell there)",
                join(argv)
            ),
        }
    }

    /// The command line that runs `argv` verbatim in the guest.
    pub fn exec<S: AsRef<str>>(self, argv: &[S]) -> String {
        match self {
            Inside::Container(vmid) => pct::exec(vmid, argv),
            Inside::Vm(_) => format!("sudo -n -- {}", join(argv)),
        }
    }

    /// The command line that runs the shell `script` in the guest.
    pub fn exec_sh(self, script: &str) -> String {
        match self {
            Inside::Container(vmid) => pct::exec_sh(vmid, script),
            Inside::Vm(_) => self.exec(&["sh", "-c", script]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_person_runs_by_hand_in_each_kind() {
        let argv = ["docker", "rm", "-f", "my db"];
        assert_eq!(
            Inside::Container(210).by_hand(&argv),
            "`pct exec 210 -- docker rm -f 'my db'` on the host"
        );
        assert_eq!(
            Inside::Vm(220).by_hand(&argv),
            "`sudo docker rm -f 'my db'` in VM 220 (`pxdeploy shell` opens a shell there)"
        );
    }

    #[test]
    fn lines_of_both_kinds() {
        let argv = ["docker", "compose", "-p", "my app", "ps"];
        assert_eq!(
            Inside::Container(210).exec(&argv),
            "pct exec 210 -- docker compose -p 'my app' ps"
        );
        assert_eq!(
            Inside::Vm(220).exec(&argv),
            "sudo -n -- docker compose -p 'my app' ps"
        );
        assert_eq!(
            Inside::Vm(220).exec_sh("echo it's"),
            "sudo -n -- sh -c 'echo it'\\''s'"
        );
        assert_eq!(
            Inside::Container(210).exec_sh("echo it's"),
            pct::exec_sh(210, "echo it's")
        );
        assert_eq!(Inside::Vm(220).named(), "VM 220");
        assert_eq!(Inside::Container(210).named(), "container 210");
    }

    /// The VM's login shell, then `sh -c`: the script's argument arrives verbatim.
    #[test]
    fn vm_line_survives_two_shells() {
        let hostile = "it's \"q\" $(touch /tmp/pxdeploy-vm-pwned); `id` \n x";
        let line = Inside::Vm(220).exec_sh(&join(&["printf", "%s", hostile]));
        let after_sudo = line.strip_prefix("sudo -n -- ").unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(after_sudo)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), hostile);
        assert!(!std::path::Path::new("/tmp/pxdeploy-vm-pwned").exists());
    }
}
