//! `qm` (and `qmrestore`, and the `pvesh` download of a VM image): the builders of a QEMU
//! VM's lifecycle lines (`lifecycle.rs`), of `qm create` and the disk resize (`create.rs`),
//! of the image download (`download.rs`); the readers of `qm config` and its drift from
//! `[vm]` (`config.rs`), of `qm`'s refusals (`refusal.rs`) and of the guest agent's JSON
//! answers (`agent.rs`: `qm guest exec`, `network-get-interfaces`), and the one node call that
//! opening a VM's session makes (`open.rs`). Facts: reference
//! `proxmox-vm-and-monitoring.md` §1–§4. The lifecycle builders and the refusal reader are
//! re-exported here, so callers name them `qm::X`.

pub(crate) mod agent;
pub(crate) mod config;
pub(crate) mod create;
pub(crate) mod download;
mod lifecycle;
pub(crate) mod open;
mod refusal;

pub(crate) use self::lifecycle::*;
pub(crate) use self::refusal::said;
