//! Pure builders of the `qm` command lines (and the `pvesh` download of a VM image) and
//! parsers of their output, for the QEMU VM guest. Facts: reference
//! `proxmox-vm-and-monitoring.md` §1–§3.

pub(crate) mod config;
pub(crate) mod create;
pub(crate) mod download;
