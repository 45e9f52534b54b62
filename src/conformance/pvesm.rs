//! `pvesm status` and `pvesm list`: storage checks and the container's backups.

use super::{sim_says, Real};
use crate::proxmox::pvesm;

/// `"%-${maxlen}s %10s %10s %15s %15s %15s %8s\n"` with `Total (KiB)`…, rows with `%15d`
/// and `% 7.2f%%` (a disabled storage: `N/A` with `% 8s`).
pub(super) const STATUS: Real = Real::new(
    "Name             Type     Status     Total (KiB)      Used (KiB) Available (KiB)        %\nlocal             dir     active        98497780        12345678        81085752   12.53%\nlocal-lvm     lvmthin     active       832888832        44089934       788798898    5.29%\nold               nfs   disabled               0               0               0      N/A\n",
    "pve-storage src/PVE/CLI/pvesm.pm:251",
)
.sim(
    "pvesm.py",
    "(\"Name\", \"Type\", \"Status\", \"Total (KiB)\", \"Used (KiB)\", \"Available (KiB)\", \"%\")",
);
/// `"%-${maxlenname}s %-7s %-9s %${sizemaxdigits}s"` + ` %s\n` (header) / ` %d\n` (VMID).
pub(super) const LIST: Real = Real::new(
    "Volid                                                   Format  Type          Size VMID\nlocal:backup/vzdump-lxc-210-2026_11_29-19_15_01.tar.zst tar.zst backup    52428800 210\n",
    "pve-storage src/PVE/CLI/pvesm.pm:218",
)
.sim(
    "pvesm.py",
    "(\"Volid\", \"Format\", \"Type\", \"Size\", \"VMID\")",
);

pub(super) const ALL: &[Real] = &[STATUS, LIST];

#[test]
fn status_and_list_are_read() {
    let s = pvesm::parse_status(STATUS.text);
    assert_eq!(
        s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["local", "local-lvm", "old"],
        "the header is not a storage"
    );
    assert_eq!(s[1].kind, "lvmthin");
    assert_eq!(s[1].status, "active");
    assert_eq!(s[1].available_kib, Some(788798898));
    assert_eq!(s[2].status, "disabled");
    let b = pvesm::parse_list(LIST.text);
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].volid,
        "local:backup/vzdump-lxc-210-2026_11_29-19_15_01.tar.zst"
    );
    assert_eq!(b[0].format, "tar.zst");
    assert_eq!(b[0].size, 52428800);
    assert_eq!(b[0].vmid, Some(210));
    for real in ALL {
        sim_says(real);
    }
}
