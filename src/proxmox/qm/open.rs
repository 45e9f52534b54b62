//! What opening the SSH session inside a VM asks the node, in one node call
//! (`src/scripts/vm-open.sh`): `qm status`, the node's `hostname` (the VM's known_hosts
//! alias names it), and for a DHCP address net0's MAC and the guest agent's
//! `network-get-interfaces` (the agent asked while `qm status` runs). Before, five calls in
//! sequence (reference `proxmox-vm-and-monitoring.md` §3, §4.3, §5.2). net0 is read from
//! the VM's config file, not with `qm config --current 1` (one Perl start fewer on a real
//! node): the file's first section is what applies now, pending values and snapshots are
//! sections of their own (qemu-server's `parse_vm_config`: `[PENDING]`, `[special:…]`,
//! `[<snapshot>]`), and `/etc/pve/qemu-server` is pmxcfs' link to this node's VMs, where
//! `qm status` has just found it. The line builder and its pure reader.

use crate::proxmox::pct::{self, CtState};
use crate::remote::quote::join;

const SCRIPT: &str = crate::scripts::script!("vm-open.sh");

/// The VM's config file on the node it runs on.
pub(crate) fn config_file(vmid: u32) -> String {
    format!("/etc/pve/qemu-server/{vmid}.conf")
}

/// The node's line that asks what opening VM `vmid`'s session needs; `agent`: also net0
/// and the agent's interfaces (no static address).
pub(crate) fn line(vmid: u32, agent: bool) -> String {
    join(&[
        "sh",
        "-c",
        SCRIPT,
        "sh",
        &vmid.to_string(),
        if agent { "agent" } else { "" },
        &config_file(vmid),
    ])
}

/// Which node command of the script failed (its exit code and stderr are the script's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failed {
    /// `qm status <vmid>`.
    Status,
    /// Reading the VM's config file ([`config_file`]).
    Config,
}

/// What the script printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The command that failed, if one did.
    pub failed: Option<Failed>,
    /// `qm status`'s line (`status: running`), as printed.
    pub status: Option<String>,
    /// The node's name (`hostname`), when the VM runs.
    pub node: Option<String>,
    /// The `net0:` line's value, when the agent was asked.
    pub net0: Option<String>,
    /// The agent's exit code and stdout, when it was asked.
    pub agent: Option<(i32, String)>,
    /// The script's stderr (after a good `qm status` and config read: the agent's).
    pub stderr: String,
}

impl Facts {
    /// The VM's state as `qm status` said it; `None`: no state it knows.
    pub(crate) fn state(&self) -> Option<CtState> {
        pct::parse_status(self.status.as_deref()?)
    }

    /// net0's MAC (`virtio=BC:24:11:…`).
    pub(crate) fn mac(&self) -> Option<String> {
        let config = super::config::parse_config(&format!("net0: {}", self.net0.as_deref()?));
        config.net0()?.mac().map(str::to_string)
    }
}

/// Reads the script's stdout (everything after `agent: <code>` is the agent's answer) and
/// keeps its stderr.
pub(crate) fn parse(stdout: &str, stderr: &str) -> Facts {
    let mut facts = Facts {
        stderr: stderr.to_string(),
        ..Facts::default()
    };
    let mut rest = stdout;
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = after;
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "status" => facts.status = Some(line.trim().to_string()),
            "node" => facts.node = Some(value.to_string()),
            "net0" => facts.net0 = Some(value.to_string()),
            "failed" => {
                facts.failed = match value {
                    "status" => Some(Failed::Status),
                    _ => Some(Failed::Config),
                }
            }
            "agent" => {
                let code = value.parse().unwrap_or(-1);
                facts.agent = Some((code, rest.trim_end_matches('\n').to_string()));
                break;
            }
            _ => {}
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent's answer as `qm guest cmd` prints it (pretty JSON, sorted keys).
    const INTERFACES: &str = r#"[
   {
      "hardware-address" : "00:00:00:00:00:00",
      "ip-addresses" : [
         {
            "ip-address" : "127.0.0.1",
            "ip-address-type" : "ipv4",
            "prefix" : 8
         }
      ],
      "name" : "lo"
   },
   {
      "hardware-address" : "bc:24:11:5e:7a:01",
      "ip-addresses" : [
         {
            "ip-address" : "10.0.0.5",
            "ip-address-type" : "ipv4",
            "prefix" : 24
         }
      ],
      "name" : "eth0"
   }
]"#;

    #[test]
    fn a_running_vm_with_its_agent() {
        let out = format!(
            "status: running\nnode: pve1\nnet0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0,firewall=1\nagent: 0\n{INTERFACES}\n"
        );
        let facts = parse(&out, "");
        assert_eq!(facts.failed, None);
        assert_eq!(facts.state(), Some(CtState::Running));
        assert_eq!(facts.node.as_deref(), Some("pve1"));
        assert_eq!(facts.mac().as_deref(), Some("BC:24:11:5E:7A:01"));
        let (code, answer) = facts.agent.clone().unwrap();
        assert_eq!(code, 0);
        assert_eq!(answer, INTERFACES);
        let mac = facts.mac().unwrap();
        assert_eq!(
            super::super::agent::address_of(&answer, &mac).as_deref(),
            Some("10.0.0.5")
        );
    }

    #[test]
    fn stopped_static_not_answering_and_failed() {
        let stopped = parse("status: stopped\n", "");
        assert_eq!(stopped.state(), Some(CtState::Stopped));
        assert_eq!((stopped.node, stopped.agent), (None, None));
        let paused = parse("status: paused\n", "");
        assert!(paused.status.is_some() && paused.state().is_none());
        // A static address: no config, no agent.
        let fixed = parse("status: running\nnode: pve\n", "");
        assert_eq!(fixed.node.as_deref(), Some("pve"));
        assert_eq!((fixed.net0, fixed.agent), (None, None));
        // The agent not started yet: its exit code, nothing on stdout.
        let early = parse("status: running\nnode: pve\nnet0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0\nagent: 255\n\n", "");
        assert_eq!(early.agent, Some((255, String::new())));
        // A VM without net0: no MAC.
        let bare = parse("status: running\nnode: pve\nagent: 0\n[]\n", "");
        assert_eq!(bare.mac(), None);
        assert_eq!(parse("failed: status\n", "").failed, Some(Failed::Status));
        let config = parse("status: running\nnode: pve\nfailed: config\n", "");
        assert_eq!(config.failed, Some(Failed::Config));
    }

    /// The agent's answer comes from inside the VM (its interfaces' names are the guest's):
    /// it is printed last, and nothing in it is read as the node's name, net0 or a failure.
    #[test]
    fn the_guests_answer_cannot_pose_as_the_nodes_lines() {
        let out = "status: running\nnode: pve\nnet0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0\nagent: 0\n[{\"name\":\"x\nnode: evil\nnet0: virtio=00:00:00:00:00:66\nfailed: status\nagent: 1\"}]\n";
        let facts = parse(out, "");
        assert_eq!(facts.node.as_deref(), Some("pve"));
        assert_eq!(facts.mac().as_deref(), Some("BC:24:11:5E:7A:01"));
        assert_eq!(facts.failed, None);
        let (code, answer) = facts.agent.unwrap();
        assert_eq!(code, 0);
        assert!(answer.starts_with("[{\"name\":\"x\nnode: evil"), "{answer}");
    }

    /// The script itself, with `qm` and `hostname` as small fakes on PATH: it prints what
    /// [`parse`] reads, keeps `qm status`'s stderr and exit code, and never lets a value
    /// reach its text.
    #[test]
    fn the_script_against_fake_commands() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path();
        // Every call of a missing VM says so on stderr (only `qm status`'s may show).
        let qm = "#!/bin/sh\ncase \"$*\" in\n\
             'status 220'|'status 223') echo 'status: running' ;;\n\
             'status 221') echo 'status: stopped' ;;\n\
             'guest cmd 220 network-get-interfaces') echo '[]'; echo 'warning' >&2 ;;\n\
             'guest cmd 221 network-get-interfaces') echo 'VM 221 is not running' >&2; exit 255 ;;\n\
             *) echo \"Configuration file 'nodes/pve/qemu-server/$2.conf' does not exist\" >&2; exit 2 ;;\n\
             esac\n";
        for (name, text) in [("qm", qm), ("hostname", "#!/bin/sh\necho pve\n")] {
            let p = bin.join(name);
            std::fs::write(&p, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // The config file as pmxcfs shows it: the current values, then a pending change
        // and a snapshot (their net0 is not the one that applies); 223 has none.
        std::fs::write(
            bin.join("220.conf"),
            "# a description\nboot: order=scsi0\nnet0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0\nname: x\n\n[PENDING]\nnet0: virtio=00:00:00:00:00:02,bridge=vmbr1\n\n[snap]\nnet0: virtio=00:00:00:00:00:01\n",
        )
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let run = |vmid: &str, agent: &str| {
            let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
            let out = std::process::Command::new("sh")
                .args(["-c", SCRIPT, "sh", vmid, agent])
                .arg(bin.join(format!("{vmid}.conf")))
                .env("PATH", path)
                .env("TMPDIR", tmp.path())
                .output()
                .unwrap();
            // Its folder of answers is gone.
            assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
            out
        };
        let out = run("220", "agent");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "status: running\nnode: pve\nnet0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0\nagent: 0\n[]\n"
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "warning\n");
        let out = run("220", "");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "status: running\nnode: pve\n"
        );
        let out = run("221", "agent");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "status: stopped\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
        let out = run("223", "agent");
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "status: running\nnode: pve\nfailed: config\n"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("223.conf"),
            "{out:?}"
        );
        let out = run("222", "agent");
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "failed: status\n");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "Configuration file 'nodes/pve/qemu-server/222.conf' does not exist\n"
        );
    }

    #[test]
    fn the_line_passes_the_vmid_as_a_parameter() {
        let l = line(220, true);
        assert!(l.starts_with("sh -c '"), "{l}");
        assert!(
            l.ends_with("' sh 220 agent /etc/pve/qemu-server/220.conf"),
            "{l}"
        );
        assert!(line(220, false).ends_with("' sh 220 '' /etc/pve/qemu-server/220.conf"));
    }
}
