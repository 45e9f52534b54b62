//! The flags of `pxdeploy init` (a clap struct: `cli` re-exports it as `cli::InitArgs`; it
//! is defined here so that `init` does not import `cli`, the layer above it).

use std::path::PathBuf;

use clap::Args;

/// `pxdeploy init`: every value has a flag; the `PROXMOX_*` variables stand in for the
/// flags they name. The file goes to `-c FILE`, else ./pxdeploy.toml.
#[derive(Debug, Clone, Args, Default)]
pub struct InitArgs {
    /// The compose file [default: compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml here, else the one *compose*.yml or *compose*.yaml]
    #[arg(long, value_name = "FILE")]
    pub compose_file: Option<PathBuf>,
    /// Overwrite an existing pxdeploy.toml
    #[arg(long)]
    pub force: bool,
    /// The Proxmox VE node: name, IP or ~/.ssh/config alias [env: PROXMOX_HOST, then Taskfile.yml]
    #[arg(long)]
    pub host: Option<String>,
    /// SSH user [env: PROXMOX_USER, then Taskfile.yml; default: ~/.ssh/config, else root]
    #[arg(long)]
    pub user: Option<String>,
    /// SSH port [default: ~/.ssh/config, else 22]
    #[arg(long)]
    pub port: Option<u16>,
    /// SSH private key [env: PROXMOX_SSH_KEY, then Taskfile.yml; default: ssh-agent, then ~/.ssh/id_*]
    #[arg(long, value_name = "FILE")]
    pub identity_file: Option<String>,
    /// Container (or VM) id, 100–999999999 [env: PROXMOX_CONTAINER_ID, then Taskfile.yml]
    #[arg(long)]
    pub vmid: Option<u32>,
    /// Container hostname (VM name) [default: the app name, `_` as `-`]
    #[arg(long)]
    pub hostname: Option<String>,
    /// Compose project name [default: the compose file's `name:`, else its folder's name]
    #[arg(long)]
    pub name: Option<String>,
    /// `dhcp` or a static a.b.c.d/n [env: PROXMOX_CONTAINER_IP, then Taskfile.yml; default: dhcp]
    #[arg(long)]
    pub ip: Option<String>,
    /// Gateway of a static address [env: PROXMOX_CONTAINER_GATEWAY, then Taskfile.yml]
    #[arg(long)]
    pub gateway: Option<String>,
    /// Network bridge [default: vmbr0]
    #[arg(long)]
    pub bridge: Option<String>,
    /// Storage of the root disk [default: local-lvm]
    #[arg(long)]
    pub storage: Option<String>,
    /// Template name prefix or volume id [default: debian-12-standard]
    #[arg(long, conflicts_with = "vm")]
    pub template: Option<String>,
    /// Write a [vm] section (a QEMU VM from a cloud image) instead of [container]
    #[arg(long)]
    pub vm: bool,
    /// With --vm: the cloud image, debian-12, debian-13, ubuntu-24.04 or a volume id [default: debian-12]
    #[arg(long, requires = "vm")]
    pub image: Option<String>,
    /// Root disk in GiB [default: 16; a VM's 32]
    #[arg(long, value_name = "GB")]
    pub disk_gb: Option<u32>,
    /// Memory in MiB [default: 4096]
    #[arg(long, value_name = "MB")]
    pub memory_mb: Option<u32>,
    /// CPU cores [default: 2]
    #[arg(long)]
    pub cores: Option<u32>,
}
