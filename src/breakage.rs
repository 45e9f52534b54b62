//! Known real-world breakages of Docker inside an LXC container on Proxmox: how each one
//! shows in an error and in the installed versions, what happened, and the ways out. One
//! table ([`KNOWN`]): the next breakage of this kind is one more entry. `docker compose up`
//! asks [`recognise`] about its error ([`crate::release::activate`]); `check` asks [`warnings`]
//! about the container's versions.

use crate::error::Result;
use crate::guest::{Guest, PctConfig};

/// One known breakage.
#[derive(Debug)]
pub(crate) struct Breakage {
    /// Every one of these appears in the error (case-insensitive).
    pub signs: &'static [&'static str],
    /// What happened, in a sentence.
    pub what: &'static str,
    /// The ways out; `{vmid}` stands for the container.
    pub ways_out: &'static [&'static str],
    /// The container's `runc` versions that break: `[from, to)`, an empty `to` for no end.
    pub runc: &'static [(&'static str, &'static str)],
    /// The node package (`pveversion -v`) from whose version on it no longer breaks.
    pub fixed_on_node: (&'static str, &'static str),
    /// A raw `lxc.*` line of the container's config that avoids it.
    pub avoided_by: (&'static str, &'static str),
}

/// The known breakages (docs/production.md, "Known breakage").
pub(crate) const KNOWN: &[Breakage] = &[Breakage {
    signs: &["ip_unprivileged_port_start", "permission denied"],
    what: "runc's fix for CVE-2025-52881 (runc 1.2.8, 1.3.3 and later) opens /proc/sys through a path that the AppArmor profile of Proxmox containers refuses, so Docker cannot start any container inside container {vmid} (opencontainers/runc#4968, moby/moby#51405)",
    ways_out: &[
        "install the fix on the node: `lxc-pve` 6.0.5-2 or newer (`apt update && apt full-upgrade` on the Proxmox host), then `pct reboot {vmid}`; runc itself cannot work around it",
        "or turn AppArmor off for this container: add `lxc.apparmor.profile: unconfined` to /etc/pve/lxc/{vmid}.conf, then `pct reboot {vmid}`. Its cost: AppArmor no longer confines anything in the container, so a process that escapes Docker and the LXC namespaces meets one layer of protection less (Proxmox: \"not recommended for production use\")",
    ],
    runc: &[("1.2.8", "1.3.0"), ("1.3.3", "")],
    fixed_on_node: ("lxc-pve", "6.0.5-2"),
    avoided_by: ("lxc.apparmor.profile", "unconfined"),
}];

/// The known breakage `error` (an error's text) shows, if any.
pub(crate) fn recognise(error: &str) -> Option<&'static Breakage> {
    let error = error.to_lowercase();
    KNOWN
        .iter()
        .find(|b| b.signs.iter().all(|s| error.contains(s)))
}

impl Breakage {
    /// What happened, for container `vmid`.
    pub(crate) fn what(&self, vmid: u32) -> String {
        self.what.replace("{vmid}", &vmid.to_string())
    }

    /// The ways out, numbered, one a line.
    pub(crate) fn ways_out(&self, vmid: u32) -> String {
        let ways: Vec<String> = self
            .ways_out
            .iter()
            .enumerate()
            .map(|(i, w)| format!("  {}. {}", i + 1, w.replace("{vmid}", &vmid.to_string())))
            .collect();
        format!("the known ways out:\n{}", ways.join("\n"))
    }

    /// Whether this `runc` version breaks.
    pub(crate) fn affects_runc(&self, version: &str) -> bool {
        self.runc.iter().any(|(from, to)| {
            newer_or_same(version, from) && (to.is_empty() || !newer_or_same(version, to))
        })
    }
}

/// A version as numbers to compare: `1.3.3-0ubuntu1` → [1, 3, 3, 0, 1]; a pre-release
/// (`1.4.0-rc.3`) sorts before its release.
fn version_key(v: &str) -> Vec<i64> {
    let mut key = Vec::new();
    let mut rest = v.trim();
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            key.push(rest[..digits].parse().unwrap_or(i64::MAX));
            rest = &rest[digits..];
        } else {
            if rest.starts_with("-rc") || rest.starts_with('~') {
                key.push(-1);
            }
            rest = &rest[rest.chars().next().map_or(1, char::len_utf8)..];
        }
    }
    key
}

/// `a` ≥ `b` as versions (missing parts count as 0, so `1.3` = `1.3.0` > `1.3.0-rc.1`).
fn newer_or_same(a: &str, b: &str) -> bool {
    let (a, b) = (version_key(a), version_key(b));
    let part = |k: &[i64], i: usize| k.get(i).copied().unwrap_or(0);
    let first_difference = (0..a.len().max(b.len()))
        .map(|i| part(&a, i).cmp(&part(&b, i)))
        .find(|o| o.is_ne());
    first_difference != Some(std::cmp::Ordering::Less)
}

/// `runc version 1.3.3` → `1.3.3`.
fn runc_version(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("runc version "))
        .map(str::trim)
}

/// `lxc-pve: 6.0.5-3` in `pveversion -v`.
pub(crate) fn node_package<'a>(text: &'a str, package: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (name, version) = l.split_once(':')?;
        (name.trim() == package).then(|| version.split_whitespace().next().unwrap_or(""))
    })
}

/// For `check`: the known breakages that hit the running container `vmid` with its runc
/// version, unless the node has the fix or the container's config avoids it. A container
/// that does not run (or has no runc yet) gives none.
pub(crate) fn warnings(guest: Guest<'_>, config: Option<&PctConfig>) -> Result<Vec<String>> {
    if guest.kind() == crate::guest::Kind::Vm {
        return Ok(Vec::new()); // a VM's runc runs under its own kernel, no AppArmor of the node
    }
    let (host, vmid) = (guest.host(), guest.id());
    let out = guest.probe(&["runc", "--version"])?;
    let text = out.stdout_str();
    let Some(runc) = runc_version(&text).filter(|_| out.status.success()) else {
        return Ok(Vec::new());
    };
    let node = host.probe("pveversion -v")?.stdout_str();
    let mut found = Vec::new();
    for b in KNOWN.iter().filter(|b| b.affects_runc(runc)) {
        let (package, fixed) = b.fixed_on_node;
        let on_node = node_package(&node, package);
        if on_node.is_some_and(|v| newer_or_same(v, fixed)) {
            continue;
        }
        let (key, value) = b.avoided_by;
        if config.is_some_and(|c| c.lxc.iter().any(|(k, v)| k == key && v.trim() == value)) {
            continue;
        }
        found.push(format!(
            "container {vmid} has runc {runc} and the node {}: {}; `docker compose up` will fail with `{}`. {}",
            match on_node {
                Some(v) => format!("{package} {v}"),
                None => format!("no {package} {fixed} or newer"),
            },
            b.what(vmid),
            b.signs.join("` … `"),
            b.ways_out(vmid)
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runc_error_is_recognised_and_others_are_not() {
        let err = "Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: open sysctl net.ipv4.ip_unprivileged_port_start file: reopen fd 8: permission denied: unknown";
        let b = recognise(err).expect("recognised");
        assert!(b.what(120).contains("CVE-2025-52881"));
        let ways = b.ways_out(120);
        assert!(ways.contains("lxc-pve` 6.0.5-2"), "{ways}");
        assert!(ways.contains("lxc.apparmor.profile: unconfined"), "{ways}");
        assert!(ways.contains("/etc/pve/lxc/120.conf"), "{ways}");
        assert!(recognise("error mounting \"proc\" to rootfs: permission denied").is_none());
        assert!(
            recognise("open sysctl net.ipv4.ip_unprivileged_port_start file: no such file")
                .is_none()
        );
    }

    #[test]
    fn affected_runc_versions() {
        let b = &KNOWN[0];
        for v in [
            "1.3.3",
            "1.3.4",
            "1.2.8",
            "1.2.9",
            "1.4.0",
            "1.3.3-0ubuntu1~22.04.2",
            "1.4.0-rc.3",
        ] {
            assert!(b.affects_runc(v), "{v}");
        }
        for v in ["1.3.2", "1.2.7", "1.1.15", "1.3.0", "1.3.3-rc.1"] {
            assert!(!b.affects_runc(v), "{v}");
        }
    }

    #[test]
    fn versions_are_read_from_the_tools_output() {
        assert_eq!(
            runc_version("runc version 1.3.3\ncommit: v1.3.3-0-gd842d77\nspec: 1.2.1\n"),
            Some("1.3.3")
        );
        let pve = "proxmox-ve: 9.2.0 (running kernel: 6.14.11-4-pve)\nlxc-pve: 6.0.5-3\nlxcfs: 6.0.4-pve1\n";
        assert_eq!(node_package(pve, "lxc-pve"), Some("6.0.5-3"));
        assert!(newer_or_same("6.0.5-3", "6.0.5-2"));
        assert!(newer_or_same("6.0.5-2", "6.0.5-2"));
        assert!(!newer_or_same("6.0.5-1", "6.0.5-2"));
        assert!(!newer_or_same("6.0.0-1", "6.0.5-2"));
        assert!(newer_or_same("6.1", "6.0.5-2"));
    }
}
