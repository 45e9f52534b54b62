//! `pveam update|available|list`: pxdeploy finds and downloads the template with these.

use super::{sim_says, Real};
use crate::proxmox::pveam;

pub(super) const UPDATE_OK: Real =
    Real::new("update successful\n", "pve-manager PVE/CLI/pveam.pm:44")
        .sim("pveam.py", "out(\"update successful\")");
/// On stderr, and `pveam update` still exits 0.
pub(super) const UPDATE_FAILED: Real = Real::new(
    "update failed - see /var/log/pveam.log for details\n",
    "pve-manager PVE/CLI/pveam.pm:46",
)
.sim(
    "pveam.py",
    "err(\"update failed - see /var/log/pveam.log for details\")",
);
/// `sprintf("%-15s %-60s %s\n", $section, $template, $arch)`
pub(super) const AVAILABLE: Real = Real::new(
    "system          debian-12-standard_12.12-1_amd64.tar.zst                     amd64\nsystem          debian-12-standard_12.7-1_amd64.tar.zst                      amd64\n",
    "pve-manager PVE/CLI/pveam.pm:82",
)
.sim("pveam.py", "out(\"%-15s %-60s %s\" % (s, tpl, arch))");
/// `printf "%-60s %-6s\n", qw(NAME SIZE)`, then `"%-60s %-4.2fMB\n"`.
pub(super) const LIST: Real = Real::new(
    "NAME                                                         SIZE  \nlocal:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst         120.29MB\n",
    "pve-manager PVE/CLI/pveam.pm:201",
)
.sim("pveam.py", "out(\"%-60s %-6s\" % (\"NAME\", \"SIZE\"))");

pub(super) const ALL: &[Real] = &[UPDATE_OK, UPDATE_FAILED, AVAILABLE, LIST];

#[test]
fn update_available_and_list_are_read() {
    assert!(pveam::update_succeeded(UPDATE_OK.text, ""));
    assert!(!pveam::update_succeeded("", UPDATE_FAILED.text));
    let available = pveam::parse_available(AVAILABLE.text);
    assert_eq!(available.len(), 2);
    assert_eq!(available[0].section, "system");
    assert_eq!(
        available[0].template,
        "debian-12-standard_12.12-1_amd64.tar.zst"
    );
    assert_eq!(available[0].arch.as_deref(), Some("amd64"));
    assert_eq!(
        pveam::newest_match(
            "debian-12-standard",
            available.iter().map(|a| a.template.as_str())
        ),
        Some("debian-12-standard_12.12-1_amd64.tar.zst")
    );
    assert_eq!(
        pveam::parse_list(LIST.text),
        ["local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"]
    );
    for real in ALL {
        sim_says(real);
    }
}
