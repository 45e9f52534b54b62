//! The ssh2 session: connect with a timeout, check the host key before auth, authenticate,
//! and run commands through a non-blocking pump (no stdin/stdout/stderr deadlocks).
//!
//! After authentication the libssh2 session is non-blocking for good. Every call holds
//! libssh2's session mutex only for a moment, so one thread pumping a command never blocks
//! another channel (the deploy lock's, which just sits open). The connection and its
//! channels' lifecycle live in [`super::conn`], one channel's state in [`super::pump`] (one
//! forwarding tunnel's in [`super::tunnel`]); opening a session, directly or through
//! another one (a bastion), in [`super::connect`]. Imports run one way: ssh/connect → conn →
//! pump/tunnel → channel.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Conn, STOP_GRACE};
pub use super::pump::Stream;
use super::pump::{keep_tail, Fail, Pump};

use super::{ExitStatus, Output};
use crate::error::{Error, Result};

/// What [`RemoteProcess::read_line`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadLine {
    /// One line of stdout, without its newline.
    Line(String),
    /// stdout ended: the process exited (see [`RemoteProcess::close`] for its status).
    Eof,
    /// Nothing within the timeout; the process is still running.
    TimedOut,
}

/// One SSH connection to the Proxmox host. Every remote step of a pxdeploy run goes over it.
///
/// `Send + Sync`, but one operation at a time: commands from several threads run one after
/// the other. libssh2 keeps per-session send and receive state (a half-sent packet must be
/// finished by repeating the same call before any other packet goes out: `transport.c`,
/// `transport_send_existing`), so two threads driving two channels' non-blocking state
/// machines in turns broke the session now and then ("Unable to send EOF on channel",
/// "Failure while draining incoming flow"), although every single call held ssh2's session
/// mutex. A spawned process keeps its channel open between its calls; only the calls take turns.
pub struct Session {
    pub(super) conn: Arc<Conn>,
}

impl Session {
    /// `Err` (saying why) once the connection is closed: nothing more can run over it.
    pub fn usable(&self) -> Result<()> {
        self.conn.usable()
    }

    /// Runs `command` (a complete shell command line), streaming `stdin` in, collecting
    /// stdout and stderr separately. `timeout` bounds the whole command.
    pub fn exec(
        &self,
        command: &str,
        stdin: Option<&mut dyn Read>,
        timeout: Duration,
    ) -> Result<Output> {
        let mut out = Output::default();
        let status = self.exec_streaming(
            command,
            stdin,
            &mut |stream, data| match stream {
                Stream::Stdout => out.stdout.extend_from_slice(data),
                Stream::Stderr => out.stderr.extend_from_slice(data),
            },
            Some(timeout),
        )?;
        out.status = status;
        Ok(out)
    }

    /// Like [`Session::exec`], but hands each chunk of output to `sink` as it arrives.
    pub fn exec_streaming(
        &self,
        command: &str,
        stdin: Option<&mut dyn Read>,
        sink: &mut dyn FnMut(Stream, &[u8]),
        timeout: Option<Duration>,
    ) -> Result<ExitStatus> {
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        let _one = self.conn.exclusive();
        let mut pump = self.conn.start(command, deadline, stdin.is_some(), false)?;
        let mut stdin = stdin;
        let mut last_err: Vec<u8> = Vec::new();
        let mut tee = |s: Stream, d: &[u8]| {
            if s == Stream::Stderr {
                keep_tail(&mut last_err, d);
            }
            sink(s, d)
        };
        let result = self
            .conn
            .run_until(&mut pump, &mut stdin, &mut tee, deadline, |p| p.done());
        let ended = match result {
            Ok(true) => self.conn.finish(pump, command, deadline),
            Ok(false) => {
                let t = timeout.unwrap_or_default();
                let stopped = self.conn.stop(pump, &mut tee, Duration::ZERO);
                let mut err =
                    Error::remote(format!("`{command}` timed out after {}s", t.as_secs()));
                let tail = String::from_utf8_lossy(&last_err).trim().to_string();
                if !tail.is_empty() {
                    err = err.cause(format!(
                        "its last output on stderr: {}",
                        crate::output::sanitize(&tail)
                    ));
                }
                Err(match stopped {
                    Ok(()) => {
                        err.cause("the remote command was stopped; the connection is still usable")
                    }
                    Err(why) => err.cause(why),
                })
            }
            Err(Fail::Local(e)) => {
                let _ = self.conn.stop(pump, &mut tee, Duration::ZERO);
                Err(
                    Error::unexpected(format!("reading the data to send to `{command}` failed"))
                        .cause(e.to_string()),
                )
            }
            Err(Fail::Ssh(e)) => Err(self.conn.lost(&e)),
        };
        ended.map_err(|e| self.conn.or_held_lost(e))
    }

    /// Starts `command` and leaves it running on its own channel (stdin stays open, so a
    /// command like `flock … cat` holds until [`RemoteProcess::close`], pxdeploy's exit, or
    /// the connection's end). Other commands can run on the session meanwhile.
    pub fn spawn(&self, command: &str) -> Result<RemoteProcess> {
        let _one = self.conn.exclusive();
        let pump = self
            .conn
            .start(command, Some(Instant::now() + STOP_GRACE * 6), false, true)?;
        Ok(RemoteProcess {
            conn: self.conn.clone(),
            command: command.to_string(),
            pump: Some(pump),
            held: false,
            stdout: Vec::new(),
            stderr: Vec::new(),
        })
    }
}

/// A command left running on its own channel (see [`Session::spawn`]).
pub struct RemoteProcess {
    conn: Arc<Conn>,
    command: String,
    pump: Option<Pump>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Its channel was handed to the connection to keep alive ([`RemoteProcess::keep_alive`]).
    held: bool,
}

impl RemoteProcess {
    /// From now on the connection sends a line (`.`) to the process's stdin every `every`,
    /// from whatever drives the session (see `conn/held.rs`), and reads nothing more from it
    /// for the caller. If the process ends (it gave up: no heartbeat for too long), every
    /// later command on the session fails with `lost`. [`RemoteProcess::close`] or dropping
    /// it ends the process as before.
    pub fn keep_alive(&mut self, every: Duration, lost: Error) {
        if let Some(pump) = self.pump.take() {
            let _one = self.conn.exclusive();
            self.conn.hold(pump, every, lost);
            self.held = true;
        }
    }

    /// `Err(lost)` once the channel handed to [`RemoteProcess::keep_alive`] ended (its
    /// end read from what the connection already received; a due heartbeat sent).
    pub fn still_held(&self) -> Result<()> {
        let _one = self.conn.exclusive();
        self.conn.beat(true);
        self.conn.held_lost().map_or(Ok(()), Err)
    }

    /// Waits up to `timeout` for the next line of stdout.
    pub fn read_line(&mut self, timeout: Duration) -> Result<ReadLine> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.stdout.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.stdout.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                return Ok(ReadLine::Line(text.trim_end_matches('\r').to_string()));
            }
            let Some(pump) = self.pump.as_mut() else {
                return Ok(ReadLine::Eof);
            };
            if pump.out_eof {
                if self.stdout.is_empty() {
                    return Ok(ReadLine::Eof);
                }
                let rest = std::mem::take(&mut self.stdout);
                return Ok(ReadLine::Line(String::from_utf8_lossy(&rest).to_string()));
            }
            let _one = self.conn.exclusive();
            let (out, err) = (&mut self.stdout, &mut self.stderr);
            let mut sink = |s: Stream, d: &[u8]| match s {
                Stream::Stdout => out.extend_from_slice(d),
                Stream::Stderr => keep_tail(err, d),
            };
            let mut no_stdin: Option<&mut dyn Read> = None;
            let got = self
                .conn
                .run_until(pump, &mut no_stdin, &mut sink, Some(deadline), |p| {
                    p.out_eof || p.got_newline
                });
            pump.got_newline = false;
            match got {
                Ok(true) => continue,
                Ok(false) => return Ok(ReadLine::TimedOut),
                Err(Fail::Ssh(e)) => return Err(self.conn.lost(&e)),
                Err(Fail::Local(e)) => return Err(Error::unexpected(e.to_string())),
            }
        }
    }

    /// What the process wrote on stderr so far (the last 64 KiB).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Ends stdin and waits up to `timeout` for the process to exit by itself; on timeout
    /// it is stopped and a remote error returned.
    pub fn wait(self, timeout: Duration) -> Result<Output> {
        self.finish_with(None, timeout)
    }

    /// Sends `stdin` (then EOF) and waits up to `timeout` for the process to exit by
    /// itself, like [`RemoteProcess::wait`]: what [`Session::exec`] does, for a process
    /// whose channel was opened earlier (see `Host::prepare`).
    pub fn finish_with(
        mut self,
        mut stdin: Option<&mut dyn Read>,
        timeout: Duration,
    ) -> Result<Output> {
        let Some(mut pump) = self.pump.take() else {
            return Ok(Output::default());
        };
        pump.hold_stdin = false;
        if stdin.is_some() {
            pump.open_stdin();
        }
        let deadline = Some(Instant::now() + timeout);
        let mut out = Output {
            stdout: std::mem::take(&mut self.stdout),
            ..Default::default()
        };
        let err = &mut self.stderr;
        let mut sink = |s: Stream, d: &[u8]| match s {
            Stream::Stdout => out.stdout.extend_from_slice(d),
            Stream::Stderr => keep_tail(err, d),
        };
        let _one = self.conn.exclusive();
        match self
            .conn
            .run_until(&mut pump, &mut stdin, &mut sink, deadline, |p| p.done())
        {
            Ok(true) => {
                out.status = self.conn.finish(pump, &self.command, deadline)?;
                out.stderr = std::mem::take(&mut self.stderr);
                Ok(out)
            }
            Ok(false) => {
                let _ = self.conn.stop(pump, &mut sink, Duration::ZERO);
                Err(Error::remote(format!(
                    "`{}` timed out after {}s",
                    self.command,
                    timeout.as_secs()
                )))
            }
            Err(Fail::Ssh(e)) => Err(self.conn.lost(&e)),
            Err(Fail::Local(e)) => Err(Error::unexpected(e.to_string())),
        }
    }

    /// Stops the process (EOF on stdin, then SIGTERM) and waits for its channel to close.
    /// If it does not stop within a few seconds, the connection is dropped instead (which
    /// ends every remote process of this session).
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        if self.pump.is_none() && !self.held {
            return Ok(());
        }
        let _one = self.conn.exclusive();
        let held = std::mem::take(&mut self.held).then(|| self.conn.unhold());
        let Some(pump) = self.pump.take().or(held.flatten()) else {
            return Ok(());
        };
        let mut sink = |_: Stream, _: &[u8]| {};
        self.conn
            .stop(pump, &mut sink, Duration::from_millis(500))
            .map_err(|why| Error::ssh(format!("stopping `{}` failed", self.command)).cause(why))
    }
}

impl Drop for RemoteProcess {
    fn drop(&mut self) {
        let _ = self.close_inner();
    }
}

// Several threads may share one Session; a RemoteProcess may move to another thread.
const _: fn() = || {
    fn assert<T: Send + Sync>() {}
    assert::<Session>();
    assert::<RemoteProcess>();
};
