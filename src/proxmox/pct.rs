//! `pct`: container status, config, create, start/stop/shutdown/reboot, destroy, exec, push;
//! the parsers of `pct status` and `pct config`; the drift between a container and the config.

use std::collections::BTreeMap;

use crate::config::Container;
use crate::remote::quote::{join, quote};

/// The raw line that turns AppArmor confinement off for a privileged container.
pub const APPARMOR_UNCONFINED: &str = "lxc.apparmor.profile: unconfined";

/// `pct list`
pub fn list() -> String {
    "pct list".to_string()
}

/// `pct status <vmid>`
pub fn status(vmid: u32) -> String {
    format!("pct status {vmid}")
}

/// `pct config <vmid>`
pub fn config(vmid: u32) -> String {
    format!("pct config {vmid}")
}

/// `pct start <vmid>`
pub fn start(vmid: u32) -> String {
    format!("pct start {vmid}")
}

/// `pct stop <vmid>`: immediate, no grace period.
pub fn stop(vmid: u32) -> String {
    format!("pct stop {vmid}")
}

/// `pct shutdown <vmid> --timeout <secs>`: graceful; fails with `container did not stop`.
pub fn shutdown(vmid: u32, timeout_secs: u64) -> String {
    format!("pct shutdown {vmid} --timeout {timeout_secs}")
}

/// `pct reboot <vmid> --timeout <secs>`
pub fn reboot(vmid: u32, timeout_secs: u64) -> String {
    format!("pct reboot {vmid} --timeout {timeout_secs}")
}

/// `pct destroy <vmid> --purge 1`
pub fn destroy(vmid: u32) -> String {
    format!("pct destroy {vmid} --purge 1")
}

/// `pct exec <vmid> -- <argv…>`: argv arrives verbatim inside the container.
pub fn exec<S: AsRef<str>>(vmid: u32, argv: &[S]) -> String {
    format!("pct exec {vmid} -- {}", join(argv))
}

/// `pct exec <vmid> -- sh -c <script>`: the script is parsed by `sh` inside the container
/// (two shells deep: the host's login shell removes one layer of quoting).
pub fn exec_sh(vmid: u32, script: &str) -> String {
    exec(vmid, &["sh", "-c", script])
}

/// `pct push <vmid> <host file> <container path> [--perms <mode>]`
pub fn push(vmid: u32, file: &str, dest: &str, perms: Option<&str>) -> String {
    let mut line = format!("pct push {vmid} {} {}", quote(file), quote(dest));
    if let Some(perms) = perms {
        line.push_str(&format!(" --perms {}", quote(perms)));
    }
    line
}

/// The container's config file on the host (`/etc/pve/lxc` → `nodes/<node>/lxc`).
pub fn conf_path(vmid: u32) -> String {
    format!("/etc/pve/lxc/{vmid}.conf")
}

/// A host command that inserts a raw `lxc.*` line into the container's config file, before
/// the first `[section]` line (snapshot or pending section), or at the end if there is none.
/// Nothing happens when the main section has the line already.
pub fn add_raw_line(vmid: u32, line: &str) -> String {
    let script = format!(
        concat!(
            "set -e; conf={conf}; line={line}; ",
            "if awk -v line=\"$line\" '/^\\[/ {{ exit }} $0 == line {{ found = 1 }} END {{ exit !found }}' \"$conf\"; then exit 0; fi; ",
            "tmp=$(mktemp); ",
            "awk -v line=\"$line\" '!done && /^\\[/ {{ print line; done = 1 }} {{ print }} END {{ if (!done) print line }}' \"$conf\" > \"$tmp\"; ",
            "cat \"$tmp\" > \"$conf\"; rm -f \"$tmp\""
        ),
        conf = quote(&conf_path(vmid)),
        line = quote(line),
    );
    join(&["sh", "-c", &script])
}

/// `ip -4 -o addr show dev eth0` inside the container: its IPv4 address, once it has one.
pub fn ipv4_probe(vmid: u32) -> String {
    exec(vmid, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
}

/// The first address of `ip -4 -o addr show` output (`2: eth0    inet 10.0.0.5/24 brd …`),
/// without its prefix length.
pub fn parse_ipv4(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == "inet")?;
        let cidr = words.next()?;
        Some(cidr.split('/').next().unwrap_or(cidr).to_string())
    })
}

/// What `pct status` says about a container that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CtState {
    Running,
    Stopped,
}

impl CtState {
    pub fn as_str(self) -> &'static str {
        match self {
            CtState::Running => "running",
            CtState::Stopped => "stopped",
        }
    }
}

/// Parses `status: running` / `status: stopped` (also from `--verbose` output).
pub fn parse_status(stdout: &str) -> Option<CtState> {
    stdout
        .lines()
        .find_map(|line| match line.trim().strip_prefix("status:")?.trim() {
            "running" => Some(CtState::Running),
            "stopped" => Some(CtState::Stopped),
            _ => None,
        })
}

/// `CT <vmid> already running` (start when running)
pub fn says_already_running(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        let l = l.trim();
        l.starts_with("CT ") && l.ends_with(" already running")
    })
}

/// `CT <vmid> not running` (stop/shutdown when stopped) or `VM <vmid> not running` (reboot)
pub fn says_not_running(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        let l = l.trim();
        (l.starts_with("CT ") || l.starts_with("VM ")) && l.ends_with(" not running")
    })
}

/// `pct exec` on a stopped container: `container '<vmid>' not running!`
pub fn exec_says_not_running(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        let l = l.trim();
        l.starts_with("container '") && l.ends_with("' not running!")
    })
}

/// `CT is locked (<lock>)`: the lock's name.
pub fn locked_by(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        let rest = &l[l.find("CT is locked (")? + "CT is locked (".len()..];
        Some(rest.split(')').next()?.to_string())
    })
}

/// `can't remove CT <vmid> - protection mode enabled`
pub fn says_protected(stderr: &str) -> bool {
    stderr.contains("protection mode enabled")
}

/// What `pct create` gets, taken from the `[container]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
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
    /// `dhcp` or an address in CIDR form.
    pub ip: String,
    pub gateway: Option<String>,
    pub unprivileged: bool,
    pub onboot: bool,
}

impl CreateSpec {
    pub fn from_container(c: &Container, template: &str) -> Self {
        CreateSpec {
            vmid: c.vmid,
            template: template.to_string(),
            hostname: c.hostname.clone(),
            memory_mb: c.memory_mb,
            swap_mb: c.swap_mb,
            cores: c.cores,
            storage: c.storage.clone(),
            disk_gb: c.disk_gb,
            bridge: c.bridge.clone(),
            ip: c.ip.clone(),
            gateway: c.gateway.clone(),
            unprivileged: c.unprivileged,
            onboot: c.onboot,
        }
    }

    fn is_dhcp(&self) -> bool {
        self.ip.eq_ignore_ascii_case("dhcp")
    }

    /// `name=eth0,bridge=vmbr0,ip=dhcp` or `name=eth0,bridge=vmbr0,ip=<cidr>,gw=<gateway>`.
    pub fn net0(&self) -> String {
        let mut net = format!("name=eth0,bridge={}", self.bridge);
        if self.is_dhcp() {
            net.push_str(",ip=dhcp");
        } else {
            net.push_str(&format!(",ip={}", self.ip));
            if let Some(gw) = &self.gateway {
                net.push_str(&format!(",gw={gw}"));
            }
        }
        net
    }

    /// Docker needs `nesting=1,keyctl=1` unprivileged; keyctl has no effect privileged.
    pub fn features(&self) -> &'static str {
        if self.unprivileged {
            "nesting=1,keyctl=1"
        } else {
            "nesting=1"
        }
    }
}

/// `pct create <vmid> <template> --hostname … --unprivileged 1 --features nesting=1,keyctl=1`:
/// every boolean with an explicit value (older Proxmox defaults to privileged).
pub fn create(spec: &CreateSpec) -> String {
    let vmid = spec.vmid.to_string();
    let memory = spec.memory_mb.to_string();
    let swap = spec.swap_mb.to_string();
    let cores = spec.cores.to_string();
    let rootfs = format!("{}:{}", spec.storage, spec.disk_gb);
    let net0 = spec.net0();
    let flag = |b: bool| if b { "1" } else { "0" };
    join(&[
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
    ])
}

/// `unable to create CT <vmid> - <reason>`: the reason.
pub fn create_failure(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("unable to create CT ")?;
        Some(rest.split_once(" - ").map_or(rest, |(_, r)| r).to_string())
    })
}

/// `CT <vmid> already exists on node '<node>'` (or `VM …`)
pub fn says_already_exists(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        let l = l.trim();
        (l.starts_with("CT ") || l.starts_with("VM ")) && l.contains(" already exists on node '")
    })
}

/// Splits a property string (`name=eth0,bridge=vmbr0,ip=dhcp`) into key/value pairs. A part
/// without `=` is the value of `default_key` (`local-lvm:vm-100-disk-0,size=8G`).
pub fn parse_property_string(text: &str, default_key: &str) -> BTreeMap<String, String> {
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
pub struct Net {
    pub name: Option<String>,
    pub bridge: Option<String>,
    pub ip: Option<String>,
    pub gw: Option<String>,
    pub hwaddr: Option<String>,
    /// Every key of the property string, the ones above included.
    pub all: BTreeMap<String, String>,
}

pub fn parse_net(text: &str) -> Net {
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
pub struct Rootfs {
    pub volume: String,
    /// The storage part of the volume id (`local-lvm`).
    pub storage: String,
    /// `size=` as written (`16G`).
    pub size: Option<String>,
    pub size_bytes: Option<u64>,
}

/// The output of `pct config <vmid>`: `key: value` lines, then the raw `lxc.*` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PctConfig {
    pub entries: BTreeMap<String, String>,
    /// Raw `lxc.*` lines in file order.
    pub lxc: Vec<(String, String)>,
}

/// Parses `pct config` output (also accepts the on-disk format's `lxc.key = value`). Stops at
/// the first `[section]`, so snapshot and pending sections are not mixed in.
pub fn parse_config(text: &str) -> PctConfig {
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
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }
    pub fn hostname(&self) -> Option<&str> {
        self.get("hostname")
    }
    fn number(&self, key: &str) -> Option<u32> {
        self.get(key)?.parse().ok()
    }
    /// MiB; Proxmox writes 512 when unset.
    pub fn memory_mb(&self) -> Option<u32> {
        self.number("memory")
    }
    /// MiB; Proxmox writes 512 when unset.
    pub fn swap_mb(&self) -> Option<u32> {
        self.number("swap")
    }
    /// None means every host core.
    pub fn cores(&self) -> Option<u32> {
        self.number("cores")
    }
    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(parse_bool)
    }
    pub fn onboot(&self) -> bool {
        self.flag("onboot")
    }
    /// Absent means privileged.
    pub fn unprivileged(&self) -> bool {
        self.flag("unprivileged")
    }
    pub fn protection(&self) -> bool {
        self.flag("protection")
    }
    pub fn lock(&self) -> Option<&str> {
        self.get("lock")
    }
    pub fn net0(&self) -> Option<Net> {
        self.get("net0").map(parse_net)
    }
    /// `features: nesting=1,keyctl=1` as a map.
    pub fn features(&self) -> BTreeMap<String, String> {
        self.get("features")
            .map(|f| parse_property_string(f, "features"))
            .unwrap_or_default()
    }
    pub fn rootfs(&self) -> Option<Rootfs> {
        let props = parse_property_string(self.get("rootfs")?, "volume");
        let volume = props.get("volume")?.clone();
        let size = props.get("size").cloned();
        Some(Rootfs {
            storage: volume.split(':').next().unwrap_or_default().to_string(),
            size_bytes: size.as_deref().and_then(super::parse_size),
            size,
            volume,
        })
    }
    /// True when a raw `lxc.*` line with this key and value is present.
    pub fn has_lxc(&self, key: &str, value: &str) -> bool {
        self.lxc.iter().any(|(k, v)| k == key && v == value)
    }
}

/// One setting where the container differs from the config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
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
pub fn drift(actual: &PctConfig, wanted: &CreateSpec) -> Vec<Drift> {
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
    let want_ip = if wanted.is_dhcp() {
        "dhcp".to_string()
    } else {
        wanted.ip.clone()
    };
    diff("ip", show(net.ip.as_deref()), want_ip);
    let want_gw = if wanted.is_dhcp() {
        None
    } else {
        wanted.gateway.clone()
    };
    diff("gateway", show(net.gw.as_deref()), show(want_gw.as_deref()));
    diff("bridge", show(net.bridge.as_deref()), wanted.bridge.clone());

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
    use super::*;

    fn spec() -> CreateSpec {
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
            ip: "dhcp".into(),
            gateway: None,
            unprivileged: true,
            onboot: true,
        }
    }

    #[test]
    fn simple_commands() {
        assert_eq!(status(210), "pct status 210");
        assert_eq!(config(210), "pct config 210");
        assert_eq!(start(210), "pct start 210");
        assert_eq!(stop(210), "pct stop 210");
        assert_eq!(shutdown(210, 60), "pct shutdown 210 --timeout 60");
        assert_eq!(reboot(210, 60), "pct reboot 210 --timeout 60");
        assert_eq!(destroy(210), "pct destroy 210 --purge 1");
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
            ip: "192.168.1.100/24".into(),
            gateway: Some("192.168.1.1".into()),
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

    #[test]
    fn exec_variants() {
        assert_eq!(
            exec(210, &["docker", "compose", "version"]),
            "pct exec 210 -- docker compose version"
        );
        assert_eq!(
            exec_sh(210, "apt-get update && apt-get install -y curl"),
            "pct exec 210 -- sh -c 'apt-get update && apt-get install -y curl'"
        );
        assert_eq!(
            exec_sh(210, "echo it's $HOME"),
            "pct exec 210 -- sh -c 'echo it'\\''s $HOME'"
        );
        assert_eq!(
            ipv4_probe(210),
            "pct exec 210 -- ip -4 -o addr show dev eth0"
        );
    }

    /// Two real shells (the host's, then `sh -c` inside) give back the script's argument verbatim.
    #[test]
    fn exec_sh_survives_two_shells() {
        let hostile = "it's \"q\" $(touch /tmp/pxdeploy-pct-pwned); `id` \n x";
        let script = join(&["printf", "%s", hostile]);
        let line = exec_sh(210, &script);
        let after_host_shell = line.strip_prefix("pct exec 210 -- ").unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(after_host_shell)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), hostile);
        assert!(!std::path::Path::new("/tmp/pxdeploy-pct-pwned").exists());
    }

    #[test]
    fn push_command() {
        assert_eq!(
            push(210, "/tmp/px env", "/opt/app/.env", Some("0600")),
            "pct push 210 '/tmp/px env' /opt/app/.env --perms 0600"
        );
        assert_eq!(push(210, "/tmp/a", "/b", None), "pct push 210 /tmp/a /b");
    }

    #[test]
    fn raw_line_goes_before_the_first_section() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("210.conf");
        std::fs::write(
            &conf,
            "arch: amd64\nhostname: myapp\n\n[pve:pending]\nmemory: 1024\n\n[snap1]\nhostname: old\n",
        )
        .unwrap();
        let cmd = add_raw_line(210, APPARMOR_UNCONFINED);
        assert!(
            cmd.starts_with("sh -c 'set -e; conf=/etc/pve/lxc/210.conf; line="),
            "{cmd}"
        );
        let local = cmd.replace("/etc/pve/lxc/210.conf", conf.to_str().unwrap());
        for _ in 0..2 {
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(&local)
                .status()
                .unwrap();
            assert!(st.success());
        }
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "arch: amd64\nhostname: myapp\n\nlxc.apparmor.profile: unconfined\n[pve:pending]\nmemory: 1024\n\n[snap1]\nhostname: old\n"
        );
        std::fs::write(&conf, "arch: amd64\n").unwrap();
        assert!(std::process::Command::new("sh")
            .arg("-c")
            .arg(&local)
            .status()
            .unwrap()
            .success());
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "arch: amd64\nlxc.apparmor.profile: unconfined\n"
        );
    }

    #[test]
    fn status_texts() {
        assert_eq!(parse_status("status: running\n"), Some(CtState::Running));
        assert_eq!(parse_status("status: stopped\n"), Some(CtState::Stopped));
        assert_eq!(
            parse_status("cpus: 2\ndisk: 0\nname: web01\nstatus: stopped\nswap: 0\n"),
            Some(CtState::Stopped)
        );
        assert_eq!(parse_status("status: unknown\n"), None);
        assert_eq!(parse_status(""), None);
        assert!(says_already_running("CT 210 already running\n"));
        assert!(says_not_running("CT 210 not running\n"));
        assert!(says_not_running("VM 210 not running\n"));
        assert!(!says_not_running("container '210' not running!\n"));
        assert!(exec_says_not_running("container '210' not running!\n"));
        assert!(!exec_says_not_running("CT 210 not running\n"));
        assert_eq!(locked_by("CT is locked (backup)\n"), Some("backup".into()));
        assert_eq!(locked_by("container did not stop\n"), None);
        assert!(says_protected(
            "can't remove CT 210 - protection mode enabled\n"
        ));
        assert!(says_already_exists("CT 150 already exists on node 'pve'\n"));
        assert_eq!(
            create_failure("unable to create CT 109 - can't find file 'local:vztmpl/x.tar.zst'\n"),
            Some("can't find file 'local:vztmpl/x.tar.zst'".into())
        );
    }

    #[test]
    fn ipv4_from_ip_addr() {
        let out = "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global dynamic eth0\\       valid_lft 86379sec preferred_lft 86379sec\n";
        assert_eq!(parse_ipv4(out), Some("10.0.0.5".into()));
        assert_eq!(parse_ipv4(""), None);
    }

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
            ip: "192.168.1.100/24".into(),
            gateway: Some("192.168.1.1".into()),
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
}
