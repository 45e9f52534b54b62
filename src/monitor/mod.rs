//! The watcher in the guest (`[monitor]`, docs/monitoring.md): a POSIX sh script
//! (`src/scripts/watch.sh`) that checks the app's containers, Docker and the root
//! filesystem every `interval_secs` and notifies on transitions. Here: where it lives in
//! the guest, the files `deploy` writes for it (its settings, its channels), and the marker
//! that tells whether the installed one is the wanted one. Installing and removing it is
//! [`apply`]; reading its state is [`state`].
//!
//! The channel URLs are secrets: they are held in [`Redacted`], reach the guest only on
//! the stdin of the install call (into a root-only 0600 file), and the watcher hands them
//! to curl on its stdin (`-K -`): never on a command line, in the node's or the guest's
//! `ps`.

pub(crate) mod apply;
pub(crate) mod state;
#[cfg(test)]
mod watch_fake;
#[cfg(test)]
mod watch_tests;

use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::{Channel, Config, Monitor};
use crate::envfile::Redacted;
use crate::error::{Error, Result};
use crate::remote::quote::quote;

/// The watcher, as installed (its file gets `#!/bin/sh` back).
pub(crate) const WATCHER: &str = crate::scripts::script!("watch.sh");

/// The folder of every project's watcher in the guest.
pub(crate) const ROOT: &str = "/var/lib/pxdeploy/monitor";

/// The watcher's folder of `project` in the guest.
pub(crate) fn dir(project: &str) -> String {
    format!("{ROOT}/{project}")
}

/// The systemd unit of `project`'s watcher.
pub(crate) fn unit(project: &str) -> String {
    format!("pxdeploy-monitor-{project}.service")
}

/// The file holding the hash of what is installed (read by every deploy's inspection).
pub(crate) fn marker(project: &str) -> String {
    format!("{}/installed", dir(project))
}

/// The version the watcher reports: pxdeploy's, and the watcher script's own hash.
pub(crate) fn version() -> String {
    let h = Sha256::digest(WATCHER.as_bytes());
    format!("{}+{}", env!("CARGO_PKG_VERSION"), &hex(&h)[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Each configured channel's URL, read now (the sourced ones from their source); errors
/// name the channel and the source, never the value.
pub(crate) fn read_urls(
    cfg: &Config,
    m: &Monitor,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(&'static str, Redacted<String>)>> {
    let dir = cfg.path.parent().unwrap_or(Path::new("."));
    let mut urls = Vec::new();
    for (name, channel) in m.channels() {
        let label = format!("[monitor] {name}");
        let url = match channel {
            Channel::Url(url) => url.clone(),
            Channel::Source(secret) => {
                let url = crate::secrets::read_one(&label, secret, dir, env)?;
                if let Some(why) = crate::config::url_problem(url.expose()) {
                    return Err(Error::config(format!(
                        "{label}: the value from {} {why} (it is not shown: it is a secret)",
                        secret.describe()
                    )));
                }
                url
            }
        };
        urls.push((name, url));
    }
    Ok(urls)
}

/// What a deploy wants in the guest: the settings (without the node: see
/// [`Wanted::settings`]), the channels file (secret) and the hash of all of it.
pub(crate) struct Wanted {
    pub project: String,
    interval: u64,
    disk_percent: u8,
    repeat_secs: u64,
    format: &'static str,
    target: String,
    guest: String,
    vmid: u32,
    pub channels: Redacted<String>,
    pub hash: String,
}

impl Wanted {
    pub(crate) fn new(
        cfg: &Config,
        m: &Monitor,
        urls: &[(&'static str, Redacted<String>)],
    ) -> Wanted {
        let channels: String = urls
            .iter()
            .map(|(name, url)| format!("{name} {}\n", url.expose()))
            .collect();
        let mut w = Wanted {
            project: cfg.app.name.clone(),
            interval: m.interval_secs,
            disk_percent: m.disk_percent,
            repeat_secs: m.repeat_hours * 3600,
            format: m.webhook_format.as_str(),
            target: cfg.target.clone().unwrap_or_else(|| cfg.app.name.clone()),
            guest: cfg.hostname().to_string(),
            vmid: cfg.vmid(),
            channels: Redacted::new(channels),
            hash: String::new(),
        };
        let mut h = Sha256::new();
        for part in [
            WATCHER,
            &w.settings(None),
            w.channels.expose(),
            &apply::unit_file(&w.project),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        w.hash = hex(&h.finalize());
        w
    }

    /// The watcher's `settings` (sourced by the watcher): `node` is the node the guest is
    /// on now (it is not part of the hash: reading it costs a call, paid only when the
    /// watcher is installed).
    pub(crate) fn settings(&self, node: Option<&str>) -> String {
        // The payload's fixed fields, in the documented order (a JSON object's members
        // without the braces: the watcher adds event, service, detail and time around them).
        let base = format!(
            "\"target\":{},\"guest\":{},\"vmid\":{},\"node\":{}",
            json!(self.target),
            json!(self.guest),
            self.vmid,
            json!(node)
        );
        let on = match node {
            Some(node) => format!("{} ({}, node {node})", self.guest, self.vmid),
            None => format!("{} ({})", self.guest, self.vmid),
        };
        [
            ("project", self.project.clone()),
            ("interval", self.interval.to_string()),
            ("disk_percent", self.disk_percent.to_string()),
            ("repeat_secs", self.repeat_secs.to_string()),
            ("format", self.format.to_string()),
            ("version", version()),
            ("title", self.target.clone()),
            ("text", format!("{} on {on}", self.target)),
            ("base", base.to_string()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}\n", quote(v)))
        .collect()
    }
}

/// How the watcher's script ran, for messages: `pct exec <id> -- sh -c …` on the node, or
/// `sh -c …` on a VM's own session.
pub(crate) fn ran(guest: crate::guest::Guest<'_>) -> String {
    match guest.kind() {
        crate::guest::Kind::Container => format!("`pct exec {} -- sh -c …`", guest.id()),
        crate::guest::Kind::Vm => format!("`sh -c …` in VM {}", guest.id()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(monitor: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  web:\n    image: x\n",
        )
        .unwrap();
        let text = format!(
            "[proxmox]\nhost = \"pve\"\n[container]\nvmid = 120\nhostname = \"app\"\n[app]\nname = \"app\"\n[monitor]\n{monitor}"
        );
        crate::config::parse_str(&text, &dir.path().join("pxdeploy.toml"), &|_| None).unwrap()
    }

    #[test]
    fn settings_are_shell_quoted_and_the_payload_base_is_json() {
        let c = cfg("webhook = \"https://h.example/x?t=1\"\nrepeat_hours = 2\n");
        let m = c.monitor.clone().unwrap();
        let urls = read_urls(&c, &m, &|_| None).unwrap();
        let w = Wanted::new(&c, &m, &urls);
        let s = w.settings(Some("pve1"));
        assert!(s.contains("repeat_secs=7200\n"), "{s}");
        assert!(
            s.contains(r#"base='"target":"app","guest":"app","vmid":120,"node":"pve1"'"#),
            "{s}"
        );
        assert!(!s.contains("h.example"), "no URL in the settings: {s}");
        assert_eq!(w.channels.expose(), "webhook https://h.example/x?t=1\n");
        // The node is not part of the hash; a URL is.
        let other = cfg("webhook = \"https://h.example/x?t=2\"\nrepeat_hours = 2\n");
        let m2 = other.monitor.clone().unwrap();
        let w2 = Wanted::new(&other, &m2, &read_urls(&other, &m2, &|_| None).unwrap());
        assert_ne!(w.hash, w2.hash);
        assert!(!format!("{:?}", c.monitor).contains("h.example"));
    }

    #[test]
    fn a_sourced_url_is_read_and_checked_without_showing_it() {
        let c = cfg("ntfy = { from_env = \"NTFY\" }\n");
        let m = c.monitor.clone().unwrap();
        let env = |v: &str| (v == "NTFY").then(|| "ftp://hunter2".to_string());
        let err = read_urls(&c, &m, &env).unwrap_err();
        let text = err.render();
        assert!(
            text.contains("[monitor] ntfy") && text.contains("not an http"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(err.exit_code(), 3);
        let err = read_urls(&c, &m, &|_| None).unwrap_err().render();
        assert!(err.contains("NTFY is not set"), "{err}");
    }
}
