//! Everything that talks to the Proxmox host: the SSH session and the quoting of remote
//! command lines.

pub mod host;
pub mod quote;
pub mod ssh;

use std::path::PathBuf;
use std::time::Duration;

use crate::config::HostKeyCheck;

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
    pub known_hosts: PathBuf,
    pub host_key_check: HostKeyCheck,
    pub connect_timeout: Duration,
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
