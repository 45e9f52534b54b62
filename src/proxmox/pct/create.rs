//! `pct create`: what it gets ([`CreateSpec`], from the `[container]` section), its command
//! line, and the classifiers of its error messages.

use std::net::Ipv4Addr;

use crate::remote::quote::join;

/// What `pct create` gets (from the `[container]` section: `config::Container`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreateSpec {
    pub vmid: u32,
    /// A volume id, `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub template: String,
    pub hostname: String,
    pub memory_mb: u32,
    pub swap_mb: u32,
    pub cores: u32,
    pub storage: String,
    pub disk_gb: u32,
    pub bridge: String,
    /// net0's VLAN tag.
    pub vlan: Option<u16>,
    /// DHCP, or a static address in CIDR form with its gateway.
    pub network: IpConfig,
    /// Space-separated DNS servers; none: the node's.
    pub nameserver: Option<String>,
    pub protection: bool,
    pub tags: Vec<String>,
    pub unprivileged: bool,
    pub onboot: bool,
}

impl CreateSpec {
    /// `name=eth0,bridge=vmbr0,ip=dhcp` or `name=eth0,bridge=vmbr0,ip=<cidr>,gw=<gateway>`,
    /// then `,tag=<vlan>` when set.
    pub(crate) fn net0(&self) -> String {
        let mut net = format!("name=eth0,bridge={}", self.bridge);
        net.push_str(&format!(",ip={}", self.network.ip()));
        if let Some(gw) = self.network.gateway() {
            net.push_str(&format!(",gw={gw}"));
        }
        if let Some(tag) = self.vlan {
            net.push_str(&format!(",tag={tag}"));
        }
        net
    }

    /// `tags` as Proxmox writes them: `a;b`.
    pub(crate) fn tags_value(&self) -> String {
        self.tags.join(";")
    }

    /// Docker needs `nesting=1,keyctl=1` unprivileged; keyctl has no effect privileged.
    pub(crate) fn features(&self) -> &'static str {
        if self.unprivileged {
            "nesting=1,keyctl=1"
        } else {
            "nesting=1"
        }
    }
}

/// The container's network address (`net0`'s `ip=` and `gw=`; `container.ip` +
/// `container.gateway` of the config).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IpConfig {
    #[default]
    Dhcp,
    Static {
        addr: Ipv4Addr,
        prefix: u8,
        /// Always set for a container (validation); optional for a VM.
        gateway: Option<Ipv4Addr>,
    },
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
            IpConfig::Static { gateway, .. } => *gateway,
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

/// `pct create <vmid> <template> --hostname … --unprivileged 1 --features nesting=1,keyctl=1`:
/// every boolean with an explicit value (older Proxmox defaults to privileged).
pub(crate) fn create(spec: &CreateSpec) -> String {
    let vmid = spec.vmid.to_string();
    let memory = spec.memory_mb.to_string();
    let swap = spec.swap_mb.to_string();
    let cores = spec.cores.to_string();
    let rootfs = format!("{}:{}", spec.storage, spec.disk_gb);
    let net0 = spec.net0();
    let flag = |b: bool| if b { "1" } else { "0" };
    let tags = spec.tags_value();
    let mut optional: Vec<&str> = Vec::new();
    if let Some(ns) = &spec.nameserver {
        optional.extend(["--nameserver", ns]);
    }
    if !spec.tags.is_empty() {
        optional.extend(["--tags", &tags]);
    }
    if spec.protection {
        optional.extend(["--protection", "1"]);
    }
    let mut argv = vec![
        "pct",
        "create",
        &vmid,
        &spec.template,
        "--hostname",
        &spec.hostname,
        "--memory",
        &memory,
        "--swap",
        &swap,
        "--cores",
        &cores,
        "--rootfs",
        &rootfs,
        "--net0",
        &net0,
        "--onboot",
        flag(spec.onboot),
        "--unprivileged",
        flag(spec.unprivileged),
        "--features",
        spec.features(),
    ];
    argv.extend(optional);
    join(&argv)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::proxmox::pct) fn spec() -> CreateSpec {
        CreateSpec {
            vmid: 210,
            template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
            hostname: "myapp".into(),
            memory_mb: 4096,
            swap_mb: 512,
            cores: 2,
            storage: "local-lvm".into(),
            disk_gb: 16,
            bridge: "vmbr0".into(),
            vlan: None,
            network: IpConfig::Dhcp,
            nameserver: None,
            protection: false,
            tags: Vec::new(),
            unprivileged: true,
            onboot: true,
        }
    }

    pub(in crate::proxmox::pct) fn static_net() -> IpConfig {
        IpConfig::Static {
            addr: [192, 168, 1, 100].into(),
            prefix: 24,
            gateway: Some([192, 168, 1, 1].into()),
        }
    }

    #[test]
    fn create_unprivileged_dhcp() {
        assert_eq!(
            create(&spec()),
            "pct create 210 local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --hostname myapp \
             --memory 4096 --swap 512 --cores 2 --rootfs local-lvm:16 \
             --net0 name=eth0,bridge=vmbr0,ip=dhcp --onboot 1 --unprivileged 1 \
             --features nesting=1,keyctl=1"
        );
    }

    #[test]
    fn create_privileged_static() {
        let s = CreateSpec {
            network: static_net(),
            unprivileged: false,
            onboot: false,
            ..spec()
        };
        assert_eq!(
            create(&s),
            "pct create 210 local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --hostname myapp \
             --memory 4096 --swap 512 --cores 2 --rootfs local-lvm:16 \
             --net0 name=eth0,bridge=vmbr0,ip=192.168.1.100/24,gw=192.168.1.1 --onboot 0 \
             --unprivileged 0 --features nesting=1"
        );
    }

    #[test]
    fn create_with_vlan_nameserver_tags_and_protection() {
        let s = CreateSpec {
            vlan: Some(20),
            nameserver: Some("1.1.1.1 9.9.9.9".into()),
            tags: vec!["pxdeploy".into(), "web".into()],
            protection: true,
            ..spec()
        };
        assert_eq!(
            create(&s),
            "pct create 210 local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --hostname myapp \
             --memory 4096 --swap 512 --cores 2 --rootfs local-lvm:16 \
             --net0 name=eth0,bridge=vmbr0,ip=dhcp,tag=20 --onboot 1 --unprivileged 1 \
             --features nesting=1,keyctl=1 --nameserver '1.1.1.1 9.9.9.9' --tags 'pxdeploy;web' \
             --protection 1"
        );
    }

    #[test]
    fn create_quotes_hostile_values() {
        let s = CreateSpec {
            hostname: "a b;$(reboot)".into(),
            bridge: "vmbr0 x".into(),
            ..spec()
        };
        let line = create(&s);
        assert!(line.contains("--hostname 'a b;$(reboot)'"), "{line}");
        assert!(
            line.contains("--net0 'name=eth0,bridge=vmbr0 x,ip=dhcp'"),
            "{line}"
        );
    }
}
