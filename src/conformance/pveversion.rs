//! `pveversion` and `pveversion -v`: is it Proxmox VE, which release, which lxc-pve.

use super::{sim_says, Real};
use crate::proxmox::node;

/// `print "$ver (running kernel: $kver)\n"`
pub(super) const PLAIN: Real = Real::new(
    "pve-manager/9.2.11/14a22df35955d97d (running kernel: 6.14.11-4-pve)\n",
    "pve-manager bin/pveversion:64",
)
.sim(
    "pvesh.py",
    "out(f\"pve-manager/{v}/{rid} (running kernel: {kern})\")",
);
/// `print "$pkg: $version\n"` per package (the first two with their running versions).
pub(super) const VERBOSE: Real = Real::new(
    "proxmox-ve: 9.2.0 (running kernel: 6.14.11-4-pve)\npve-manager: 9.2.11 (running version: 9.2.11/14a22df35955d97d)\nlxc-pve: 6.0.5-3\nlxcfs: 6.0.4-pve1\n",
    "pve-manager bin/pveversion:36",
)
.sim(
    "pvesh.py",
    "out(f\"lxc-pve: {knob('lxc_pve_version', None, LXC_PVE)}\")",
);

pub(super) const ALL: &[Real] = &[PLAIN, VERBOSE];

#[test]
fn the_release_and_lxc_pve_are_read() {
    assert_eq!(
        node::parse_pveversion(PLAIN.text).as_deref(),
        Some("9.2.11")
    );
    assert_eq!(
        crate::breakage::node_package(VERBOSE.text, "lxc-pve"),
        Some("6.0.5-3")
    );
    for real in ALL {
        sim_says(real);
    }
}
