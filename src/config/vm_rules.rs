//! The checks of `[vm]`, and of the keys `[container]` shares with it (`vlan`,
//! `nameserver`, `tags`): every problem named by its key, as in `validate`.

use std::net::IpAddr;

use super::problem::Problem;
use super::rules::{check_dns_name, parse_ip_config};
use super::validate::{bridge, cores, disk_gb, memory_mb, node, storage_id, vmid};
use super::vm::{ImageKey, UrlImage};
use super::{ChecksumAlgorithm, Config, GuestSpec, VmImage};

/// `[vm]`: fills `image` and `network` on the way.
pub(super) fn validate(cfg: &mut Config, vmid_given: bool, problems: &mut Vec<Problem>) {
    let GuestSpec::Vm(v) = &mut cfg.guest else {
        return;
    };
    vmid("vm", v.vmid, vmid_given, problems);
    if let Err(why) = check_dns_name(&v.name) {
        problems.push(Problem::new(
            "vm.name",
            format!("{:?} is not a valid DNS name: {why}", v.name),
        ));
    }
    node("vm", v.node.as_deref(), problems);
    match image(&v.image_key) {
        Ok(image) => v.image = image,
        Err(p) => problems.push(p),
    }
    storage_id("vm.image_storage", &v.image_storage, problems);
    storage_id("vm.storage", &v.storage, problems);
    storage_id("vm.snippets_storage", &v.snippets_storage, problems);
    disk_gb("vm", v.disk_gb, problems);
    memory_mb("vm", v.memory_mb, problems);
    cores("vm", v.cores, problems);
    bridge("vm", &v.bridge, problems);
    shared("vm", v.vlan, v.nameserver.as_deref(), &v.tags, problems);
    if !is_user_name(&v.user) {
        problems.push(Problem::new(
            "vm.user",
            format!("{:?} is not a user name: 1–32 lowercase letters, digits, `_` and `-`, starting with a letter or `_`", v.user),
        ));
    } else if v.user == "root" {
        problems.push(
            Problem::new(
                "vm.user",
                "\"root\": pxdeploy logs in as an ordinary user and runs commands with sudo",
            )
            .hint("keep the default `pxdeploy` or name another user"),
        );
    }
    match parse_ip_config("vm", &v.ip, v.gateway.as_deref()) {
        Ok(network) => v.network = network,
        Err((field, why)) => problems.push(Problem::new(field, why)),
    }
}

/// `vlan`, `nameserver` and `tags` of `[<section>]`.
pub(super) fn shared(
    section: &str,
    vlan: Option<u16>,
    nameserver: Option<&str>,
    tags: &[String],
    problems: &mut Vec<Problem>,
) {
    if let Some(tag) = vlan.filter(|t| !(1..=4094).contains(t)) {
        problems.push(Problem::new(
            format!("{section}.vlan"),
            format!("{tag} is out of range: a VLAN tag is 1–4094"),
        ));
    }
    if let Some(ns) = nameserver {
        let bad: Vec<&str> = ns
            .split_whitespace()
            .filter(|a| a.parse::<IpAddr>().is_err())
            .collect();
        if ns.trim().is_empty() || !bad.is_empty() {
            problems.push(Problem::new(
                format!("{section}.nameserver"),
                format!("{ns:?} is not a list of IP addresses separated by spaces (like \"1.1.1.1 9.9.9.9\")"),
            ));
        }
    }
    for tag in tags {
        if !is_tag(tag) {
            problems.push(Problem::new(
                format!("{section}.tags"),
                format!("{tag:?} is not a Proxmox tag: lowercase letters, digits, `_`, then also `-`, `+` and `.`"),
            ));
        }
    }
}

/// Proxmox's tag format: `[a-z0-9_][a-z0-9_\-+.]*` (pve-common `pve-tag`, matched
/// case-insensitively there; pxdeploy asks for lower case, as Proxmox stores them).
fn is_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-+.".contains(c))
}

/// A Linux user name cloud-init can create: `[a-z_][a-z0-9_-]{0,31}`.
fn is_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// `image`: a catalogue name, a volume id (`<storage>:import/<file>` or `<storage>:iso/<file>`),
/// or an https URL (http only to the loopback, for tests) with a sha256 or sha512.
fn image(key: &ImageKey) -> Result<VmImage, Problem> {
    let names = super::catalogue::NAMES.join(", ");
    match key {
        ImageKey::Name(name) if super::catalogue::NAMES.contains(&name.as_str()) => {
            Ok(VmImage::Catalogue(name.clone()))
        }
        ImageKey::Name(name) if name.contains(':') => volume(name).map(VmImage::Volume),
        ImageKey::Name(name) => Err(Problem::new(
            "vm.image",
            format!("{name:?} is not in pxdeploy's catalogue ({names})"),
        )
        .hint("name one of the catalogue's images, a volume id already on the node (`local:import/<file>.qcow2`), or { url = \"https://…\", sha512 = \"…\" }")),
        ImageKey::Url(u) => url_image(u),
    }
}

fn volume(id: &str) -> Result<String, Problem> {
    let bad = || {
        Problem::new(
            "vm.image",
            format!("{id:?} is not a volume id of an image: use `<storage>:import/<file>` or `<storage>:iso/<file>`"),
        )
    };
    let (storage, rest) = id.split_once(':').ok_or_else(bad)?;
    let mut storage_problems = Vec::new();
    storage_id("vm.image", storage, &mut storage_problems);
    let file = rest
        .strip_prefix("import/")
        .or_else(|| rest.strip_prefix("iso/"))
        .ok_or_else(bad)?;
    let file_ok = !file.is_empty()
        && !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.+=_".contains(c));
    if !storage_problems.is_empty() || !file_ok {
        return Err(bad());
    }
    Ok(id.to_string())
}

fn url_image(u: &UrlImage) -> Result<VmImage, Problem> {
    let url = u.url.as_str();
    let loopback = |rest: &str| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
    };
    let ok = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => !rest.is_empty(),
        (None, Some(rest)) => loopback(rest),
        _ => false,
    };
    if !ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::new(
            "vm.image.url",
            format!("{url:?} is not an https:// URL (http:// only to 127.0.0.0/8 or ::1)"),
        ));
    }
    let (algorithm, checksum) = match (&u.sha256, &u.sha512) {
        (Some(h), None) => (ChecksumAlgorithm::Sha256, h),
        (None, Some(h)) => (ChecksumAlgorithm::Sha512, h),
        (None, None) => {
            return Err(Problem::new(
                "vm.image",
                "an image URL needs its checksum: add `sha256 = \"…\"` or `sha512 = \"…\"` (from the publisher's checksum list)",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                "vm.image",
                "give one checksum, `sha256` or `sha512`, not both",
            ))
        }
    };
    let key = format!("vm.image.{}", algorithm.as_str());
    if checksum.len() != algorithm.hex_len() || !checksum.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Problem::new(
            key,
            format!(
                "is not a {} checksum: {} hexadecimal digits",
                algorithm.as_str(),
                algorithm.hex_len()
            ),
        ));
    }
    Ok(VmImage::Url {
        url: url.to_string(),
        algorithm,
        checksum: checksum.to_ascii_lowercase(),
    })
}
