//! The `pxdeploy.toml` that points at a simulated host, and the known_hosts file that trusts
//! several.

use std::path::{Path, PathBuf};

use super::SimHost;

impl SimHost {
    /// The `[proxmox]` table pointing at this host, plus a small complete app config
    /// (vmid 210, hostname `app`, DHCP, Compose project `app`, `docker-compose.yml`,
    /// remote dir `/opt/app`, health timeout 90 s polled every second).
    pub fn config_table(&self) -> toml::Table {
        let text = format!(
            r#"
[proxmox]
host = "{host}"
port = {port}
user = "{user}"
identity_file = "{id}"
known_hosts = "{kh}"
host_key_check = "strict"
connect_timeout_secs = 10

[container]
vmid = 210
hostname = "app"
template = "debian-12-standard"
template_storage = "local"
storage = "local-lvm"
disk_gb = 4
memory_mb = 512
swap_mb = 0
cores = 1
bridge = "vmbr0"
ip = "dhcp"

[app]
name = "app"
source = "."
compose_file = "docker-compose.yml"
remote_dir = "/opt/app"

[health]
timeout_secs = 90
interval_secs = 1
"#,
            host = self.host,
            port = self.port,
            user = self.user,
            id = self.identity_file.display(),
            kh = self.known_hosts.display(),
        );
        text.parse().expect("default test config is valid TOML")
    }

    /// The config text: [`SimHost::config_table`] with `extra_toml` merged in (tables
    /// merge key by key, so `"[container]\nvmid = 300"` changes only the vmid).
    #[track_caller]
    pub fn config_toml(&self, extra_toml: &str) -> String {
        let mut base = self.config_table();
        let extra: toml::Table = extra_toml
            .parse()
            .unwrap_or_else(|e| panic!("extra TOML for the test config is invalid: {e}"));
        merge(&mut base, extra);
        toml::to_string(&base).expect("serialize test config")
    }

    /// Writes `dir/pxdeploy.toml` (see [`SimHost::config_toml`]) and returns its path.
    #[track_caller]
    pub fn write_config(&self, dir: impl AsRef<Path>, extra_toml: &str) -> PathBuf {
        let path = dir.as_ref().join("pxdeploy.toml");
        std::fs::write(&path, self.config_toml(extra_toml))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

/// Writes `path`: one known_hosts file trusting every host of `hosts` (for a node reached
/// through a bastion, or every node of a cluster). Returns `path`.
pub fn known_hosts_trusting(path: PathBuf, hosts: &[&SimHost]) -> PathBuf {
    let text: String = hosts
        .iter()
        .map(|h| std::fs::read_to_string(h.known_hosts()).unwrap())
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// Deep merge: tables merge key by key, anything else is replaced.
pub fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}
