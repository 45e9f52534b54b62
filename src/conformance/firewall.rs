//! `/etc/pve/firewall/<vmid>.fw` as Proxmox's own writer (the API, the GUI) lays it out, and
//! the datacenter switch in `cluster.fw`.

use super::Real;
use crate::firewall;

/// `save_vmfw_conf`: `[OPTIONS]` keys in Perl hash order (`foreach my $opt (keys
/// %$options)`), rules with ` -source` before ` -p`, `-log` only when set. The same rules
/// as pxdeploy's `allow = ["tcp/80", "tcp/22 from 192.168.1.0/24"]`.
pub(super) const VM_FW: Real = Real::new(
    "[OPTIONS]\n\npolicy_in: DROP\nenable: 1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22\n\n",
    "pve-firewall src/PVE/Firewall.pm:3744",
);
/// No rules: no `[RULES]` section at all (`if ($rules && scalar(@$rules))`).
pub(super) const VM_FW_NO_RULES: Real = Real::new(
    "[OPTIONS]\n\npolicy_in: ACCEPT\nenable: 0\n\n",
    "pve-firewall src/PVE/Firewall.pm:3825",
);
/// `cluster.fw` with the datacenter firewall on.
pub(super) const CLUSTER_FW: Real = Real::new(
    "[OPTIONS]\n\nenable: 1\npolicy_in: ACCEPT\n\n[RULES]\n\nIN SSH(ACCEPT) -i vmbr0\n\n",
    "pve-firewall src/PVE/Firewall.pm:3260",
);

pub(super) const ALL: &[Real] = &[VM_FW, VM_FW_NO_RULES, CLUSTER_FW];

/// pxdeploy's file for the same settings, as `config::Firewall::file` writes it.
const OURS: &str = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80 -log nolog\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22 -log nolog\n\n";

#[test]
fn the_real_writers_layout_is_no_drift() {
    assert!(firewall::drift(VM_FW.text, OURS).is_empty());
    assert!(firewall::drift(
        VM_FW_NO_RULES.text,
        "[OPTIONS]\n\nenable: 0\npolicy_in: ACCEPT\n\n[RULES]\n\n\n"
    )
    .is_empty());
    assert_eq!(
        firewall::drift(&VM_FW.text.replace("DROP", "ACCEPT"), OURS),
        ["-policy_in: ACCEPT", "+policy_in: DROP"]
    );
}

#[test]
fn the_datacenter_switch_is_read() {
    assert!(firewall::datacenter_enabled(CLUSTER_FW.text));
    assert!(!firewall::datacenter_enabled(
        &CLUSTER_FW.text.replace("enable: 1", "enable: 0")
    ));
}
