//! The `pxdeploy.toml` model (unknown keys rejected), discovery, environment overrides and
//! validation. Everything here runs before any connection is opened.
//!
//! Entry points: [`load`] (what the commands call: `-c`/`PXDEPLOY_CONFIG`, else discovery)
//! and [`load_from`] (a known file, with an injectable environment for tests).

mod compose_check;
mod compose_files;
mod deploy;
mod env;
mod env_table;
mod firewall;
mod hooks;
mod jump;
mod load;
mod parse_error;
mod production;
mod rules;
mod schema;
mod secret_source;
mod targets;
mod types;
mod validate;
pub use validate::CONNECT_TIMEOUT_MAX;

#[cfg(test)]
mod compose_tests;
#[cfg(test)]
mod hardening_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

pub use compose_files::ComposeFiles;
pub use deploy::{Deploy, OnFailure};
pub use env::{EnvOverride, ENV_VARS};
pub use firewall::{Firewall, Policy, Rule};
pub use hooks::Hooks;
pub use jump::{parse_jump, JumpHost};
pub use load::{discover, load, load_from, load_plan, load_with, parse_str, FILE_NAME};
pub use production::ReleaseCommand;
pub(crate) use rules::compose_services_in;
pub use schema::schema;
pub use secret_source::Secret;
pub use targets::{parse_plan, Plan};
pub use types::{DockerInstall, IpConfig};

/// The whole configuration, after discovery, environment overrides and validation.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this was read from, absolute (not a TOML key).
    #[serde(skip)]
    pub path: PathBuf,
    /// The top-level service names of the compose file, in file order (filled by [`load`]).
    #[serde(skip)]
    pub compose_services: Vec<String>,
    /// The local compose file(s) as far as pxdeploy reads them (filled by [`load`]).
    #[serde(skip)]
    pub compose: crate::compose::model::Model,
    /// Which keys the environment overrode (filled by [`load`]), for `check` and `-v`.
    #[serde(skip)]
    pub env_overrides: Vec<EnvOverride>,
    /// Loaded for a command that works from the container alone (`releases`, `rollback`):
    /// a missing `app.source` or compose file is not a problem (not a TOML key).
    #[serde(skip)]
    pub source_optional: bool,
    /// Optional in the file when `PROXMOX_HOST` gives the host.
    #[serde(default)]
    pub proxmox: Proxmox,
    pub container: Container,
    pub app: App,
    #[serde(default)]
    pub env: Env,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub backup: Backup,
    #[serde(default)]
    pub deploy: Deploy,
    #[serde(default)]
    pub hooks: Hooks,
    /// Absent: pxdeploy leaves the container's firewall alone.
    pub firewall: Option<Firewall>,
    /// The `[targets.<name>]` this configuration is for (none: a file without targets).
    #[serde(skip)]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxmox {
    /// Name, IP, or a Host alias from ~/.ssh/config. Required (in the file or `PROXMOX_HOST`);
    /// empty only before validation.
    #[serde(default)]
    pub host: String,
    /// Default root (or the ~/.ssh/config value).
    pub user: Option<String>,
    /// Default 22 (or the ~/.ssh/config value).
    pub port: Option<u16>,
    /// After [`load`]: `~` expanded, relative paths taken from the config file's folder.
    pub identity_file: Option<PathBuf>,
    /// After [`load`]: `~` expanded, relative paths taken from the config file's folder.
    /// `None` means `~/.ssh/known_hosts` (see [`Proxmox::known_hosts_path`]).
    pub known_hosts: Option<PathBuf>,
    #[serde(default)]
    pub host_key_check: HostKeyCheck,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// The raw `jump` key (`user@host:port`, a comma list, or `none`); read
    /// [`Proxmox::jump_hosts`].
    pub jump: Option<String>,
    /// `jump`, parsed once by [`load`] (not a TOML key). `None`: not set (a `ProxyJump`
    /// in ~/.ssh/config applies); empty: `none`, connect directly.
    #[serde(skip)]
    pub jump_hosts: Option<Vec<JumpHost>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyCheck {
    #[default]
    Strict,
    AcceptNew,
}

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
    /// The raw `ip` key ("dhcp" or a static address in CIDR form); read [`Container::network`].
    #[serde(default = "default_ip")]
    ip: String,
    /// The raw `gateway` key; read [`Container::network`].
    gateway: Option<String>,
    /// `ip` + `gateway`, parsed once by [`load`] (not a TOML key).
    #[serde(skip)]
    pub network: IpConfig,
    #[serde(default = "default_true")]
    pub unprivileged: bool,
    #[serde(default = "default_true")]
    pub onboot: bool,
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

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Compose project name.
    pub name: String,
    #[serde(default = "default_source")]
    pub source: PathBuf,
    /// One file or a list (each one `-f`, in order).
    #[serde(default = "default_compose_file")]
    pub compose_file: ComposeFiles,
    /// Compose profiles to activate (`--profile` on every Compose command).
    #[serde(default)]
    pub profiles: Vec<String>,
    /// The raw `remote_dir` key; read [`App::remote_dir`].
    #[serde(rename = "remote_dir")]
    remote_dir_key: Option<String>,
    /// The directory inside the container, normalised, without a trailing `/`: `remote_dir`,
    /// default `/opt/<name>` (filled by [`load`]; not a TOML key).
    #[serde(skip)]
    pub remote_dir: String,
    /// Run with `docker compose run --rm` after the build, before `up`.
    pub release_command: Option<ReleaseCommand>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Env {
    /// name = length (generated once, then preserved forever), or a source read on every
    /// deploy (`from_env`, `from_file`, `command`).
    #[serde(default, deserialize_with = "env_table::secret_lengths")]
    #[schemars(schema_with = "schema::secret_lengths")]
    pub secrets: BTreeMap<String, Secret>,
    /// Plain settings, written on every deploy (whole numbers and booleans as their text).
    #[serde(default, deserialize_with = "env_table::value_texts")]
    #[schemars(schema_with = "schema::value_texts")]
    pub values: BTreeMap<String, String>,
    /// The sourced `[env.secrets]` entries' values, read before a deploy connects
    /// ([`crate::secrets::read`]; not a TOML key).
    #[serde(skip)]
    pub sourced: BTreeMap<String, crate::envfile::Redacted<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
    /// When `backup --schedule` makes Proxmox run the backup: a Proxmox calendar event
    /// (`02:00`, `sat 03:00`, `mon..fri 22:30`, `daily`), in the node's local time.
    #[serde(default)]
    pub schedule: Option<String>,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            storage: default_local(),
            mode: BackupMode::default(),
            compress: default_compress(),
            keep_last: default_keep_last(),
            schedule: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize, JsonSchema)]
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

impl Default for Proxmox {
    fn default() -> Self {
        Proxmox {
            host: String::new(),
            user: None,
            port: None,
            identity_file: None,
            known_hosts: None,
            host_key_check: HostKeyCheck::default(),
            connect_timeout_secs: default_connect_timeout(),
            jump: None,
            jump_hosts: None,
        }
    }
}

impl Proxmox {
    /// `known_hosts`, or `~/.ssh/known_hosts` when the file does not say.
    pub fn known_hosts_path(&self) -> PathBuf {
        match &self.known_hosts {
            Some(path) => path.clone(),
            None => {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default();
                home.join(".ssh").join("known_hosts")
            }
        }
    }
}

impl HostKeyCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            HostKeyCheck::Strict => "strict",
            HostKeyCheck::AcceptNew => "accept-new",
        }
    }
}

impl Config {
    /// The folder holding the config file; relative paths in it start here.
    pub fn config_dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// The local app directory that is pushed: `app.source` from the config file's folder.
    pub fn source_dir(&self) -> PathBuf {
        normalize(&self.config_dir().join(&self.app.source))
    }

    /// The local compose file: `app.compose_file` inside [`Config::source_dir`].
    pub fn compose_path(&self) -> PathBuf {
        normalize(&self.source_dir().join(&*self.app.compose_file))
    }

    /// Every local compose file, in order.
    pub fn compose_paths(&self) -> Vec<PathBuf> {
        let source = self.source_dir();
        self.app
            .compose_file
            .all()
            .iter()
            .map(|f| normalize(&source.join(f)))
            .collect()
    }

    /// The Compose project: `app.name`, run in `remote_dir` from `compose_file`.
    pub fn project(&self) -> crate::compose::Project {
        crate::compose::Project::new(
            self.container.vmid,
            &self.app.name,
            &self.app.remote_dir,
            &self.app.compose_file,
        )
        .with(
            &self.app.remote_dir,
            self.app.compose_file.rest(),
            &self.app.profiles,
            self.compose.clone(),
        )
    }

    /// The services to wait for: `health.services`, default every service of the compose
    /// file (in file order). An explicit empty list means: wait for none.
    pub fn health_services(&self) -> Vec<String> {
        match &self.health.services {
            Some(list) => list.clone(),
            None => self.compose_services.clone(),
        }
    }

    /// Valid but noteworthy settings, for the commands to print as warnings.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.container.unprivileged {
            out.push(format!(
                "container.unprivileged = false in {}: the container will be privileged (root inside is root on the host)",
                load::display_path(&self.path)
            ));
        }
        if let Some(name) = self.compose.name.as_deref().filter(|n| *n != self.app.name) {
            out.push(format!(
                "the compose file names its project {name:?}, but pxdeploy runs it as {:?} (app.name, passed with -p): containers made under {name:?} elsewhere would not be this app's; set app.name = {name:?} or remove `name:` from the compose file",
                self.app.name
            ));
        }
        out
    }
}

/// Removes `.` components and folds `dir/..` without touching the filesystem.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
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
fn default_source() -> PathBuf {
    PathBuf::from(".")
}
fn default_compose_file() -> ComposeFiles {
    ComposeFiles::one("docker-compose.yml")
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
