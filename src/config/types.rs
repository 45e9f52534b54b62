//! The settings that `load` decides once: the container's network and how Docker is
//! installed. Commands read these, never the strings they came from.

use std::net::Ipv4Addr;

use serde::Deserialize;

/// The container's network address, parsed from `container.ip` + `container.gateway`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IpConfig {
    #[default]
    Dhcp,
    Static {
        addr: Ipv4Addr,
        prefix: u8,
        gateway: Ipv4Addr,
    },
}

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

impl IpConfig {
    /// The address as `pct` and the user write it: `dhcp` or `a.b.c.d/n`.
    pub fn ip(&self) -> String {
        match self {
            IpConfig::Dhcp => "dhcp".into(),
            IpConfig::Static { addr, prefix, .. } => format!("{addr}/{prefix}"),
        }
    }

    /// The gateway of a static address; `None` with DHCP.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        match self {
            IpConfig::Dhcp => None,
            IpConfig::Static { gateway, .. } => Some(*gateway),
        }
    }

    /// The static address without its prefix; `None` with DHCP.
    pub fn static_addr(&self) -> Option<Ipv4Addr> {
        match self {
            IpConfig::Dhcp => None,
            IpConfig::Static { addr, .. } => Some(*addr),
        }
    }
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
