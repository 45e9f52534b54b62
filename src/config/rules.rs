//! The rules of single values (host, DNS name, template, paths, network, names, the
//! compose file's services), as pure functions: each says what is wrong, in plain words,
//! never with a value under `env`. [`super::validate`] applies them and names the key.

use std::net::Ipv4Addr;
use std::path::Path;

use serde::Deserialize;

use super::IpConfig;

/// What OpenSSH refuses in a host name or alias given on its command line (`ssh.c`,
/// `valid_hostname`), besides spaces and control characters; `@` belongs in `user`.
const HOST_FORBIDDEN: &str = "'`\"$\\;&<>|(){},@";

/// `proxmox.host`: a host name, an IP address, or an alias made only of the characters
/// OpenSSH accepts for one (no shell metacharacters, no leading `-`).
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    if host.starts_with('-') {
        return Err("it starts with `-`".into());
    }
    match host
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || HOST_FORBIDDEN.contains(*c))
    {
        Some('@') => Err("`@` is not allowed: give the user in `user` under [proxmox]".into()),
        Some(c) => Err(format!("{c:?} is not allowed in a host name")),
        None => Ok(()),
    }
}

/// `app.compose_file`: a relative path inside `app.source`, without `..`.
pub(crate) fn check_compose_file(file: &str) -> Result<(), &'static str> {
    let path = Path::new(file);
    if file.trim().is_empty() {
        Err("empty")
    } else if path.has_root() {
        Err("must be a path relative to app.source (like docker-compose.yml)")
    } else if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        Err("must not contain `..`: the compose file (and .env beside it) stays inside app.source")
    } else if file.chars().any(char::is_control) {
        Err("must not contain control characters or newlines")
    } else {
        Ok(())
    }
}

/// `remote_dir`, normalised (`.` and repeated `/` removed, no trailing `/`), or why not.
/// The root in any spelling (`/`, `/.`, `/./`, `/opt/..`) is refused.
pub(crate) fn check_remote_dir(dir: &str) -> Result<String, &'static str> {
    if !dir.starts_with('/') {
        return Err("must be an absolute path (like /opt/myapp)");
    }
    if dir.chars().any(char::is_control) {
        return Err("must not contain control characters or newlines");
    }
    let mut parts: Vec<&str> = Vec::new();
    let mut parent = false;
    for part in dir.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parent = true;
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("is the root directory `/`: the app needs a directory of its own");
    }
    if parent {
        return Err("must not contain `..`");
    }
    Ok(format!("/{}", parts.join("/")))
}

/// A template name prefix (`debian-12-standard`) or a full volume id (`local:vztmpl/…`).
pub(crate) fn check_template(template: &str) -> Result<(), String> {
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

/// `ip` ("dhcp" or `a.b.c.d/n`) and `gateway` of `[<section>]` (`container` or `vm`) →
/// [`IpConfig`]; on error, the key at fault and why. A container's static ip needs its
/// gateway (`pct`'s `gw=`); a VM's may go without (cloud-init's `ipconfig0` `gw` is optional).
pub(crate) fn parse_ip_config(
    section: &str,
    ip: &str,
    gateway: Option<&str>,
) -> Result<IpConfig, (String, String)> {
    let (ip_key, gw_key) = (format!("{section}.ip"), format!("{section}.gateway"));
    let guest = if section == "vm" { "VM" } else { "container" };
    if ip == "dhcp" {
        return match gateway {
            None => Ok(IpConfig::Dhcp),
            Some(_) => Err((
                gw_key,
                format!("set, but {ip_key} is \"dhcp\": DHCP brings its own gateway; remove the gateway or give a static ip"),
            )),
        };
    }
    let bad_ip = || {
        (
            ip_key.clone(),
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
        _ => return Err((ip_key, format!("{ip:?}: the prefix length must be 1–32"))),
    };
    let mask = u32::MAX << (32 - u32::from(prefix));
    let net = u32::from(addr) & mask;
    if prefix <= 30 {
        if u32::from(addr) == net {
            return Err((
                ip_key,
                format!("{ip:?} is the network address of its subnet, not a host address"),
            ));
        }
        if u32::from(addr) == net | !mask {
            return Err((
                ip_key,
                format!("{ip:?} is the broadcast address of its subnet, not a host address"),
            ));
        }
    }
    let Some(gw) = gateway else {
        if section == "vm" {
            return Ok(IpConfig::Static {
                addr,
                prefix,
                gateway: None,
            });
        }
        return Err((
            gw_key,
            format!(
                "required with a static ip ({ip}): set it to the router's address in that subnet"
            ),
        ));
    };
    let gw_addr: Ipv4Addr = gw.parse().map_err(|_| {
        (
            gw_key.clone(),
            format!("{gw:?} is not an IPv4 address (no /prefix: like \"192.168.1.1\")"),
        )
    })?;
    if u32::from(gw_addr) & mask != net {
        return Err((
            gw_key,
            format!(
                "{gw} is outside the {guest}'s subnet {}/{prefix} (from {ip_key} {ip})",
                Ipv4Addr::from(net)
            ),
        ));
    }
    if gw_addr == addr {
        return Err((gw_key, format!("{gw} is the {guest}'s own address")));
    }
    Ok(IpConfig::Static {
        addr,
        prefix,
        gateway: Some(gw_addr),
    })
}

/// Compose's project name rule: `[a-z0-9][a-z0-9_-]*`.
pub(crate) fn is_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The top-level `services:` keys of a compose file, in file order.
pub(crate) fn compose_services(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    compose_services_in(&text, path)
}

/// [`compose_services`] of a compose file's text; `path` is only shown.
pub(crate) fn compose_services_in(text: &str, path: &Path) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Top {
        #[serde(default)]
        services: Option<serde_norway::Mapping>,
    }
    let top: Top = serde_norway::from_str(text).map_err(|e| match e.location() {
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
