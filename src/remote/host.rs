//! The Proxmox host as the commands see it: one SSH session, with `--dry-run` honoured.
//! Read-only probes always run; changes are printed instead of run under `--dry-run`.

use std::io::Read;
use std::time::Duration;

use super::ssh::Session;
use super::Output;
use crate::error::{Error, Result};

/// Default bound for a quick remote step (pct status, pvesm status, …).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Host {
    session: Session,
    /// The host name as the user wrote it, for messages.
    pub alias: String,
    dry_run: bool,
    /// Commands that were printed instead of run (dry-run), in order.
    planned: std::sync::Mutex<Vec<String>>,
}

impl Host {
    pub fn new(session: Session, alias: impl Into<String>, dry_run: bool) -> Self {
        Host {
            session,
            alias: alias.into(),
            dry_run,
            planned: Default::default(),
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Runs a read-only command (also under `--dry-run`). A non-zero exit is not an error here.
    pub fn probe(&self, command: &str) -> Result<Output> {
        tracing::debug!(command, "probe");
        let out = self.session.exec(command, None, PROBE_TIMEOUT)?;
        tracing::trace!(status = %out.status, stdout = %out.stdout_str(), stderr = %out.stderr_str(), "probe done");
        Ok(out)
    }

    /// Runs a command that changes something; under `--dry-run` it is recorded and printed by
    /// the caller instead, and an empty successful output is returned.
    pub fn change(&self, command: &str, timeout: Duration) -> Result<Output> {
        self.run_change(command, None, timeout)
    }

    /// Like [`Host::change`], with `stdin` sent to the command (an upload). What is sent is
    /// never logged: it may hold secrets.
    pub fn change_with_stdin(
        &self,
        command: &str,
        stdin: &mut dyn Read,
        timeout: Duration,
    ) -> Result<Output> {
        self.run_change(command, Some(stdin), timeout)
    }

    fn run_change(
        &self,
        command: &str,
        stdin: Option<&mut dyn Read>,
        timeout: Duration,
    ) -> Result<Output> {
        if self.dry_run {
            tracing::info!(command, "dry-run: not running");
            self.planned.lock().unwrap().push(command.to_string());
            return Ok(Output::default());
        }
        tracing::debug!(command, "run");
        let out = self.session.exec(command, stdin, timeout)?;
        tracing::trace!(status = %out.status, stderr = %out.stderr_str(), "run done");
        Ok(out)
    }

    /// Like [`Host::change`], but a non-zero exit becomes a remote-step error (exit 5) with
    /// the command and its stderr.
    pub fn change_ok(&self, command: &str, timeout: Duration) -> Result<Output> {
        let out = self.change(command, timeout)?;
        ensure_success(command, out)
    }

    /// Like [`Host::probe`], but a non-zero exit is a remote-step error.
    pub fn probe_ok(&self, command: &str) -> Result<Output> {
        let out = self.probe(command)?;
        ensure_success(command, out)
    }

    /// The commands that `--dry-run` did not run.
    pub fn planned(&self) -> Vec<String> {
        self.planned.lock().unwrap().clone()
    }
}

/// Turns a non-zero exit into `Error::remote` naming the command and showing its stderr.
pub fn ensure_success(command: &str, out: Output) -> Result<Output> {
    if out.status.success() {
        return Ok(out);
    }
    let stderr = out.stderr_str();
    let detail = stderr.trim();
    let detail = if detail.is_empty() {
        out.stdout_str()
            .trim()
            .lines()
            .last()
            .unwrap_or("")
            .to_string()
    } else {
        detail.to_string()
    };
    Err(Error::remote(format!("`{command}` failed")).cause(format!(
        "{}: {}",
        out.status,
        crate::output::sanitize(&detail)
    )))
}
