//! The QEMU VM as a guest: the VM and its `qm` calls (`machine.rs`), the SSH session
//! inside it (`link.rs`), its first boot as the guest agent reports it (`boot.rs`), and
//! what pxdeploy writes for it before its first boot: the cloud-init data (`cloud_init.rs`)
//! and the SSH host key it pins (`host_key.rs`). The `qm` lines are pure builders in
//! `crate::proxmox::qm`; the image catalogue is `crate::config::catalogue`.

pub(crate) mod boot;
pub(crate) mod cloud_init;
pub(crate) mod host_key;
pub(crate) mod link;
mod machine;
pub(crate) mod remembered;

pub(crate) use self::machine::{Access, Vm};
