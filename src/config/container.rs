//! `[container]`: the LXC container `create` makes, and where it lives.

use schemars::JsonSchema;
use serde::Deserialize;

#[cfg(doc)]
use super::load;

use super::guest_keys::{
    default_bridge, default_cores, default_ip, default_memory_mb, default_storage, default_true,
};
use super::{default_local, DockerInstall, IpConfig};
use crate::proxmox::pct::CreateSpec;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Required (in the file or `PROXMOX_CONTAINER_ID`); 0 only before validation.
    #[serde(default)]
    pub vmid: u32,
    pub hostname: String,
    #[serde(default = "default_template")]
    pub template: String,
    #[serde(default = "default_local")]
    pub template_storage: String,
    #[serde(default = "default_storage")]
    pub storage: String,
    #[serde(default = "default_disk_gb")]
    pub disk_gb: u32,
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    #[serde(default = "default_swap_mb")]
    pub swap_mb: u32,
    #[serde(default = "default_cores")]
    pub cores: u32,
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// The VLAN tag of net0 (1–4094); none: untagged.
    #[serde(default)]
    pub vlan: Option<u16>,
    /// The raw `ip` key ("dhcp" or a static address in CIDR form); read [`Container::network`].
    #[serde(default = "default_ip")]
    pub(super) ip: String,
    /// The raw `gateway` key; read [`Container::network`].
    pub(super) gateway: Option<String>,
    /// `ip` + `gateway`, parsed once by [`load_plan`] (not a TOML key).
    #[serde(skip)]
    pub network: IpConfig,
    #[serde(default = "default_true")]
    pub unprivileged: bool,
    #[serde(default = "default_true")]
    pub onboot: bool,
    /// DNS servers, space-separated IP addresses (`"1.1.1.1 9.9.9.9"`); none: the node's.
    #[serde(default)]
    pub nameserver: Option<String>,
    /// Proxmox's `protection` flag: the container and its disks cannot be removed until it
    /// is off (`destroy` refuses, exit 8).
    #[serde(default)]
    pub protection: bool,
    /// Proxmox tags (each `[a-z0-9_][a-z0-9_\-+.]*`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// "script", "apt", or a shell command of your own; surrounding spaces are ignored
    /// (`"apt "` is the apt path).
    #[serde(default)]
    pub docker_install: DockerInstall,
    /// In a Proxmox cluster: the node `create` puts the container on, or `"auto"` (the
    /// online node with the most free memory). Default: the node connected to. Other
    /// commands find the container wherever it is.
    #[serde(default)]
    pub node: Option<String>,
    /// Manage the container with Proxmox's HA manager: `create` registers it
    /// (`ha-manager add ct:<vmid> --state started`), `stop`/`start`/`restart` go through
    /// `ha-manager set`, `destroy` removes the HA resource first.
    #[serde(default)]
    pub ha: bool,
}

fn default_template() -> String {
    "debian-12-standard".into()
}

fn default_disk_gb() -> u32 {
    16
}

fn default_swap_mb() -> u32 {
    512
}

/// What `pct create` gets from this section.
impl CreateSpec {
    pub(crate) fn from_container(c: &Container, template: &str) -> Self {
        CreateSpec {
            vmid: c.vmid,
            template: template.to_string(),
            hostname: c.hostname.clone(),
            memory_mb: c.memory_mb,
            swap_mb: c.swap_mb,
            cores: c.cores,
            storage: c.storage.clone(),
            disk_gb: c.disk_gb,
            bridge: c.bridge.clone(),
            vlan: c.vlan,
            network: c.network.clone(),
            nameserver: c.nameserver.clone(),
            protection: c.protection,
            tags: c.tags.clone(),
            unprivileged: c.unprivileged,
            onboot: c.onboot,
        }
    }
}
