//! `[proxmox]`: how to reach the node (SSH settings, host key rules, jump hosts).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

#[cfg(doc)]
use super::load;

use super::JumpHost;
pub use crate::remote::HostKeyCheck;

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
    /// Once loaded: `~` expanded, relative paths taken from the config file's folder.
    pub identity_file: Option<PathBuf>,
    /// Once loaded: `~` expanded, relative paths taken from the config file's folder.
    /// `None` means `~/.ssh/known_hosts` (see [`Proxmox::known_hosts_path`]).
    pub known_hosts: Option<PathBuf>,
    #[serde(default)]
    pub host_key_check: HostKeyCheck,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// The raw `jump` key (`user@host:port`, a comma list, or `none`); read
    /// [`Proxmox::jump_hosts`].
    pub jump: Option<String>,
    /// `jump`, parsed once by [`load_plan`] (not a TOML key). `None`: not set (a `ProxyJump`
    /// in ~/.ssh/config applies); empty: `none`, connect directly.
    #[serde(skip)]
    pub jump_hosts: Option<Vec<JumpHost>>,
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

fn default_connect_timeout() -> u64 {
    10
}
