//! `[health]` and `[backup]`: waiting for the services, and vzdump backups.

use schemars::JsonSchema;
use serde::Deserialize;

use super::default_local;

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

impl<'a> From<&'a Backup> for crate::proxmox::vzdump::Options<'a> {
    fn from(b: &'a Backup) -> Self {
        crate::proxmox::vzdump::Options {
            storage: &b.storage,
            mode: b.mode.as_str(),
            compress: &b.compress,
            keep_last: b.keep_last,
        }
    }
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
