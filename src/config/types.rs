//! The settings that `load_plan` decides once: the container's network and how Docker is
//! installed. Commands read these, never the strings they came from.

use serde::Deserialize;

pub use crate::proxmox::pct::IpConfig;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DockerInstall {
    /// Docker's convenience script (get.docker.com), after installing curl.
    #[default]
    Script,
    /// The distribution's docker.io + Compose v2 package.
    Apt,
    /// A shell command of the user's own.
    Custom(String),
}

/// The one reading of `docker_install`: trimmed, then `script`, `apt`, or a command.
impl From<&str> for DockerInstall {
    fn from(text: &str) -> Self {
        match text.trim() {
            "script" => DockerInstall::Script,
            "apt" => DockerInstall::Apt,
            other => DockerInstall::Custom(other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for DockerInstall {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(DockerInstall::from(text.as_str()))
    }
}
