//! `qm config <vmid>`: sorted `key: value` lines (reference §3), and the drift between an
//! existing VM and the `[vm]` section (the settings `create` would have set; the MAC that
//! Proxmox generated is never drift).

use std::collections::BTreeMap;

use super::create::VmCreateSpec;

/// The output of `qm config <vmid>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QmConfig {
    pub entries: BTreeMap<String, String>,
}

pub(crate) fn parse_config(text: &str) -> QmConfig {
    let entries = text
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    QmConfig { entries }
}

/// `net0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0,firewall=1,tag=10`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VmNet {
    /// The NIC model (`virtio`), and its MAC as Proxmox writes it (upper case).
    pub model: Option<(String, String)>,
    /// Every `key=value` of the property string.
    pub all: BTreeMap<String, String>,
}

impl VmNet {
    pub(crate) fn mac(&self) -> Option<&str> {
        self.model.as_ref().map(|(_, mac)| mac.as_str())
    }
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.all.get(key).map(String::as_str)
    }
}

const MODELS: &[&str] = &["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"];

impl QmConfig {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }
    pub(crate) fn name(&self) -> Option<&str> {
        self.get("name")
    }
    fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("1")
    }
    pub(crate) fn onboot(&self) -> bool {
        self.flag("onboot")
    }
    pub(crate) fn protection(&self) -> bool {
        self.flag("protection")
    }
    pub(crate) fn net0(&self) -> Option<VmNet> {
        let mut net = VmNet::default();
        for part in self.get("net0")?.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if MODELS.contains(&k) && net.model.is_none() {
                net.model = Some((k.to_string(), v.to_string()));
            } else {
                net.all.insert(k.to_string(), v.to_string());
            }
        }
        Some(net)
    }
    /// `tags: a;b` as a sorted list.
    pub(crate) fn tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> = self
            .get("tags")
            .unwrap_or_default()
            .split([';', ',', ' '])
            .filter(|t| !t.is_empty())
            .collect();
        tags.sort_unstable();
        tags
    }
}

/// One setting where the VM differs from the config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct VmDrift {
    /// The config key (`memory_mb`, `vlan`, …).
    pub setting: &'static str,
    /// What the VM has.
    pub vm: String,
    /// What the config says.
    pub config: String,
}

impl std::fmt::Display for VmDrift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: VM has `{}`, config says `{}`",
            self.setting, self.vm, self.config
        )
    }
}

/// Every setting of `wanted` the existing VM (`actual`) does not have: memory, cores,
/// net0's bridge and VLAN tag, onboot, protection, and the tags when the config sets some.
pub(crate) fn drift(actual: &QmConfig, wanted: &VmCreateSpec) -> Vec<VmDrift> {
    let mut out = Vec::new();
    let mut diff = |setting: &'static str, vm: String, config: String| {
        if vm != config {
            out.push(VmDrift {
                setting,
                vm,
                config,
            });
        }
    };
    let unset = || "(unset)".to_string();
    let show = |v: Option<&str>| v.map_or_else(unset, str::to_string);
    diff(
        "memory_mb",
        show(actual.get("memory")),
        wanted.memory_mb.to_string(),
    );
    diff("cores", show(actual.get("cores")), wanted.cores.to_string());
    let net = actual.net0().unwrap_or_default();
    diff("bridge", show(net.get("bridge")), wanted.bridge.clone());
    let want_tag = wanted.vlan.map(|t| t.to_string());
    diff("vlan", show(net.get("tag")), show(want_tag.as_deref()));
    diff(
        "onboot",
        actual.onboot().to_string(),
        wanted.onboot.to_string(),
    );
    diff(
        "protection",
        actual.protection().to_string(),
        wanted.protection.to_string(),
    );
    let mut want_tags: Vec<&str> = wanted.tags.iter().map(String::as_str).collect();
    want_tags.sort_unstable();
    if !want_tags.is_empty() && actual.tags() != want_tags {
        diff("tags", show(actual.get("tags")), wanted.tags.join(";"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::create::tests::spec;
    use super::*;

    /// `qm config 220` of a VM `create` made (qemu-server prints the keys sorted).
    const CONFIG: &str = "agent: enabled=1,freeze-fs=1\nboot: order=scsi0\ncicustom: user=local:snippets/pxdeploy-220-user.yaml,meta=local:snippets/pxdeploy-220-meta.yaml\nciupgrade: 0\ncores: 2\ncpu: x86-64-v2-AES\nide2: local-lvm:vm-220-cloudinit,media=cdrom\nipconfig0: ip=dhcp\nmemory: 4096\nmeta: creation-qemu=9.2.0,ctime=1733580000\nname: myapp\nnet0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0,firewall=1\nonboot: 1\nostype: l26\nscsi0: local-lvm:vm-220-disk-0,size=32G\nscsihw: virtio-scsi-single\nserial0: socket\nsmbios1: uuid=5f0c6a4e-0000-4000-8000-000000000000\nvga: serial0\nvmgenid: 00000000-0000-4000-8000-000000000000\n";

    #[test]
    fn reads_the_config_and_the_mac() {
        let c = parse_config(CONFIG);
        assert_eq!(c.name(), Some("myapp"));
        assert!(c.onboot() && !c.protection());
        let net = c.net0().unwrap();
        assert_eq!(net.mac(), Some("BC:24:11:5E:7A:01"));
        assert_eq!(net.get("bridge"), Some("vmbr0"));
        assert_eq!(net.get("firewall"), Some("1"));
        // The key's value has colons of its own.
        assert_eq!(c.get("cicustom").unwrap().matches(':').count(), 2);
    }

    #[test]
    fn no_drift_for_what_create_made_the_mac_is_not_drift() {
        assert_eq!(drift(&parse_config(CONFIG), &spec()), vec![]);
    }

    #[test]
    fn every_differing_setting_is_listed() {
        let c = parse_config(
            &CONFIG
                .replace("tag", "x")
                .replace("firewall=1\n", "firewall=1,tag=10\ntags: web;pxdeploy\n"),
        );
        let same_tags = VmCreateSpec {
            vlan: Some(10),
            tags: vec!["pxdeploy".into(), "web".into()],
            ..spec()
        };
        assert_eq!(drift(&c, &same_tags), vec![], "tags compare as a set");
        let wanted = VmCreateSpec {
            memory_mb: 2048,
            cores: 4,
            bridge: "vmbr1".into(),
            vlan: None,
            onboot: false,
            protection: true,
            tags: vec!["pxdeploy".into()],
            ..spec()
        };
        let d: Vec<String> = drift(&c, &wanted).iter().map(ToString::to_string).collect();
        assert_eq!(
            d,
            vec![
                "memory_mb: VM has `4096`, config says `2048`",
                "cores: VM has `2`, config says `4`",
                "bridge: VM has `vmbr0`, config says `vmbr1`",
                "vlan: VM has `10`, config says `(unset)`",
                "onboot: VM has `true`, config says `false`",
                "protection: VM has `false`, config says `true`",
                "tags: VM has `web;pxdeploy`, config says `pxdeploy`",
            ]
        );
    }
}
