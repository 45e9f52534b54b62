//! The defaults of the keys `[container]` and `[vm]` share (docs/configuration.md): one
//! place, so that a container and a VM written with the same keys get the same guest.
//! `disk_gb` is not here: a VM's boot disk holds a whole OS (32 GB), a container's rootfs
//! less (16 GB).

pub(super) fn default_storage() -> String {
    "local-lvm".into()
}

pub(super) fn default_memory_mb() -> u32 {
    4096
}

pub(super) fn default_cores() -> u32 {
    2
}

pub(super) fn default_bridge() -> String {
    "vmbr0".into()
}

pub(super) fn default_ip() -> String {
    "dhcp".into()
}

pub(super) fn default_true() -> bool {
    true
}
