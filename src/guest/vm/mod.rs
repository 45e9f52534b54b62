//! The QEMU VM guest: what pxdeploy writes for it before its first boot (the cloud-init
//! data and the SSH host key it pins). The `qm` lines are pure builders in
//! `crate::proxmox::qm`; the image catalogue is `crate::config::catalogue`.

pub(crate) mod cloud_init;
pub(crate) mod host_key;
