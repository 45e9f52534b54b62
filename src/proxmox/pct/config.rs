//! The parser of `pct config` (property strings, `net0`, `rootfs`, the raw `lxc.*` lines)
//! and the drift between an existing container and the config.

use std::collections::BTreeMap;

use super::create::CreateSpec;
use super::APPARMOR_UNCONFINED;

/// Splits a property string (`name=eth0,bridge=vmbr0,ip=dhcp`) into key/value pairs. A part
/// without `=` is the value of `default_key` (`local-lvm:vm-100-disk-0,size=8G`).
pub(super) fn parse_property_string(text: &str, default_key: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (default_key.to_string(), part.trim().to_string()),
        })
        .collect()
}

/// `net0: name=eth0,bridge=vmbr0,gw=…,hwaddr=BC:24:11:…,ip=…,type=veth`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Net {
    pub name: Option<String>,
    pub bridge: Option<String>,
    pub ip: Option<String>,
    pub gw: Option<String>,
    pub hwaddr: Option<String>,
    /// Every key of the property string, the ones above included.
    pub all: BTreeMap<String, String>,
}

pub(super) fn parse_net(text: &str) -> Net {
    let all = parse_property_string(text, "name");
    Net {
        name: all.get("name").cloned(),
        bridge: all.get("bridge").cloned(),
        ip: all.get("ip").cloned(),
        gw: all.get("gw").cloned(),
        hwaddr: all.get("hwaddr").cloned(),
        all,
    }
}

/// `rootfs: local-lvm:vm-100-disk-0,size=16G`
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rootfs {
    pub volume: String,
    /// The storage part of the volume id (`local-lvm`).
    pub storage: String,
    /// `size=` as written (`16G`).
    pub size: Option<String>,
    pub size_bytes: Option<u64>,
}

/// The output of `pct config <vmid>`: `key: value` lines, then the raw `lxc.*` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PctConfig {
    pub entries: BTreeMap<String, String>,
    /// Raw `lxc.*` lines in file order.
    pub lxc: Vec<(String, String)>,
}

/// Parses `pct config` output (also accepts the on-disk format's `lxc.key = value`). Stops at
/// the first `[section]`, so snapshot and pending sections are not mixed in.
pub(crate) fn parse_config(text: &str) -> PctConfig {
    let mut cfg = PctConfig::default();
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with('[') {
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("lxc.") {
            let (k, v) = match (line.split_once(':'), line.split_once('=')) {
                (Some((k, v)), Some((k2, v2))) => {
                    if k.len() < k2.len() {
                        (k, v)
                    } else {
                        (k2, v2)
                    }
                }
                (Some(kv), None) | (None, Some(kv)) => kv,
                (None, None) => (line, ""),
            };
            cfg.lxc.push((k.trim().to_string(), v.trim().to_string()));
        } else if let Some((k, v)) = line.split_once(':') {
            cfg.entries
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    cfg
}

fn parse_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "yes" | "on" | "true"
    )
}

impl PctConfig {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }
    pub(crate) fn hostname(&self) -> Option<&str> {
        self.get("hostname")
    }
    fn number(&self, key: &str) -> Option<u32> {
        self.get(key)?.parse().ok()
    }
    /// MiB; Proxmox writes 512 when unset.
    pub(crate) fn memory_mb(&self) -> Option<u32> {
        self.number("memory")
    }
    /// MiB; Proxmox writes 512 when unset.
    pub(crate) fn swap_mb(&self) -> Option<u32> {
        self.number("swap")
    }
    /// None means every host core.
    pub(crate) fn cores(&self) -> Option<u32> {
        self.number("cores")
    }
    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(parse_bool)
    }
    pub(crate) fn onboot(&self) -> bool {
        self.flag("onboot")
    }
    /// Absent means privileged.
    pub(crate) fn unprivileged(&self) -> bool {
        self.flag("unprivileged")
    }
    pub(crate) fn protection(&self) -> bool {
        self.flag("protection")
    }
    pub(crate) fn lock(&self) -> Option<&str> {
        self.get("lock")
    }
    pub(crate) fn net0(&self) -> Option<Net> {
        self.get("net0").map(parse_net)
    }
    /// `features: nesting=1,keyctl=1` as a map.
    pub(crate) fn features(&self) -> BTreeMap<String, String> {
        self.get("features")
            .map(|f| parse_property_string(f, "features"))
            .unwrap_or_default()
    }
    pub(crate) fn rootfs(&self) -> Option<Rootfs> {
        let props = parse_property_string(self.get("rootfs")?, "volume");
        let volume = props.get("volume")?.clone();
        let size = props.get("size").cloned();
        Some(Rootfs {
            storage: volume.split(':').next().unwrap_or_default().to_string(),
            size_bytes: size.as_deref().and_then(crate::proxmox::parse_size),
            size,
            volume,
        })
    }
    /// True when a raw `lxc.*` line with this key and value is present.
    pub(crate) fn has_lxc(&self, key: &str, value: &str) -> bool {
        self.lxc.iter().any(|(k, v)| k == key && v == value)
    }
}

/// One setting where the container differs from the config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Drift {
    /// The config key (`memory_mb`, `ip`, …).
    pub setting: &'static str,
    /// What the container has.
    pub container: String,
    /// What the config says.
    pub config: String,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: container has `{}`, config says `{}`",
            self.setting, self.container, self.config
        )
    }
}

/// Every setting of `wanted` that the existing container (`actual`) does not have.
pub(crate) fn drift(actual: &PctConfig, wanted: &CreateSpec) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut diff = |setting: &'static str, container: String, config: String| {
        if container != config {
            out.push(Drift {
                setting,
                container,
                config,
            });
        }
    };
    let unset = || "(unset)".to_string();
    let show = |v: Option<&str>| v.map_or_else(unset, str::to_string);
    let num = |v: Option<u32>| v.map_or_else(unset, |n| n.to_string());

    diff("hostname", show(actual.hostname()), wanted.hostname.clone());
    diff(
        "memory_mb",
        num(actual.memory_mb()),
        wanted.memory_mb.to_string(),
    );
    diff("swap_mb", num(actual.swap_mb()), wanted.swap_mb.to_string());
    diff("cores", num(actual.cores()), wanted.cores.to_string());

    let net = actual.net0().unwrap_or_default();
    diff("ip", show(net.ip.as_deref()), wanted.network.ip());
    let want_gw = wanted.network.gateway().map(|gw| gw.to_string());
    diff("gateway", show(net.gw.as_deref()), show(want_gw.as_deref()));
    diff("bridge", show(net.bridge.as_deref()), wanted.bridge.clone());
    let want_tag = wanted.vlan.map(|t| t.to_string());
    diff(
        "vlan",
        show(net.all.get("tag").map(String::as_str)),
        show(want_tag.as_deref()),
    );
    // Unset in the config: the node's DNS (and no tags) is not a wish, so not drift.
    if let Some(ns) = &wanted.nameserver {
        diff("nameserver", show(actual.get("nameserver")), ns.clone());
    }
    diff(
        "protection",
        actual.protection().to_string(),
        wanted.protection.to_string(),
    );
    let mut have_tags: Vec<&str> = actual
        .get("tags")
        .unwrap_or_default()
        .split([';', ',', ' '])
        .filter(|t| !t.is_empty())
        .collect();
    have_tags.sort_unstable();
    let mut want_tags: Vec<&str> = wanted.tags.iter().map(String::as_str).collect();
    want_tags.sort_unstable();
    if !want_tags.is_empty() && have_tags != want_tags {
        diff("tags", show(actual.get("tags")), wanted.tags_value());
    }

    let want_features = parse_property_string(wanted.features(), "features");
    let have_features = actual.features();
    if have_features != want_features {
        diff(
            "features",
            show(actual.get("features")),
            wanted.features().to_string(),
        );
    }
    diff(
        "unprivileged",
        actual.unprivileged().to_string(),
        wanted.unprivileged.to_string(),
    );
    diff(
        "onboot",
        actual.onboot().to_string(),
        wanted.onboot.to_string(),
    );

    match actual.rootfs() {
        Some(rootfs) => {
            diff("storage", rootfs.storage.clone(), wanted.storage.clone());
            let want_bytes = u64::from(wanted.disk_gb) << 30;
            if rootfs.size_bytes != Some(want_bytes) {
                diff(
                    "disk_gb",
                    show(rootfs.size.as_deref()),
                    format!("{}G", wanted.disk_gb),
                );
            }
        }
        None => diff("storage", unset(), wanted.storage.clone()),
    }

    if !wanted.unprivileged {
        let (key, value) = APPARMOR_UNCONFINED.split_once(": ").unwrap_or_default();
        if !actual.has_lxc(key, value) {
            diff("lxc.apparmor.profile", unset(), value.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::create::tests::spec;
    use super::*;

    const CONFIG: &str = "arch: amd64
cores: 2
features: nesting=1,keyctl=1
hostname: docker01
memory: 2048
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth
onboot: 1
ostype: debian
rootfs: local-lvm:vm-100-disk-0,size=16G
swap: 512
tags: docker
unprivileged: 1
lxc.apparmor.profile: unconfined
";

    #[test]
    fn parses_pct_config() {
        let c = parse_config(CONFIG);
        assert_eq!(c.hostname(), Some("docker01"));
        assert_eq!(c.memory_mb(), Some(2048));
        assert_eq!(c.swap_mb(), Some(512));
        assert_eq!(c.cores(), Some(2));
        assert!(c.onboot() && c.unprivileged() && !c.protection());
        assert_eq!(c.lock(), None);
        let net = c.net0().unwrap();
        assert_eq!(net.name.as_deref(), Some("eth0"));
        assert_eq!(net.bridge.as_deref(), Some("vmbr0"));
        assert_eq!(net.ip.as_deref(), Some("dhcp"));
        assert_eq!(net.gw, None);
        assert_eq!(net.hwaddr.as_deref(), Some("BC:24:11:5E:7A:01"));
        assert_eq!(net.all.get("type").map(String::as_str), Some("veth"));
        assert_eq!(
            c.features().into_iter().collect::<Vec<_>>(),
            vec![
                ("keyctl".into(), "1".into()),
                ("nesting".into(), "1".into())
            ]
        );
        let rootfs = c.rootfs().unwrap();
        assert_eq!(rootfs.volume, "local-lvm:vm-100-disk-0");
        assert_eq!(rootfs.storage, "local-lvm");
        assert_eq!(rootfs.size.as_deref(), Some("16G"));
        assert_eq!(rootfs.size_bytes, Some(16 << 30));
        assert!(c.has_lxc("lxc.apparmor.profile", "unconfined"));
    }

    #[test]
    fn parses_static_net_lock_protection_and_file_format() {
        let c = parse_config(
            "#my note\nhostname: web\nlock: backup\nprotection: 1\nnet0: name=eth0,bridge=vmbr1,firewall=1,gw=192.168.1.1,hwaddr=BC:24:11:5E:7A:01,ip=192.168.1.100/24,tag=10,type=veth\nlxc.cgroup2.devices.allow = a\nlxc.cap.drop:\n\n[snap]\nhostname: old\n",
        );
        assert_eq!(c.hostname(), Some("web"));
        assert_eq!(c.lock(), Some("backup"));
        assert!(c.protection());
        assert!(!c.unprivileged());
        let net = c.net0().unwrap();
        assert_eq!(net.ip.as_deref(), Some("192.168.1.100/24"));
        assert_eq!(net.gw.as_deref(), Some("192.168.1.1"));
        assert_eq!(net.bridge.as_deref(), Some("vmbr1"));
        assert_eq!(
            c.lxc,
            vec![
                ("lxc.cgroup2.devices.allow".into(), "a".into()),
                ("lxc.cap.drop".into(), "".into())
            ]
        );
    }

    #[test]
    fn no_drift_when_everything_matches() {
        let c = parse_config(
            "cores: 2\nfeatures: keyctl=1,nesting=1\nhostname: myapp\nmemory: 4096\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth\nonboot: 1\nrootfs: local-lvm:vm-210-disk-0,size=16G\nswap: 512\nunprivileged: 1\n",
        );
        assert_eq!(drift(&c, &spec()), vec![]);
    }

    #[test]
    fn every_differing_setting_is_listed() {
        let c = parse_config(CONFIG);
        let wanted = CreateSpec {
            network: super::super::create::tests::static_net(),
            disk_gb: 32,
            onboot: false,
            ..spec()
        };
        let d: Vec<String> = drift(&c, &wanted).iter().map(ToString::to_string).collect();
        assert_eq!(
            d,
            vec![
                "hostname: container has `docker01`, config says `myapp`",
                "memory_mb: container has `2048`, config says `4096`",
                "ip: container has `dhcp`, config says `192.168.1.100/24`",
                "gateway: container has `(unset)`, config says `192.168.1.1`",
                "onboot: container has `true`, config says `false`",
                "disk_gb: container has `16G`, config says `32G`",
            ]
        );
    }

    #[test]
    fn privileged_drift_names_features_and_apparmor() {
        let c = parse_config(
            "cores: 2\nfeatures: nesting=1,keyctl=1\nhostname: myapp\nmemory: 4096\nnet0: name=eth0,bridge=vmbr0,ip=dhcp\nonboot: 1\nrootfs: local-lvm:vm-210-disk-0,size=16G\nswap: 512\nunprivileged: 1\n",
        );
        let wanted = CreateSpec {
            unprivileged: false,
            ..spec()
        };
        let settings: Vec<&str> = drift(&c, &wanted).iter().map(|d| d.setting).collect();
        assert_eq!(
            settings,
            vec!["features", "unprivileged", "lxc.apparmor.profile"]
        );
    }

    #[test]
    fn drift_names_vlan_nameserver_protection_and_tags() {
        let c = parse_config(
            "cores: 2\nfeatures: keyctl=1,nesting=1\nhostname: myapp\nmemory: 4096\nnameserver: 1.1.1.1\nnet0: name=eth0,bridge=vmbr0,ip=dhcp,tag=10\nonboot: 1\nrootfs: local-lvm:vm-210-disk-0,size=16G\nswap: 512\ntags: web;pxdeploy\nunprivileged: 1\n",
        );
        let same = CreateSpec {
            vlan: Some(10),
            nameserver: Some("1.1.1.1".into()),
            tags: vec!["pxdeploy".into(), "web".into()],
            ..spec()
        };
        assert_eq!(drift(&c, &same), vec![], "tags compare as a set");
        let wanted = CreateSpec {
            vlan: Some(20),
            nameserver: Some("9.9.9.9".into()),
            protection: true,
            tags: vec!["pxdeploy".into()],
            ..spec()
        };
        let d: Vec<String> = drift(&c, &wanted).iter().map(ToString::to_string).collect();
        assert_eq!(
            d,
            vec![
                "vlan: container has `10`, config says `20`",
                "nameserver: container has `1.1.1.1`, config says `9.9.9.9`",
                "protection: container has `false`, config says `true`",
                "tags: container has `web;pxdeploy`, config says `pxdeploy`",
            ]
        );
    }
}
