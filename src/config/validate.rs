//! Validation of a parsed configuration: every rule, every problem collected (not just the
//! first), each naming its key. Runs before any connection; only reads local files (the
//! compose file, an explicit identity file).

use std::collections::BTreeSet;

use super::problem::Problem;
use super::rules::{
    check_compose_file, check_dns_name, check_host, check_remote_dir, check_template,
    is_project_name, parse_ip_config,
};
use super::{Config, DockerInstall, GuestSpec};
use crate::envfile::valid_key;

pub(super) const VMID_MIN: u32 = 100;
pub(super) const VMID_MAX: u32 = 999_999_999;
pub(super) const SECRET_MIN: usize = 16;
pub(super) const SECRET_MAX: usize = 4096;
pub(super) const COMPRESS: &[&str] = &["0", "1", "gzip", "lzo", "zstd"];
/// Upper bounds of the time settings, in seconds (docs/configuration.md): far above any
/// sensible value, far below what overflows a deadline.
pub const CONNECT_TIMEOUT_MAX: u64 = 600;
pub(super) const HEALTH_TIMEOUT_MAX: u64 = 86_400;
pub(super) const HEALTH_INTERVAL_MAX: u64 = 3_600;

/// Checks every rule; fills `compose_services` and the `remote_dir` default on the way.
/// `vmid_given`: whether the file or the environment gave the guest's `vmid` at all; `None`
/// when the target has no guest section (reported already: its checks are skipped).
pub(super) fn validate(cfg: &mut Config, vmid_given: Option<bool>, problems: &mut Vec<Problem>) {
    proxmox(cfg, problems);
    if let Some(vmid_given) = vmid_given {
        container(cfg, vmid_given, problems);
        super::vm_rules::validate(cfg, vmid_given, problems);
    }
    app(cfg, problems);
    env(cfg, problems);
    health(cfg, problems);
    backup(cfg, problems);
    super::deploy::validate(&cfg.deploy, problems);
    super::production::validate(cfg, problems);
    if let Some(m) = &cfg.monitor {
        super::monitor::validate(m, problems);
    }
}

fn proxmox(cfg: &mut Config, problems: &mut Vec<Problem>) {
    match cfg.proxmox.jump.as_deref().map(super::parse_jump) {
        None => cfg.proxmox.jump_hosts = None,
        Some(Ok(hops)) => cfg.proxmox.jump_hosts = Some(hops),
        Some(Err(why)) => problems.push(
            Problem::new("proxmox.jump", why)
                .hint("`jump` is the bastion on the way to the node, as for `ssh -J`: `user@host:port`, a comma list for several hops, or `none`"),
        ),
    }
    let p = &cfg.proxmox;
    if p.host.trim().is_empty() {
        problems.push(
            Problem::new("proxmox.host", "missing: set `host` under [proxmox], or PROXMOX_HOST")
                .hint("`host` is the Proxmox node: a name, an IP address, or a Host alias from ~/.ssh/config"),
        );
    } else if let Err(why) = check_host(&p.host) {
        problems.push(Problem::new(
            "proxmox.host",
            format!(
                "{:?} is not a host name, IP address or ~/.ssh/config alias: {why}",
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
    seconds(
        "proxmox.connect_timeout_secs",
        p.connect_timeout_secs,
        CONNECT_TIMEOUT_MAX,
        problems,
    );
}

fn container(cfg: &mut Config, vmid_given: bool, problems: &mut Vec<Problem>) {
    let GuestSpec::Container(c) = &mut cfg.guest else {
        return;
    };
    vmid("container", c.vmid, vmid_given, problems);
    if let Err(why) = check_dns_name(&c.hostname) {
        problems.push(Problem::new(
            "container.hostname",
            format!("{:?} is not a valid DNS name: {why}", c.hostname),
        ));
    }
    node("container", c.node.as_deref(), problems);
    if let Err(why) = check_template(&c.template) {
        problems.push(Problem::new("container.template", why));
    }
    storage_id("container.template_storage", &c.template_storage, problems);
    storage_id("container.storage", &c.storage, problems);
    disk_gb("container", c.disk_gb, problems);
    memory_mb("container", c.memory_mb, problems);
    cores("container", c.cores, problems);
    bridge("container", &c.bridge, problems);
    super::vm_rules::shared(
        "container",
        c.vlan,
        c.nameserver.as_deref(),
        &c.tags,
        problems,
    );
    if c.docker_install == DockerInstall::Custom(String::new()) {
        problems.push(Problem::new(
            "container.docker_install",
            "empty: use \"script\", \"apt\", or a shell command of your own",
        ));
    }
    match parse_ip_config("container", &c.ip, c.gateway.as_deref()) {
        Ok(network) => c.network = network,
        Err((field, why)) => problems.push(Problem::new(field, why)),
    }
}

/// `<section>.vmid`: given, and a Proxmox id. A bad `PROXMOX_CONTAINER_ID` was reported already.
pub(super) fn vmid(section: &str, vmid: u32, given: bool, problems: &mut Vec<Problem>) {
    let field = format!("{section}.vmid");
    if problems.iter().any(|p| p.field == field) {
        return;
    }
    if !given {
        problems.push(
            Problem::new(field, format!("missing: set `vmid` under [{section}], or PROXMOX_CONTAINER_ID"))
                .hint("pick a free id, 100–999999999 (`pvesh get /cluster/nextid` on the node prints one)"),
        );
    } else if !(VMID_MIN..=VMID_MAX).contains(&vmid) {
        problems.push(Problem::new(
            field,
            format!("{vmid} is out of range: Proxmox ids are {VMID_MIN}–{VMID_MAX}"),
        ));
    }
}

/// `<section>.node`: a node name or `"auto"`.
pub(super) fn node(section: &str, node: Option<&str>, problems: &mut Vec<Problem>) {
    if let Some(node) = node {
        if node != "auto" && check_dns_name(node).is_err() {
            problems.push(Problem::new(
                format!("{section}.node"),
                format!("{node:?} is not a node name (a host name) or \"auto\""),
            ));
        }
    }
}

pub(super) fn disk_gb(section: &str, gb: u32, problems: &mut Vec<Problem>) {
    if gb == 0 {
        problems.push(Problem::new(
            format!("{section}.disk_gb"),
            "must be greater than 0 (GiB)",
        ));
    }
}

pub(super) fn memory_mb(section: &str, mb: u32, problems: &mut Vec<Problem>) {
    if mb < 16 {
        problems.push(Problem::new(
            format!("{section}.memory_mb"),
            format!("{mb} is too small: Proxmox needs at least 16 (MiB)"),
        ));
    }
}

pub(super) fn cores(section: &str, cores: u32, problems: &mut Vec<Problem>) {
    if cores == 0 || cores > 8192 {
        problems.push(Problem::new(
            format!("{section}.cores"),
            format!("{cores} is out of range: Proxmox allows 1–8192"),
        ));
    }
}

pub(super) fn bridge(section: &str, bridge: &str, problems: &mut Vec<Problem>) {
    let ok = !bridge.is_empty()
        && bridge.len() <= 15
        && bridge
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
    if !ok {
        problems.push(Problem::new(
            format!("{section}.bridge"),
            format!(
                "{bridge:?} is not a bridge name (1–15 letters, digits, `-`, `_`, `.`; e.g. vmbr0)"
            ),
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

    match cfg.app.remote_dir_key.clone() {
        None => {
            if is_project_name(&name) {
                cfg.app.remote_dir = format!("/opt/{name}");
            }
        }
        Some(dir) => match check_remote_dir(&dir) {
            Ok(normal) => cfg.app.remote_dir = normal,
            Err(why) => problems.push(Problem::new("app.remote_dir", format!("{dir:?} {why}"))),
        },
    }

    for file in cfg.app.compose_file.all() {
        if let Err(why) = check_compose_file(file) {
            problems.push(Problem::new("app.compose_file", format!("{file:?}: {why}")));
            return;
        }
    }
    let source = cfg.source_dir();
    if !source.is_dir() {
        if cfg.source_optional {
            return;
        }
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
    for (name, secret) in &cfg.env.secrets {
        if !valid_key(name) {
            problems.push(bad_env_name("env.secrets", name));
        }
        let Some(len) = secret.length() else {
            continue;
        };
        if len < SECRET_MIN {
            problems.push(Problem::new(
                format!("env.secrets.{name}"),
                format!("the length is too short (not shown: a mistyped secret could be a number): a secret under {SECRET_MIN} characters can be guessed; use {SECRET_MIN}–{SECRET_MAX}"),
            ));
        } else if len > SECRET_MAX {
            problems.push(Problem::new(
                format!("env.secrets.{name}"),
                format!("the length is too long (not shown: a mistyped secret could be a number): use {SECRET_MIN}–{SECRET_MAX}"),
            ));
        }
    }
    for name in cfg.env.values.keys() {
        if !valid_key(name) {
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
    seconds(
        "health.timeout_secs",
        h.timeout_secs,
        HEALTH_TIMEOUT_MAX,
        problems,
    );
    seconds(
        "health.interval_secs",
        h.interval_secs,
        HEALTH_INTERVAL_MAX,
        problems,
    );
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
    // pve-manager PVE/VZDump.pm:939-945: vzdump refuses stop mode for a started HA resource.
    if cfg.ha() && b.mode == super::BackupMode::Stop {
        let (section, noun) = (cfg.kind().as_str(), cfg.kind().noun());
        problems.push(
            Problem::new(
                "backup.mode",
                format!("\"stop\" with `[{section}] ha = true`: Proxmox refuses to stop an HA-managed {noun} for a backup, so every backup (and the scheduled job) would fail"),
            )
            .hint(format!("set `mode = \"snapshot\" or \"suspend\"` under [backup]: both back up a running {noun}")),
        );
    }
}

/// A Proxmox storage id: `[a-z][a-z0-9._-]*[a-z0-9]` (pve-storage-id).
pub(super) fn storage_id(field: &str, id: &str, problems: &mut Vec<Problem>) {
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

/// A time setting: 1–`max` seconds.
fn seconds(field: &str, value: u64, max: u64, problems: &mut Vec<Problem>) {
    if value == 0 {
        problems.push(Problem::new(field, "must be at least 1 (seconds)"));
    } else if value > max {
        problems.push(Problem::new(
            field,
            format!("{value} is too long: at most {max} seconds"),
        ));
    }
}
