//! The QEMU VM as a [`crate::guest::Guest`]: its `qm` lines (with the pure builders of
//! `crate::proxmox::qm`), its address (static from the config, else the guest agent's
//! interface with net0's MAC), its volumes and snapshots, its destroy (with the cloud-init
//! snippets and the known_hosts line pxdeploy wrote for it), and the SSH session inside it
//! that every "inside" command runs on (`link.rs`). The lifecycle it shares with a
//! container (state, start, stop, reboot, refusals) is `container.rs` with [`Kind::Vm`].

use std::time::Duration;

use crate::error::{Error, Result};
use crate::guest::kind::Kind;
use crate::proxmox::pct::{self, snapshot as snap, Said};
use crate::proxmox::{self, qm};
use crate::remote::host::Host;
use crate::remote::quote::join;
use crate::remote::{ExitStatus, Output as RemoteOutput};

/// How a VM is reached and what pxdeploy keeps for it on the node, from `[vm]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Access<'h> {
    /// `[vm] user`: the account cloud-init made, with sudo.
    pub user: &'h str,
    /// The static address (`ip = "10.0.0.5/24"`, without the prefix); `None`: DHCP, ask
    /// the guest agent.
    pub address: Option<std::net::Ipv4Addr>,
    /// `[vm] snippets_storage`: where the cloud-init snippet files are.
    pub snippets: &'h str,
}

/// A QEMU VM on a node.
#[derive(Clone, Copy)]
pub(crate) struct Vm<'h> {
    pub(crate) host: &'h Host,
    pub(crate) vmid: u32,
    pub(crate) access: Access<'h>,
}

/// Bound of an agent call (`qm guest cmd`: 5 s on the node's side).
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

impl<'h> Vm<'h> {
    pub(crate) fn new(host: &'h Host, vmid: u32, access: Access<'h>) -> Self {
        Vm { host, vmid, access }
    }

    /// The `qm` line of a lifecycle operation.
    pub(crate) fn line(&self, op: crate::guest::Op<'_>) -> String {
        use crate::guest::Op;
        let vmid = self.vmid;
        match op {
            Op::Snapshot(name) => qm::snapshot(vmid, name),
            Op::DeleteSnapshot(name) => qm::delete_snapshot(vmid, name),
            Op::Rollback(name) => qm::rollback(vmid, name),
            Op::Restore { volid, storage } => qm::restore(vmid, volid, storage),
            Op::Destroy => qm::destroy(vmid),
            Op::Start => qm::start(vmid),
            Op::Config => qm::config(vmid),
            Op::Set { key, value } => qm::set(vmid, key, value),
            // On the VM's own session (a login shell as root).
            Op::Enter => "sudo -n -i".to_string(),
            Op::List => qm::list(),
            Op::Address => qm::guest_cmd(vmid, "network-get-interfaces"),
        }
    }

    /// `qm config`, parsed (the same `key: value` lines as `pct config`).
    pub(crate) fn config(&self) -> Result<pct::PctConfig> {
        Ok(pct::parse_config(&self.config_text()?))
    }

    fn config_text(&self) -> Result<String> {
        Ok(self.host.probe_ok(&qm::config(self.vmid))?.stdout_str())
    }

    /// The disks of `qm config` (`scsi0`, `efidisk0`, …; not the CD-ROMs: the cloud-init
    /// drive is rebuilt at every start) and their volume ids.
    pub(crate) fn volumes(&self) -> Result<Vec<(String, String)>> {
        Ok(disks(&self.config_text()?))
    }

    /// `qm listsnapshot`, parsed.
    pub(crate) fn snapshots(&self) -> Result<Vec<snap::Snapshot>> {
        Ok(snap::parse_list(
            &self
                .host
                .probe_ok(&qm::list_snapshots(self.vmid))?
                .stdout_str(),
        ))
    }

    /// The VM's IPv4 address: the static one of the config, else the guest agent's
    /// interface whose MAC is net0's. `None`: the agent does not answer or has none yet.
    pub(crate) fn address(&self) -> Result<Option<String>> {
        if let Some(a) = self.access.address {
            return Ok(Some(a.to_string()));
        }
        let net0 = qm::config::parse_config(&self.config_text()?).net0();
        let mac = net0.as_ref().and_then(|n| n.mac().map(str::to_string));
        let mac = self.require_mac(mac, &qm::config(self.vmid))?;
        let command = qm::guest_cmd(self.vmid, "network-get-interfaces");
        let out = self.host.probe_quiet(&command, AGENT_TIMEOUT)?;
        agent_address(&command, out, &mac)
    }

    /// [`Vm::address`] from what [`super::link::ask`] found (no further node call).
    pub(crate) fn address_in(&self, facts: &qm::open::Facts) -> Result<Option<String>> {
        if let Some(a) = self.access.address {
            return Ok(Some(a.to_string()));
        }
        let mac = self.require_mac(facts.mac(), &qm::open::config_file(self.vmid))?;
        let command = qm::guest_cmd(self.vmid, "network-get-interfaces");
        let Some((code, answer)) = &facts.agent else {
            return Err(Error::unexpected(format!(
                "`{command}` was not asked with `qm status`"
            )));
        };
        let out = RemoteOutput {
            stdout: answer.clone().into_bytes(),
            stderr: facts.stderr.clone().into_bytes(),
            status: ExitStatus {
                code: *code,
                signal: None,
            },
        };
        agent_address(&command, out, &mac)
    }

    /// net0's MAC, or the error that the VM has no `net0`.
    fn require_mac(&self, mac: Option<String>, source: &str) -> Result<String> {
        mac.ok_or_else(|| {
            Error::remote(format!("VM {} has no `net0`", self.vmid))
                .cause(format!("`{source}` shows no MAC address on net0"))
        })
    }

    /// `qm destroy --purge --destroy-unreferenced-disks`, then its cloud-init snippets on
    /// the node and its line in known_hosts; a VM that is already gone is fine. Whether
    /// the task removed the VM's HA resource.
    pub(crate) fn destroy(&self, timeout: Duration) -> Result<bool> {
        let (host, vmid) = (self.host, self.vmid);
        // Asked first: the alias names the node the VM was on.
        let node = super::link::node_name(host)?;
        let command = qm::destroy(vmid);
        let out = host.change(&command, timeout)?;
        let ok = out.status.success() || qm::said(&out.stderr_str()) == Some(Said::Missing);
        if !ok {
            return Err(crate::guest::container::refused(
                Kind::Vm,
                host,
                vmid,
                &command,
                out,
            ));
        }
        host.change_ok(&remove_snippets(self.access.snippets, vmid), AGENT_TIMEOUT)?;
        if !host.dry_run() {
            if let Some(target) = host.target() {
                super::link::forget_host_key(target, vmid, &node)?;
                super::remembered::forget(target, vmid);
            }
        }
        Ok(proxmox::purge::ha_removed(&out.stdout_str(), vmid))
    }
}

/// The address of the interface with MAC `mac` in the agent's answer (`command`'s output);
/// `None` when the agent does not answer (yet) or that interface has no IPv4 address.
fn agent_address(command: &str, out: RemoteOutput, mac: &str) -> Result<Option<String>> {
    if !out.status.success() {
        if qm::agent::not_answering(&out.stderr_str()) {
            return Ok(None);
        }
        return Err(crate::guest::container::failed(command, out));
    }
    Ok(qm::agent::address_of(&out.stdout_str(), mac))
}

/// The snippet files pxdeploy writes for VM `vmid` (contract: `pxdeploy-<vmid>-user.yaml`
/// and `pxdeploy-<vmid>-meta.yaml`).
pub(crate) fn snippet_names(vmid: u32) -> [String; 2] {
    [
        format!("pxdeploy-{vmid}-user.yaml"),
        format!("pxdeploy-{vmid}-meta.yaml"),
    ]
}

/// The node's command that removes the VM's snippet files (wherever `pvesm path` puts
/// them; one already gone is fine).
pub(crate) fn remove_snippets(storage: &str, vmid: u32) -> String {
    let volids: Vec<String> = snippet_names(vmid)
        .iter()
        .map(|f| format!("{storage}:snippets/{f}"))
        .collect();
    let script = "for v in \"$@\"; do p=$(pvesm path \"$v\") && rm -f -- \"$p\" || exit 1; done";
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend(volids.iter().map(String::as_str));
    join(&argv)
}

/// The disks of a `qm config` text: `(key, volid)` of every `scsiN`/`virtioN`/`sataN`/
/// `ideN`/`efidiskN`/`tpmstateN` that is not a CD-ROM.
pub(crate) fn disks(config: &str) -> Vec<(String, String)> {
    const BUSES: &[&str] = &["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"];
    config
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            let key = key.trim();
            let bus = key.trim_end_matches(|c: char| c.is_ascii_digit());
            if bus == key || !BUSES.contains(&bus) {
                return None;
            }
            let value = value.trim();
            if value.split(',').any(|p| p == "media=cdrom") || value.starts_with("none") {
                return None;
            }
            let volid = value.split(',').next()?.to_string();
            Some((key.to_string(), volid))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_without_cdroms() {
        let cfg = "boot: order=scsi0\nide2: local-lvm:vm-220-cloudinit,media=cdrom,size=4M\nscsi0: local-lvm:vm-220-disk-0,size=32G\nscsihw: virtio-scsi-single\nefidisk0: local-lvm:vm-220-disk-1,size=4M\nserial0: socket\n\n[pxdeploy_1]\nscsi0: local-lvm:vm-220-disk-0,size=8G\n";
        assert_eq!(
            disks(cfg),
            vec![
                ("scsi0".to_string(), "local-lvm:vm-220-disk-0".to_string()),
                (
                    "efidisk0".to_string(),
                    "local-lvm:vm-220-disk-1".to_string()
                ),
            ]
        );
    }

    #[test]
    fn snippets_removed_by_volume_id() {
        assert_eq!(
            remove_snippets("local", 220),
            "sh -c 'for v in \"$@\"; do p=$(pvesm path \"$v\") && rm -f -- \"$p\" || exit 1; done' sh local:snippets/pxdeploy-220-user.yaml local:snippets/pxdeploy-220-meta.yaml"
        );
    }
}
