//! Validation of a parsed configuration: every rule, every problem collected (not just the
//! first), each naming its key. Runs before any connection; only reads local files (the
//! compose file, an explicit identity file).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Deserialize;

use super::{Config, IpConfig};

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The key, dotted: `container.vmid`, `env.secrets.API_KEY`.
    pub field: String,
    /// What is wrong, in plain words (never a secret value).
    pub detail: String,
    /// The fix, when there is one worth saying.
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            detail: detail.into(),
            hint: None,
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

pub const VMID_MIN: u32 = 100;
pub const VMID_MAX: u32 = 999_999_999;
pub const SECRET_MIN: usize = 16;
pub const SECRET_MAX: usize = 4096;
pub const COMPRESS: &[&str] = &["0", "1", "gzip", "lzo", "zstd"];

/// Checks every rule; fills `compose_services` and the `remote_dir` default on the way.
/// `vmid_given`: whether the file or the environment gave `container.vmid` at all.
pub(super) fn validate(cfg: &mut Config, vmid_given: bool, problems: &mut Vec<Problem>) {
    proxmox(cfg, problems);
    container(cfg, vmid_given, problems);
    app(cfg, problems);
    env(cfg, problems);
    health(cfg, problems);
    backup(cfg, problems);
}

fn proxmox(cfg: &Config, problems: &mut Vec<Problem>) {
    let p = &cfg.proxmox;
    if p.host.trim().is_empty() {
        problems.push(
            Problem::new("proxmox.host", "missing: set `host` under [proxmox], or PROXMOX_HOST")
                .hint("`host` is the Proxmox node: a name, an IP address, or a Host alias from ~/.ssh/config"),
        );
    } else if p.host.chars().any(|c| c.is_whitespace() || c.is_control()) || p.host.starts_with('-')
    {
        problems.push(Problem::new(
            "proxmox.host",
            format!(
                "{:?} is not a host name, IP address or ~/.ssh/config alias",
                p.host
            ),
        ));
    }
    if let Some(user) = &p.user {
        if user.is_empty()
            || user
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            problems.push(Problem::new(
                "proxmox.user",
                format!("{user:?} is not a user name"),
            ));
        }
    }
    if p.port == Some(0) {
        problems.push(Problem::new("proxmox.port", "must be 1–65535, not 0"));
    }
    if let Some(key) = &p.identity_file {
        if !key.is_file() {
            problems.push(
                Problem::new(
                    "proxmox.identity_file",
                    format!("{} does not exist or is not a file", key.display()),
                )
                .hint("point it at your private key (e.g. ~/.ssh/id_ed25519), or remove it to use ssh-agent and the default keys"),
            );
        }
    }
    if p.connect_timeout_secs == 0 {
        problems.push(Problem::new(
            "proxmox.connect_timeout_secs",
            "must be at least 1 (seconds)",
        ));
    }
}

fn container(cfg: &Config, vmid_given: bool, problems: &mut Vec<Problem>) {
    let c = &cfg.container;
    // A bad PROXMOX_CONTAINER_ID was reported already.
    if !problems.iter().any(|p| p.field == "container.vmid") {
        if !vmid_given {
            problems.push(
                Problem::new("container.vmid", "missing: set `vmid` under [container], or PROXMOX_CONTAINER_ID")
                    .hint("pick a free id, 100–999999999 (`pvesh get /cluster/nextid` on the node prints one)"),
            );
        } else if !(VMID_MIN..=VMID_MAX).contains(&c.vmid) {
            problems.push(Problem::new(
                "container.vmid",
                format!(
                    "{} is out of range: Proxmox ids are {VMID_MIN}–{VMID_MAX}",
                    c.vmid
                ),
            ));
        }
    }
    if let Err(why) = check_dns_name(&c.hostname) {
        problems.push(Problem::new(
            "container.hostname",
            format!("{:?} is not a valid DNS name: {why}", c.hostname),
        ));
    }
    if let Err(why) = check_template(&c.template) {
        problems.push(Problem::new("container.template", why));
    }
    storage_id("container.template_storage", &c.template_storage, problems);
    storage_id("container.storage", &c.storage, problems);
    if c.disk_gb == 0 {
        problems.push(Problem::new(
            "container.disk_gb",
            "must be greater than 0 (GiB)",
        ));
    }
    if c.memory_mb < 16 {
        problems.push(Problem::new(
            "container.memory_mb",
            format!(
                "{} is too small: Proxmox needs at least 16 (MiB)",
                c.memory_mb
            ),
        ));
    }
    if c.cores == 0 || c.cores > 8192 {
        problems.push(Problem::new(
            "container.cores",
            format!("{} is out of range: Proxmox allows 1–8192", c.cores),
        ));
    }
    let bridge_ok = !c.bridge.is_empty()
        && c.bridge.len() <= 15
        && c.bridge
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
    if !bridge_ok {
        problems.push(Problem::new(
            "container.bridge",
            format!(
                "{:?} is not a bridge name (1–15 letters, digits, `-`, `_`, `.`; e.g. vmbr0)",
                c.bridge
            ),
        ));
    }
    if let Err((field, why)) = parse_ip_config(&c.ip, c.gateway.as_deref()) {
        problems.push(Problem::new(field, why));
    }
    if c.docker_install.trim().is_empty() {
        problems.push(Problem::new(
            "container.docker_install",
            "empty: use \"script\", \"apt\", or a shell command of your own",
        ));
    }
}

fn app(cfg: &mut Config, problems: &mut Vec<Problem>) {
    let name = cfg.app.name.clone();
    if !is_project_name(&name) {
        problems.push(Problem::new(
            "app.name",
            format!(
                "{name:?} is not a valid Compose project name: use lowercase letters, digits, `-` and `_`, starting with a letter or digit"
            ),
        ));
    }

    match cfg.app.remote_dir.clone() {
        None => {
            if is_project_name(&name) {
                cfg.app.remote_dir = Some(format!("/opt/{name}"));
            }
        }
        Some(dir) => {
            let why = if !dir.starts_with('/') {
                Some("must be an absolute path (like /opt/myapp)")
            } else if dir.split('/').any(|part| part == "..") {
                Some("must not contain `..`")
            } else if dir.trim_end_matches('/').is_empty() {
                Some("must not be `/`: the app needs a directory of its own")
            } else if dir.chars().any(char::is_control) {
                Some("must not contain control characters or newlines")
            } else {
                None
            };
            match why {
                Some(why) => {
                    problems.push(Problem::new("app.remote_dir", format!("{dir:?} {why}")))
                }
                None => {
                    let trimmed = dir.trim_end_matches('/').to_string();
                    cfg.app.remote_dir = Some(trimmed);
                }
            }
        }
    }

    let source = cfg.source_dir();
    if !source.is_dir() {
        problems.push(
            Problem::new(
                "app.source",
                format!(
                    "{} is not a directory (app.source is relative to the config file's folder)",
                    source.display()
                ),
            )
            .hint("set `source` under [app] to the directory that holds your compose file"),
        );
        return;
    }
    super::compose_check::compose_files(cfg, &source, problems);
}

fn env(cfg: &Config, problems: &mut Vec<Problem>) {
    for (name, &len) in &cfg.env.secrets {
        if !is_env_name(name) {
            problems.push(bad_env_name("env.secrets", name));
        }
        if len < SECRET_MIN {
            problems.push(Problem::new(
                format!("env.secrets.{name}"),
                format!("length {len} is too short: a secret under {SECRET_MIN} characters can be guessed; use {SECRET_MIN}–{SECRET_MAX}"),
            ));
        } else if len > SECRET_MAX {
            problems.push(Problem::new(
                format!("env.secrets.{name}"),
                format!("length {len} is too long: use {SECRET_MIN}–{SECRET_MAX}"),
            ));
        }
    }
    for name in cfg.env.values.keys() {
        if !is_env_name(name) {
            problems.push(bad_env_name("env.values", name));
        }
        if cfg.env.secrets.contains_key(name) {
            problems.push(Problem::new(
                format!("env.values.{name}"),
                format!("{name} is also in [env.secrets]: a key is either generated once or set on every deploy, not both"),
            ));
        }
    }
}

fn bad_env_name(table: &str, name: &str) -> Problem {
    Problem::new(
        format!("{table}.{name}"),
        format!("{name:?} is not a valid environment variable name: use letters, digits and `_`, not starting with a digit"),
    )
}

fn health(cfg: &Config, problems: &mut Vec<Problem>) {
    let h = &cfg.health;
    if let Some(services) = &h.services {
        let mut seen = BTreeSet::new();
        // Only when the compose file was read: otherwise that problem was reported already.
        let known = !cfg.compose_services.is_empty();
        for service in services {
            if !seen.insert(service) {
                problems.push(Problem::new(
                    "health.services",
                    format!("{service:?} is listed twice"),
                ));
            } else if let Some(off) = cfg
                .compose
                .service(service)
                .filter(|s| known && !cfg.compose_services.contains(service) && s.replicas > 0)
            {
                problems.push(Problem::new(
                    "health.services",
                    format!(
                        "{service:?} is only in profile(s) {} of the compose file, none of them in app.profiles: it is not started",
                        off.profiles.join(", ")
                    ),
                ));
            } else if known && !cfg.compose_services.contains(service) {
                problems.push(Problem::new(
                    "health.services",
                    format!(
                        "{service:?} is not a service of {} (it has: {})",
                        cfg.compose_path().display(),
                        cfg.compose_services.join(", ")
                    ),
                ));
            }
        }
    }
    if h.timeout_secs == 0 {
        problems.push(Problem::new(
            "health.timeout_secs",
            "must be at least 1 (seconds)",
        ));
    }
    if h.interval_secs == 0 {
        problems.push(Problem::new(
            "health.interval_secs",
            "must be at least 1 (seconds)",
        ));
    }
}

fn backup(cfg: &Config, problems: &mut Vec<Problem>) {
    let b = &cfg.backup;
    storage_id("backup.storage", &b.storage, problems);
    if !COMPRESS.contains(&b.compress.as_str()) {
        problems.push(Problem::new(
            "backup.compress",
            format!("{:?} is not one of {}", b.compress, COMPRESS.join(", ")),
        ));
    }
    if b.keep_last == 0 {
        problems.push(Problem::new(
            "backup.keep_last",
            "must be at least 1: 0 would delete every backup, including the new one",
        ));
    }
}

/// A Proxmox storage id: `[a-z][a-z0-9._-]*[a-z0-9]` (pve-storage-id).
fn storage_id(field: &str, id: &str, problems: &mut Vec<Problem>) {
    let bytes = id.as_bytes();
    let ok = bytes.len() >= 2
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !bytes[bytes.len() - 1].is_ascii_uppercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b));
    if !ok {
        problems.push(Problem::new(
            field,
            format!("{id:?} is not a Proxmox storage id (like local or local-lvm)"),
        ));
    }
}

/// A template name prefix (`debian-12-standard`) or a full volume id (`local:vztmpl/…`).
fn check_template(template: &str) -> Result<(), String> {
    if template.trim().is_empty() {
        return Err("empty: use a name prefix like \"debian-12-standard\" or a volume id like \"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\"".into());
    }
    if template
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("{template:?} must not contain spaces"));
    }
    if let Some((storage, rest)) = template.split_once(':') {
        let file = rest.strip_prefix("vztmpl/").unwrap_or("");
        if storage.is_empty() || file.is_empty() || file.contains('/') {
            return Err(format!(
                "{template:?} is not a volume id: use \"<storage>:vztmpl/<file>\", or just a name prefix like \"debian-12-standard\""
            ));
        }
    }
    Ok(())
}

/// A DNS name: dot-separated labels of 1–63 characters `[a-z0-9-]`, no leading or trailing
/// hyphen, at most 253 characters in all.
pub(crate) fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "it is {} characters long; the limit is 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots, or a dot at an end)".into());
        }
        if label.len() > 63 {
            return Err(format!("the label {label:?} is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(if c.is_ascii_uppercase() {
                "use lowercase letters".to_string()
            } else {
                format!("{c:?} is not allowed: use lowercase letters, digits and `-`")
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("the label {label:?} starts or ends with `-`"));
        }
    }
    Ok(())
}

/// `ip` ("dhcp" or `a.b.c.d/n`) and `gateway` → [`IpConfig`]; on error, the key at fault and why.
pub(crate) fn parse_ip_config(
    ip: &str,
    gateway: Option<&str>,
) -> Result<IpConfig, (&'static str, String)> {
    if ip == "dhcp" {
        return match gateway {
            None => Ok(IpConfig::Dhcp),
            Some(_) => Err((
                "container.gateway",
                "set, but container.ip is \"dhcp\": DHCP brings its own gateway; remove the gateway or give a static ip".into(),
            )),
        };
    }
    let bad_ip = || {
        (
            "container.ip",
            format!("{ip:?} is neither \"dhcp\" nor an IPv4 address in CIDR form like \"192.168.1.100/24\""),
        )
    };
    let (addr, prefix) = ip.split_once('/').ok_or_else(bad_ip)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad_ip())?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_ip());
    }
    let prefix: u8 = match prefix.parse() {
        Ok(n @ 1..=32) => n,
        _ => {
            return Err((
                "container.ip",
                format!("{ip:?}: the prefix length must be 1–32"),
            ))
        }
    };
    let mask = u32::MAX << (32 - u32::from(prefix));
    let net = u32::from(addr) & mask;
    if prefix <= 30 {
        if u32::from(addr) == net {
            return Err((
                "container.ip",
                format!("{ip:?} is the network address of its subnet, not a host address"),
            ));
        }
        if u32::from(addr) == net | !mask {
            return Err((
                "container.ip",
                format!("{ip:?} is the broadcast address of its subnet, not a host address"),
            ));
        }
    }
    let Some(gw) = gateway else {
        return Err((
            "container.gateway",
            format!(
                "required with a static ip ({ip}): set it to the router's address in that subnet"
            ),
        ));
    };
    let gw_addr: Ipv4Addr = gw.parse().map_err(|_| {
        (
            "container.gateway",
            format!("{gw:?} is not an IPv4 address (no /prefix: like \"192.168.1.1\")"),
        )
    })?;
    if u32::from(gw_addr) & mask != net {
        return Err((
            "container.gateway",
            format!(
                "{gw} is outside the container's subnet {}/{prefix} (from container.ip {ip})",
                Ipv4Addr::from(net)
            ),
        ));
    }
    if gw_addr == addr {
        return Err((
            "container.gateway",
            format!("{gw} is the container's own address"),
        ));
    }
    Ok(IpConfig::Static {
        addr,
        prefix,
        gateway: gw_addr,
    })
}

/// Compose's project name rule: `[a-z0-9][a-z0-9_-]*`.
pub(crate) fn is_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The top-level `services:` keys of a compose file, in file order.
pub(crate) fn compose_services(path: &Path) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Top {
        #[serde(default)]
        services: Option<serde_norway::Mapping>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let top: Top = serde_norway::from_str(&text).map_err(|e| match e.location() {
        Some(loc) => format!(
            "{}:{}:{}: not a valid compose file: {e}",
            path.display(),
            loc.line(),
            loc.column()
        ),
        None => format!("{}: not a valid compose file: {e}", path.display()),
    })?;
    let services = top.services.unwrap_or_default();
    if services.is_empty() {
        return Err(format!(
            "{} has no `services:`; a compose file needs at least one service",
            path.display()
        ));
    }
    services
        .keys()
        .map(|k| {
            k.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{}: a service name is not a string: {k:?}", path.display()))
        })
        .collect()
}
