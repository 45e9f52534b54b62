//! `qm` (and `qmrestore`): the builders of a QEMU VM's lifecycle lines (`lifecycle.rs`),
//! the reader of `qm`'s refusals (`refusal.rs`) and of the guest agent's JSON answers
//! (`agent.rs`: `qm guest exec`, `network-get-interfaces`). Re-exported here, so callers
//! name them `qm::X`.

pub(crate) mod agent;
mod lifecycle;
mod refusal;

pub(crate) use self::lifecycle::*;
pub(crate) use self::refusal::said;
