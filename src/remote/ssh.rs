//! The ssh2 session: connect with a timeout, check the host key before auth, authenticate,
//! and run commands through a non-blocking pump (no stdin/stdout/stderr deadlocks).

use std::io::Read;
use std::time::Duration;

use super::{ExitStatus, Output, SshTarget};
use crate::error::{Error, Result};

/// Which stream a chunk of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One SSH connection to the Proxmox host. Every remote step of a pxdeploy run goes over it.
pub struct Session {
    _private: (),
}

impl Session {
    /// TCP connect (bounded by `connect_timeout`), handshake, host key check, authentication.
    pub fn connect(target: &SshTarget) -> Result<Session> {
        let _ = target;
        Err(Error::ssh("SSH transport not implemented yet"))
    }

    /// Runs `command` (a complete shell command line), streaming `stdin` in, collecting
    /// stdout and stderr separately. `timeout` bounds the whole command.
    pub fn exec(&self, command: &str, stdin: Option<&mut dyn Read>, timeout: Duration) -> Result<Output> {
        let _ = (command, stdin, timeout);
        Err(Error::ssh("SSH transport not implemented yet"))
    }

    /// Like [`Session::exec`], but hands each chunk of output to `sink` as it arrives.
    pub fn exec_streaming(
        &self,
        command: &str,
        stdin: Option<&mut dyn Read>,
        sink: &mut dyn FnMut(Stream, &[u8]),
        timeout: Option<Duration>,
    ) -> Result<ExitStatus> {
        let _ = (command, stdin, sink, timeout);
        Err(Error::ssh("SSH transport not implemented yet"))
    }
}
