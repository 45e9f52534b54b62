//! Everything that talks to the Proxmox host: the SSH session and the quoting of remote
//! command lines.

pub mod auth;
mod channel;
mod conn;
mod connect;
pub use self::connect::Forwarded;
pub mod host;
pub mod host_key;
mod interactive;
pub mod known_hosts;
mod pump;
pub mod quote;
pub mod round_trips;
pub mod ssh;
pub mod ssh_config;
pub mod terminal;
mod tunnel;

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// `host_key_check` (of `[proxmox]`): an unknown host key is refused, or recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyCheck {
    #[default]
    Strict,
    AcceptNew,
}

/// Where and how to connect, after `~/.ssh/config` and the environment were applied.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// The name the user wrote (`pve.lan`, an alias, an IP): used in messages.
    pub alias: String,
    /// The address to connect to (HostName from ~/.ssh/config, else `alias`).
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// Keys to try, in order. `explicit_identity` means the user named one: try only it
    /// (after the agent identity with the same public key).
    pub identity_files: Vec<PathBuf>,
    pub explicit_identity: bool,
    /// The known_hosts file that `accept-new` writes to (and reads first); `None` with
    /// `UserKnownHostsFile none`.
    pub known_hosts: Option<PathBuf>,
    pub host_key_check: HostKeyCheck,
    pub connect_timeout: Duration,
    /// The ssh-agent socket (`IdentityAgent`, else `SSH_AUTH_SOCK`); `None`: no agent.
    pub agent_socket: Option<PathBuf>,
    /// More known_hosts files that are read but never written (known_hosts2, the global file).
    pub extra_known_hosts: Vec<PathBuf>,
    /// `HostKeyAlias`: the name looked up in known_hosts instead of `hostname[:port]`.
    pub host_key_alias: Option<String>,
    /// `HashKnownHosts`: accept-new writes a hashed name.
    pub hash_known_hosts: bool,
    /// `HostKeyAlgorithms`: offer only these (in this order); `None`: libssh2's list with
    /// the recorded key types first.
    pub host_key_algorithms: Option<Vec<String>>,
    /// `RevokedHostKeys`: a file of public keys that are never accepted.
    pub revoked_host_keys: Option<PathBuf>,
    /// Seconds between keepalives while a command runs (`ServerAliveInterval`, default 15).
    pub keepalive_secs: u32,
    /// The jump hosts to go through, in order (`jump` in pxdeploy.toml, or `ProxyJump`);
    /// each is reached through the one before, the target through the last. Their own
    /// `jump` is empty.
    pub jump: Vec<SshTarget>,
    /// A cluster node's: the cluster's record of its host key, read through the first
    /// node; an unknown key is trusted only when it matches (see [`host_key::vouched`]).
    pub cluster_record: Option<host_key::vouched::ClusterRecord>,
}

impl SshTarget {
    /// A target with the defaults (root, strict host keys, `~/.ssh/known_hosts`, no agent,
    /// no key files): what tests and callers start from before setting fields.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let host = host.into();
        SshTarget {
            alias: host.clone(),
            hostname: host,
            port,
            user: "root".into(),
            identity_files: Vec::new(),
            explicit_identity: false,
            known_hosts: Some(home_dir().join(".ssh/known_hosts")),
            host_key_check: HostKeyCheck::Strict,
            connect_timeout: Duration::from_secs(10),
            agent_socket: None,
            extra_known_hosts: Vec::new(),
            host_key_alias: None,
            hash_known_hosts: false,
            host_key_algorithms: None,
            revoked_host_keys: None,
            keepalive_secs: 15,
            jump: Vec::new(),
            cluster_record: None,
        }
    }

    /// `host:port`: where messages say pxdeploy connects to.
    pub fn address(&self) -> String {
        format!("{}:{}", self.hostname, self.port)
    }

    /// The alias, and the jump hosts on the way (`pve through bastion`): progress lines.
    pub fn route(&self) -> String {
        if self.jump.is_empty() {
            return self.alias.clone();
        }
        let hops: Vec<&str> = self.jump.iter().map(|h| h.alias.as_str()).collect();
        format!("{} through {}", self.alias, hops.join(", "))
    }
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitStatus {
    /// The exit code (meaningless when `signal` is set).
    pub code: i32,
    /// The signal name (`TERM`, `KILL`) when the command was killed by one.
    pub signal: Option<String>,
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        self.code == 0 && self.signal.is_none()
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.signal {
            Some(sig) => write!(f, "was killed by signal {sig}"),
            None => write!(f, "exited {}", self.code),
        }
    }
}

/// The collected result of one remote command.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: ExitStatus,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// `$HOME` (tests point it at a temporary folder), else `/`.
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}
