//! The `pxdeploy.toml` model (unknown keys rejected), discovery, environment overrides and
//! validation. Everything here runs before any connection is opened.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole configuration, after discovery, environment overrides and validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this was read from (not a TOML key).
    #[serde(skip)]
    pub path: PathBuf,
    pub proxmox: Proxmox,
    pub container: Container,
    pub app: App,
    #[serde(default)]
    pub env: Env,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub backup: Backup,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxmox {
    /// Name, IP, or a Host alias from ~/.ssh/config.
    pub host: String,
    /// Default root (or the ~/.ssh/config value).
    pub user: Option<String>,
    /// Default 22 (or the ~/.ssh/config value).
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    #[serde(default)]
    pub host_key_check: HostKeyCheck,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyCheck {
    #[default]
    Strict,
    AcceptNew,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
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
    /// "dhcp" or a static address in CIDR form.
    #[serde(default = "default_ip")]
    pub ip: String,
    pub gateway: Option<String>,
    #[serde(default = "default_true")]
    pub unprivileged: bool,
    #[serde(default = "default_true")]
    pub onboot: bool,
    /// "script", "apt", or a shell command of your own.
    #[serde(default = "default_docker_install")]
    pub docker_install: String,
}

/// The container's network address, parsed from `container.ip` + `container.gateway`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpConfig {
    Dhcp,
    Static {
        addr: Ipv4Addr,
        prefix: u8,
        gateway: Ipv4Addr,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerInstall {
    /// Docker's convenience script (get.docker.com), after installing curl.
    Script,
    /// The distribution's docker.io + Compose v2 package.
    Apt,
    /// A shell command of the user's own.
    Custom(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Compose project name.
    pub name: String,
    #[serde(default = "default_source")]
    pub source: PathBuf,
    #[serde(default = "default_compose_file")]
    pub compose_file: String,
    pub remote_dir: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Env {
    /// name = length; generated once, then preserved forever.
    #[serde(default)]
    pub secrets: BTreeMap<String, usize>,
    /// Plain settings, written on every deploy.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Default: every service of the compose file.
    pub services: Option<Vec<String>>,
    #[serde(default = "default_health_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            services: None,
            timeout_secs: default_health_timeout(),
            interval_secs: default_interval(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    #[serde(default = "default_local")]
    pub storage: String,
    #[serde(default)]
    pub mode: BackupMode,
    #[serde(default = "default_compress")]
    pub compress: String,
    #[serde(default = "default_keep_last")]
    pub keep_last: u32,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            storage: default_local(),
            mode: BackupMode::default(),
            compress: default_compress(),
            keep_last: default_keep_last(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupMode {
    #[default]
    Snapshot,
    Suspend,
    Stop,
}

impl BackupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMode::Snapshot => "snapshot",
            BackupMode::Suspend => "suspend",
            BackupMode::Stop => "stop",
        }
    }
}

fn default_connect_timeout() -> u64 {
    10
}
fn default_template() -> String {
    "debian-12-standard".into()
}
fn default_local() -> String {
    "local".into()
}
fn default_storage() -> String {
    "local-lvm".into()
}
fn default_disk_gb() -> u32 {
    16
}
fn default_memory_mb() -> u32 {
    4096
}
fn default_swap_mb() -> u32 {
    512
}
fn default_cores() -> u32 {
    2
}
fn default_bridge() -> String {
    "vmbr0".into()
}
fn default_ip() -> String {
    "dhcp".into()
}
fn default_true() -> bool {
    true
}
fn default_docker_install() -> String {
    "script".into()
}
fn default_source() -> PathBuf {
    PathBuf::from(".")
}
fn default_compose_file() -> String {
    "docker-compose.yml".into()
}
fn default_health_timeout() -> u64 {
    120
}
fn default_interval() -> u64 {
    2
}
fn default_compress() -> String {
    "zstd".into()
}
fn default_keep_last() -> u32 {
    7
}
