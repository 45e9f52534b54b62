//! From `[proxmox]` in pxdeploy.toml (plus `~/.ssh/config` and the environment) to an
//! [`SshTarget`]. Precedence: explicit pxdeploy.toml values (after the `PROXMOX_*`
//! overrides the config layer applied) > `~/.ssh/config` > defaults. `$HOME` decides `~`.
//!
//! Jump hosts (`jump`, else the node's `ProxyJump`) are resolved the same way, each with
//! its own `~/.ssh/config` entry: its user and keys are its own (default: the local user,
//! as `ssh -J`; keys: its IdentityFile, else the default keys and then `identity_file`),
//! its host key is checked against the same known_hosts with the same `host_key_check`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{parse_jump, Config, JumpHost, Proxmox};
use crate::error::{Error, Result};
pub use crate::remote::home_dir;
use crate::remote::ssh_config::{self, HostConfig};
use crate::remote::SshTarget;

/// The default of `connect_timeout_secs`; a `ConnectTimeout` in ~/.ssh/config wins over it.
const DEFAULT_CONNECT_TIMEOUT: u64 = 10;
const DEFAULT_KEEPALIVE: u32 = 15;

/// Resolves where and how to connect for `cfg`.
pub fn resolve(cfg: &Config) -> Result<SshTarget> {
    let home = home_dir();
    let ssh = ssh_config::query(&cfg.proxmox.host, &home);
    let agent_env = std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    let p = &cfg.proxmox;
    let hops = jump_hosts(p, ssh.as_ref())?;
    let mut target = resolve_with(p, ssh.as_ref(), agent_env.clone(), &home)?;
    for (hop, hop_ssh) in hop_chain(hops, &|host| ssh_config::query(host, &home))? {
        target.jump.push(resolve_hop(
            p,
            &hop,
            hop_ssh.as_ref(),
            agent_env.clone(),
            &home,
        )?);
    }
    Ok(target)
}

/// The hops with what `~/.ssh/config` says about each, the first hop's own `ProxyJump`
/// followed (as `ssh` does: the first hop is connected to with its own settings), again
/// and again, up to 8 hops. A `ProxyCommand` on the first hop is refused.
pub fn hop_chain(
    hops: Vec<JumpHost>,
    query: &dyn Fn(&str) -> Option<HostConfig>,
) -> Result<Vec<(JumpHost, Option<HostConfig>)>> {
    const MAX_HOPS: usize = 8;
    let mut chain: Vec<(JumpHost, Option<HostConfig>)> = hops
        .into_iter()
        .map(|h| {
            let c = query(&h.host);
            (h, c)
        })
        .collect();
    loop {
        let Some((first, Some(cfg))) = chain.first() else {
            return Ok(chain);
        };
        let more = match (&cfg.proxy_jump, &cfg.proxy_command) {
            (Some(spec), _) => parse_jump(spec).map_err(|why| {
                Error::config(format!(
                    "the ProxyJump of the jump host `{}` in ~/.ssh/config cannot be used: {why}",
                    first.host
                ))
            })?,
            (None, Some(command)) => {
                return Err(Error::config(format!(
                    "~/.ssh/config sends connections to the jump host `{}` through a ProxyCommand (`{command}`), which pxdeploy does not support",
                    first.host
                ))
                .hint("use ProxyJump for it, or list every hop in `jump` under [proxmox]"))
            }
            (None, None) => return Ok(chain),
        };
        if more.is_empty() {
            return Ok(chain);
        }
        if chain.len() + more.len() > MAX_HOPS {
            return Err(Error::config(format!(
                "more than {MAX_HOPS} jump hosts on the way to the node (a ProxyJump loop in ~/.ssh/config?)"
            ))
            .hint("list the hops in `jump` under [proxmox]; `jump` wins over ProxyJump"));
        }
        let mut front: Vec<(JumpHost, Option<HostConfig>)> = more
            .into_iter()
            .map(|h| {
                let c = query(&h.host);
                (h, c)
            })
            .collect();
        front.append(&mut chain);
        chain = front;
    }
}

/// The jump hosts on the way to the node: `jump` if pxdeploy.toml (or `PROXMOX_JUMP`)
/// sets it, else the node's `ProxyJump`. A `ProxyCommand` is refused (pxdeploy speaks SSH
/// itself and runs no commands locally to connect).
pub fn jump_hosts(p: &Proxmox, ssh: Option<&HostConfig>) -> Result<Vec<JumpHost>> {
    if let Some(hops) = &p.jump_hosts {
        return Ok(hops.clone());
    }
    let Some(ssh) = ssh else {
        return Ok(Vec::new());
    };
    if let Some(spec) = &ssh.proxy_jump {
        return parse_jump(spec).map_err(|why| {
            Error::config(format!(
                "the ProxyJump of `{}` in ~/.ssh/config cannot be used: {why}",
                p.host
            ))
            .hint("or set `jump` under [proxmox] (`user@host:port`), which wins over ProxyJump")
        });
    }
    if let Some(command) = &ssh.proxy_command {
        return Err(Error::config(format!(
            "~/.ssh/config sends connections to `{}` through a ProxyCommand (`{command}`), which pxdeploy does not support",
            p.host
        ))
        .hint("for a jump host, set `jump = \"user@bastion:port\"` under [proxmox] (or use ProxyJump); else connect directly"));
    }
    Ok(Vec::new())
}

/// One jump host, as [`resolve_with`] resolves the node, except: the user defaults to the
/// local user (as `ssh -J`), and `identity_file` is only the last key tried, after the
/// hop's own or the default keys.
pub fn resolve_hop(
    p: &Proxmox,
    hop: &JumpHost,
    ssh: Option<&HostConfig>,
    agent_env: Option<PathBuf>,
    home: &Path,
) -> Result<SshTarget> {
    let hp = Proxmox {
        host: hop.host.clone(),
        user: hop.user.clone(),
        port: hop.port,
        identity_file: None,
        known_hosts: p.known_hosts.clone(),
        host_key_check: p.host_key_check,
        connect_timeout_secs: p.connect_timeout_secs,
        jump: None,
        jump_hosts: None,
    };
    let mut t = resolve_with(&hp, ssh, agent_env, home)?;
    if hop.user.is_none() && ssh.and_then(|s| s.user.as_ref()).is_none() {
        t.user = local_user();
    }
    if let Some(key) = &p.identity_file {
        let key = expand_tilde(key, home);
        if !t.explicit_identity && !t.identity_files.contains(&key) {
            t.identity_files.push(key);
        }
    }
    Ok(t)
}

/// The local user's name (`$USER`, else root), the default user at a jump host.
fn local_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

/// [`resolve`] without the environment: what `ssh -G` said, `SSH_AUTH_SOCK`, and `$HOME`.
pub fn resolve_with(
    p: &Proxmox,
    ssh: Option<&HostConfig>,
    agent_env: Option<PathBuf>,
    home: &Path,
) -> Result<SshTarget> {
    let none = HostConfig::default();
    let ssh = ssh.unwrap_or(&none);
    let mut t = SshTarget::new(p.host.clone(), 22);
    t.hostname = ssh.hostname.clone().unwrap_or_else(|| p.host.clone());
    t.port = p.port.or(ssh.port).unwrap_or(22);
    t.user = p
        .user
        .clone()
        .or(ssh.user.clone())
        .unwrap_or_else(|| "root".into());

    if let Some(key) = &p.identity_file {
        t.identity_files = vec![expand_tilde(key, home)];
        t.explicit_identity = true;
    } else if !ssh.identity_files.is_empty() {
        t.identity_files = ssh
            .identity_files
            .iter()
            .map(|f| expand_tilde(Path::new(f), home))
            .collect();
        t.explicit_identity = ssh.identities_only;
    } else {
        t.identity_files = ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|f| home.join(".ssh").join(f))
            .collect();
        t.explicit_identity = false;
    }

    if let Some(file) = &p.known_hosts {
        t.known_hosts = Some(expand_tilde(file, home));
        t.extra_known_hosts = Vec::new();
    } else {
        (t.known_hosts, t.extra_known_hosts) = known_hosts_files(ssh, home);
    }
    t.host_key_check = p.host_key_check;
    t.host_key_alias = ssh.host_key_alias.clone();
    t.hash_known_hosts = ssh.hash_known_hosts;
    t.host_key_algorithms = ssh.host_key_algorithms.clone();
    t.revoked_host_keys = ssh
        .revoked_host_keys
        .as_ref()
        .map(|f| expand_tilde(Path::new(f), home));

    let secs = match ssh.connect_timeout {
        Some(s) if p.connect_timeout_secs == DEFAULT_CONNECT_TIMEOUT => s,
        _ => p.connect_timeout_secs,
    };
    // The bounds of `connect_timeout_secs` hold for ~/.ssh/config's `ConnectTimeout` too: a
    // typo such as `ConnectTimeout 3000000` must not turn an unreachable node into a hang.
    t.connect_timeout = Duration::from_secs(secs.clamp(1, crate::config::CONNECT_TIMEOUT_MAX));
    t.keepalive_secs = ssh.server_alive_interval.unwrap_or(DEFAULT_KEEPALIVE);
    t.agent_socket = match ssh.identity_agent.as_deref() {
        Some("SSH_AUTH_SOCK") | None => agent_env,
        Some(path) => Some(expand_tilde(Path::new(path), home)),
    };
    Ok(t)
}

/// The known_hosts file accept-new writes (the first `UserKnownHostsFile`; none with
/// `UserKnownHostsFile none`) and the others that are only read (the rest of
/// `UserKnownHostsFile`, then `GlobalKnownHostsFile`; `none` means no file, as in OpenSSH).
fn known_hosts_files(ssh: &HostConfig, home: &Path) -> (Option<PathBuf>, Vec<PathBuf>) {
    let files = |list: &[String]| -> Vec<PathBuf> {
        list.iter()
            .filter(|f| f.as_str() != "none")
            .map(|f| expand_tilde(Path::new(f), home))
            .collect()
    };
    let mut user = if ssh.user_known_hosts.is_empty() {
        vec![
            home.join(".ssh/known_hosts"),
            home.join(".ssh/known_hosts2"),
        ]
    } else {
        files(&ssh.user_known_hosts)
    };
    let global = if ssh.global_known_hosts.is_empty() {
        vec![
            "/etc/ssh/ssh_known_hosts".into(),
            "/etc/ssh/ssh_known_hosts2".into(),
        ]
    } else {
        files(&ssh.global_known_hosts)
    };
    let first = (!user.is_empty()).then(|| user.remove(0));
    user.extend(global);
    (first, user)
}

/// `~` and `~/…` against `home`; anything else unchanged.
pub fn expand_tilde(path: &Path, home: &Path) -> PathBuf {
    match path.to_str() {
        Some("~") => home.to_path_buf(),
        Some(s) if s.starts_with("~/") => home.join(&s[2..]),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HostKeyCheck, Proxmox};

    fn proxmox(host: &str) -> Proxmox {
        Proxmox {
            host: host.into(),
            host_key_check: HostKeyCheck::Strict,
            connect_timeout_secs: DEFAULT_CONNECT_TIMEOUT,
            ..Default::default()
        }
    }

    #[test]
    fn defaults_without_ssh_config() {
        let home = Path::new("/h");
        let t = resolve_with(&proxmox("pve.lan"), None, Some("/run/agent".into()), home).unwrap();
        assert_eq!(
            (t.hostname.as_str(), t.port, t.user.as_str()),
            ("pve.lan", 22, "root")
        );
        assert_eq!(
            t.identity_files,
            vec![
                PathBuf::from("/h/.ssh/id_ed25519"),
                "/h/.ssh/id_ecdsa".into(),
                "/h/.ssh/id_rsa".into()
            ]
        );
        assert!(!t.explicit_identity);
        assert_eq!(t.known_hosts, Some(PathBuf::from("/h/.ssh/known_hosts")));
        assert_eq!(t.agent_socket, Some(PathBuf::from("/run/agent")));
        assert_eq!(t.connect_timeout, Duration::from_secs(10));
    }

    #[test]
    fn toml_beats_ssh_config_beats_defaults() {
        let home = Path::new("/h");
        let ssh = HostConfig {
            hostname: Some("10.0.0.5".into()),
            user: Some("alice".into()),
            port: Some(2222),
            identity_files: vec!["~/.ssh/pve".into()],
            identities_only: true,
            user_known_hosts: vec!["/h/kh".into()],
            connect_timeout: Some(3),
            identity_agent: Some("none".into()),
            ..Default::default()
        };
        let t = resolve_with(&proxmox("pve"), Some(&ssh), Some("/run/agent".into()), home).unwrap();
        assert_eq!(
            (t.hostname.as_str(), t.port, t.user.as_str()),
            ("10.0.0.5", 2222, "alice")
        );
        assert_eq!(t.identity_files, vec![PathBuf::from("/h/.ssh/pve")]);
        assert!(t.explicit_identity);
        assert_eq!(t.known_hosts, Some(PathBuf::from("/h/kh")));
        assert_eq!(t.connect_timeout, Duration::from_secs(3));
        let huge = HostConfig {
            connect_timeout: Some(3_000_000),
            ..Default::default()
        };
        let t = resolve_with(&proxmox("pve"), Some(&huge), None, home).unwrap();
        assert_eq!(t.connect_timeout, Duration::from_secs(600));

        let mut p = proxmox("pve");
        p.user = Some("root".into());
        p.port = Some(22);
        p.identity_file = Some("~/.ssh/ci".into());
        p.known_hosts = Some("~/kh2".into());
        p.connect_timeout_secs = 20;
        let t = resolve_with(&p, Some(&ssh), None, home).unwrap();
        assert_eq!(
            (t.hostname.as_str(), t.port, t.user.as_str()),
            ("10.0.0.5", 22, "root")
        );
        assert_eq!(t.identity_files, vec![PathBuf::from("/h/.ssh/ci")]);
        assert_eq!(t.known_hosts, Some(PathBuf::from("/h/kh2")));
        assert!(t.extra_known_hosts.is_empty());
        assert_eq!(t.connect_timeout, Duration::from_secs(20));
    }

    #[test]
    fn none_means_no_known_hosts_file_and_host_key_settings_pass_through() {
        let ssh = HostConfig {
            user_known_hosts: vec!["none".into()],
            global_known_hosts: vec!["none".into()],
            host_key_algorithms: Some(vec!["ssh-ed25519".into()]),
            revoked_host_keys: Some("~/.ssh/revoked".into()),
            ..Default::default()
        };
        let t = resolve_with(&proxmox("pve"), Some(&ssh), None, Path::new("/h")).unwrap();
        assert_eq!(t.known_hosts, None, "not ./none");
        assert!(t.extra_known_hosts.is_empty(), "{:?}", t.extra_known_hosts);
        assert_eq!(t.host_key_algorithms, Some(vec!["ssh-ed25519".into()]));
        assert_eq!(t.revoked_host_keys, Some(PathBuf::from("/h/.ssh/revoked")));
        let ssh = HostConfig {
            user_known_hosts: vec!["~/kh".into(), "/etc/kh".into()],
            global_known_hosts: vec!["/g/kh".into()],
            ..Default::default()
        };
        let t = resolve_with(&proxmox("pve"), Some(&ssh), None, Path::new("/h")).unwrap();
        assert_eq!(t.known_hosts, Some(PathBuf::from("/h/kh")));
        assert_eq!(
            t.extra_known_hosts,
            vec![PathBuf::from("/etc/kh"), "/g/kh".into()]
        );
    }

    #[test]
    fn jump_beats_proxy_jump_and_proxy_command_is_a_clear_error() {
        let ssh = HostConfig {
            proxy_jump: Some("admin@bastion:2222,inner".into()),
            ..Default::default()
        };
        let hops = jump_hosts(&proxmox("pve"), Some(&ssh)).unwrap();
        assert_eq!(
            hops.iter()
                .map(|h| (h.user.as_deref(), h.host.as_str(), h.port))
                .collect::<Vec<_>>(),
            vec![
                (Some("admin"), "bastion", Some(2222)),
                (None, "inner", None)
            ]
        );
        let mut p = proxmox("pve");
        p.jump_hosts = Some(Vec::new());
        assert!(
            jump_hosts(&p, Some(&ssh)).unwrap().is_empty(),
            "jump = none wins"
        );
        let ssh = HostConfig {
            proxy_command: Some("nc %h %p".into()),
            ..Default::default()
        };
        let e = jump_hosts(&proxmox("pve"), Some(&ssh)).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.message.contains("ProxyCommand"), "{}", e.message);
    }

    #[test]
    fn the_first_hops_own_proxy_jump_is_followed_and_a_loop_is_stopped() {
        let hop = |h: &str| JumpHost {
            user: None,
            host: h.into(),
            port: None,
        };
        let via = |spec: &str| HostConfig {
            proxy_jump: Some(spec.into()),
            ..Default::default()
        };
        let query = |h: &str| match h {
            "inner" => Some(via("outer")),
            "outer" => Some(HostConfig::default()),
            "loop" => Some(via("loop")),
            "cmd" => Some(HostConfig {
                proxy_command: Some("nc %h %p".into()),
                ..Default::default()
            }),
            _ => None,
        };
        let chain = hop_chain(vec![hop("inner"), hop("other")], &query).unwrap();
        let names: Vec<&str> = chain.iter().map(|(h, _)| h.host.as_str()).collect();
        assert_eq!(names, ["outer", "inner", "other"]);
        let e = hop_chain(vec![hop("loop")], &query).unwrap_err();
        assert!(e.message.contains("more than 8"), "{}", e.message);
        let e = hop_chain(vec![hop("cmd")], &query).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.message.contains("ProxyCommand"), "{}", e.message);
    }

    #[test]
    fn a_hop_uses_its_own_user_and_keys_and_the_same_host_key_rules() {
        let home = Path::new("/h");
        let mut p = proxmox("pve");
        p.user = Some("root".into());
        p.identity_file = Some("/keys/node".into());
        p.known_hosts = Some("/kh".into());
        p.host_key_check = HostKeyCheck::AcceptNew;
        let hop = JumpHost {
            user: Some("admin".into()),
            host: "bastion".into(),
            port: Some(2222),
        };
        let ssh = HostConfig {
            hostname: Some("10.0.0.1".into()),
            identity_files: vec!["~/.ssh/bastion".into()],
            ..Default::default()
        };
        let t = resolve_hop(&p, &hop, Some(&ssh), None, home).unwrap();
        assert_eq!(
            (
                t.alias.as_str(),
                t.hostname.as_str(),
                t.port,
                t.user.as_str()
            ),
            ("bastion", "10.0.0.1", 2222, "admin")
        );
        assert_eq!(
            t.identity_files,
            vec![PathBuf::from("/h/.ssh/bastion"), "/keys/node".into()]
        );
        assert_eq!(t.known_hosts, Some(PathBuf::from("/kh")));
        assert_eq!(t.host_key_check, HostKeyCheck::AcceptNew);
        assert!(t.jump.is_empty());
    }
}
