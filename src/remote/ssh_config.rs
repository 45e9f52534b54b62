//! What the user's OpenSSH configuration says about a host, asked from `ssh -G` (so Match,
//! Include, patterns and tokens work exactly as for `ssh`).
//!
//! `ssh -G` prints every option, configured or not (user = the local user, identityfile =
//! the default list, …). To keep only what a config file really set, the output is compared
//! with `ssh -G -F /dev/null` for the same name: a value that differs came from a config
//! file. One value can't be told apart that way — `User` equal to the local user — so that
//! one counts as set only if the config file has a `User` line with that value.
//!
//! OpenSSH finds `~/.ssh/config` through the password database, not `$HOME`. pxdeploy
//! follows `$HOME` (tests set it): when it differs from the account's home, the file is
//! passed with `-F`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Options that a config file set for the host (unset options are `None`/empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// As written (`~` not expanded).
    pub identity_files: Vec<String>,
    pub identities_only: bool,
    pub user_known_hosts: Vec<String>,
    /// Always filled (from `ssh -G`, configured or default).
    pub global_known_hosts: Vec<String>,
    pub connect_timeout: Option<u64>,
    pub identity_agent: Option<String>,
    pub host_key_alias: Option<String>,
    pub hash_known_hosts: bool,
    /// `HostKeyAlgorithms`, when configured (the resolved list `ssh -G` prints).
    pub host_key_algorithms: Option<Vec<String>>,
    /// `RevokedHostKeys`, as written (`~` not expanded).
    pub revoked_host_keys: Option<String>,
    pub server_alive_interval: Option<u32>,
    pub proxy_jump: Option<String>,
    pub proxy_command: Option<String>,
}

type Dump = BTreeMap<String, Vec<String>>;

/// Asks the installed OpenSSH client about `alias`. `None` when no `ssh` is installed or
/// it fails (then the pxdeploy.toml values are used as given).
pub fn query(alias: &str, home: &Path) -> Option<HostConfig> {
    let baseline = ssh_g(&["-F", "/dev/null"], alias)?;
    let account_home = baseline
        .get("userknownhostsfile")
        .and_then(|v| v.first())
        .and_then(|f| f.strip_suffix("/.ssh/known_hosts"))
        .map(PathBuf::from);
    let user_file = home.join(".ssh/config");
    let (configured, files) = if account_home.as_deref() == Some(home) {
        (
            ssh_g(&[], alias)?,
            vec![user_file, PathBuf::from("/etc/ssh/ssh_config")],
        )
    } else if user_file.is_file() {
        let f = user_file.to_string_lossy().to_string();
        (ssh_g(&["-F", &f], alias)?, vec![user_file])
    } else {
        (baseline.clone(), Vec::new())
    };
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    Some(diff(&configured, &baseline, &texts))
}

fn ssh_g(extra: &[&str], alias: &str) -> Option<Dump> {
    let out = Command::new("ssh")
        .arg("-G")
        .args(extra)
        .arg("--")
        .arg(alias)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match out {
        Ok(out) if out.status.success() => Some(parse_dump(&String::from_utf8_lossy(&out.stdout))),
        Ok(out) => {
            tracing::warn!(
                "`ssh -G {alias}` failed, ignoring ~/.ssh/config: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "no OpenSSH client; ~/.ssh/config is not read");
            None
        }
    }
}

/// `key value…` lines; repeated keys (identityfile) collect every value.
pub fn parse_dump(text: &str) -> Dump {
    let mut map: Dump = BTreeMap::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        map.entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.trim().to_string());
    }
    map
}

/// Keeps what `configured` has and `baseline` (no config file) has not.
pub fn diff(configured: &Dump, baseline: &Dump, config_texts: &[String]) -> HostConfig {
    let changed = |key: &str| -> Option<&Vec<String>> {
        let c = configured.get(key)?;
        if baseline.get(key) == Some(c) {
            None
        } else {
            Some(c)
        }
    };
    let single = |key: &str| changed(key).and_then(|v| v.first().cloned());
    let words = |key: &str| -> Vec<String> {
        changed(key)
            .map(|v| {
                v.iter()
                    .flat_map(|s| s.split_whitespace().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let user = match single("user") {
        Some(u) => Some(u),
        None => configured
            .get("user")
            .and_then(|v| v.first())
            .filter(|u| config_texts.iter().any(|t| has_user_line(t, u)))
            .cloned(),
    };
    let not_none = |v: Option<String>| v.filter(|s| s != "none");
    HostConfig {
        hostname: single("hostname"),
        user,
        port: single("port").and_then(|p| p.parse().ok()),
        identity_files: changed("identityfile").cloned().unwrap_or_default(),
        identities_only: configured
            .get("identitiesonly")
            .and_then(|v| v.first())
            .map(String::as_str)
            == Some("yes"),
        user_known_hosts: words("userknownhostsfile"),
        global_known_hosts: configured
            .get("globalknownhostsfile")
            .map(|v| {
                v.iter()
                    .flat_map(|s| s.split_whitespace().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        connect_timeout: single("connecttimeout").and_then(|t| t.parse().ok()),
        identity_agent: not_none(single("identityagent")),
        host_key_alias: not_none(single("hostkeyalias")),
        hash_known_hosts: configured
            .get("hashknownhosts")
            .and_then(|v| v.first())
            .map(String::as_str)
            == Some("yes"),
        host_key_algorithms: single("hostkeyalgorithms").map(|list| {
            list.split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect()
        }),
        revoked_host_keys: not_none(single("revokedhostkeys")),
        server_alive_interval: single("serveraliveinterval")
            .and_then(|t| t.parse().ok())
            .filter(|n| *n > 0),
        proxy_jump: not_none(single("proxyjump")),
        proxy_command: not_none(single("proxycommand")),
    }
}

/// A `User <value>` (or `User=<value>`) line anywhere in the file.
fn has_user_line(text: &str, user: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        let Some(rest) = line
            .get(..4)
            .filter(|k| k.eq_ignore_ascii_case("user"))
            .map(|_| &line[4..])
        else {
            return false;
        };
        if !rest.starts_with([' ', '\t', '=']) {
            return false;
        }
        rest.trim_start_matches([' ', '\t', '='])
            .trim()
            .trim_matches('"')
            == user
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "user alice\nhostname pve\nport 22\nhashknownhosts no\nidentitiesonly no\nidentityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\nglobalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2\nuserknownhostsfile /home/alice/.ssh/known_hosts /home/alice/.ssh/known_hosts2\nconnecttimeout none\nserveraliveinterval 0\n";

    #[test]
    fn keeps_only_what_the_config_set() {
        let configured = BASE
            .replace("hostname pve", "hostname 10.0.0.5")
            .replace("port 22", "port 2222")
            .replace(
                "identityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\n",
                "identityfile ~/.ssh/pve\n",
            )
            .replace("connecttimeout none", "connecttimeout 3");
        let c = diff(&parse_dump(&configured), &parse_dump(BASE), &[]);
        assert_eq!(c.hostname.as_deref(), Some("10.0.0.5"));
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.identity_files, vec!["~/.ssh/pve".to_string()]);
        assert_eq!(c.connect_timeout, Some(3));
        assert_eq!(
            c.user, None,
            "the local user is ssh's default, not a configured value"
        );
        assert!(c.user_known_hosts.is_empty());
        assert_eq!(c.global_known_hosts.len(), 2);
        assert_eq!(c.proxy_jump, None);
    }

    #[test]
    fn host_key_settings_are_kept_when_configured() {
        let base =
            format!("{BASE}hostkeyalgorithms ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512\n");
        let c = diff(&parse_dump(&base), &parse_dump(&base), &[]);
        assert_eq!(
            c.host_key_algorithms, None,
            "the default list is not configured"
        );
        assert_eq!(c.revoked_host_keys, None);
        let configured =
            base.replace(
                "hostkeyalgorithms ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512",
                "hostkeyalgorithms ecdsa-sha2-nistp256",
            )
            .replace(
                "userknownhostsfile /home/alice/.ssh/known_hosts /home/alice/.ssh/known_hosts2",
                "userknownhostsfile none",
            ) + "revokedhostkeys ~/.ssh/revoked\n";
        let c = diff(&parse_dump(&configured), &parse_dump(&base), &[]);
        assert_eq!(
            c.host_key_algorithms,
            Some(vec!["ecdsa-sha2-nistp256".to_string()])
        );
        assert_eq!(c.revoked_host_keys.as_deref(), Some("~/.ssh/revoked"));
        assert_eq!(c.user_known_hosts, vec!["none".to_string()]);
    }

    #[test]
    fn user_equal_to_the_local_user_counts_when_written() {
        let c = diff(
            &parse_dump(BASE),
            &parse_dump(BASE),
            &["Host pve\n  User alice\n".into()],
        );
        assert_eq!(c.user.as_deref(), Some("alice"));
        let c = diff(
            &parse_dump(BASE),
            &parse_dump(BASE),
            &["Host pve\n  Username alice\n".into()],
        );
        assert_eq!(c.user, None);
        let c = diff(
            &parse_dump(&BASE.replace("user alice", "user bob")),
            &parse_dump(BASE),
            &[],
        );
        assert_eq!(c.user.as_deref(), Some("bob"));
    }
}
