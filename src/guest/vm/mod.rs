//! The QEMU VM as a guest: the VM and its `qm` calls (`machine.rs`), the SSH session
//! inside it (`link.rs`).

pub(crate) mod boot;
pub(crate) mod link;
mod machine;

pub(crate) use self::machine::{Access, Vm};
