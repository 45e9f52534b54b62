//! Driving channels on the non-blocking session: the pump that interleaves stdin, stdout
//! and stderr (no window deadlocks), waiting with `poll()`, keepalives, the close sequence
//! (EOF → drain → close → exit status), and stopping a command that must end now.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::{MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ssh2::BlockDirections;

use super::channel::{is_code, is_transport, plain, RawChannel as Channel, EAGAIN};
use super::ssh::{Inner, Stream, STOP_GRACE};
use super::ExitStatus;
use crate::error::{Error, Result};

pub(crate) const CHUNK: usize = 32 * 1024;

/// One command's channel and where its streams stand.
pub(crate) struct Pump {
    pub(crate) channel: Channel,
    pub(crate) pending: Vec<u8>,
    pub(crate) offset: usize,
    /// More local stdin to send.
    pub(crate) stdin_open: bool,
    /// Keep the remote stdin open (spawned processes) instead of sending EOF.
    pub(crate) hold_stdin: bool,
    pub(crate) eof_sent: bool,
    /// A write returned EAGAIN halfway through a packet: it must be finished (by writing the
    /// same bytes again) before anything else can be sent on this session.
    pub(crate) write_in_flight: bool,
    pub(crate) out_eof: bool,
    pub(crate) err_eof: bool,
    pub(crate) got_newline: bool,
    /// stderr held back until the PID line of [`wrap`] has been seen.
    pub(crate) stderr_head: Option<Vec<u8>>,
    /// The remote shell's PID (its process group), from the PID line.
    pub(crate) pid: Option<u32>,
}

pub(crate) enum Fail {
    /// The connection failed (in plain words).
    Ssh(String),
    /// Reading our own stdin source failed.
    Local(io::Error),
}

impl Pump {
    pub(crate) fn new(channel: Channel, has_stdin: bool, hold_stdin: bool) -> Pump {
        Pump {
            channel,
            pending: Vec::new(),
            offset: 0,
            stdin_open: has_stdin,
            hold_stdin,
            eof_sent: false,
            write_in_flight: false,
            out_eof: false,
            err_eof: false,
            got_newline: false,
            stderr_head: Some(Vec::new()),
            pid: None,
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.out_eof && self.err_eof
    }

    /// One round: send what stdin has, read what stdout and stderr have. Returns whether
    /// anything moved.
    pub(crate) fn step(
        &mut self,
        sess: &ssh2::Session,
        stdin: &mut Option<&mut dyn Read>,
        sink: &mut dyn FnMut(Stream, &[u8]),
        buf: &mut [u8],
    ) -> Result<bool, Fail> {
        let mut progress = false;
        if self.stdin_open && self.offset == self.pending.len() && !self.write_in_flight {
            self.pending.resize(CHUNK, 0);
            let n = match stdin.as_mut() {
                Some(r) => loop {
                    match r.read(&mut self.pending) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Fail::Local(e)),
                    }
                },
                None => 0,
            };
            self.pending.truncate(n);
            self.offset = 0;
            if n == 0 {
                self.stdin_open = false;
            }
        }
        if self.offset < self.pending.len() {
            match self.channel.write(&self.pending[self.offset..]) {
                Ok(0) => self.write_in_flight = false,
                Ok(n) => {
                    self.offset += n;
                    self.write_in_flight = false;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_in_flight = matches!(
                        sess.block_directions(),
                        BlockDirections::Outbound | BlockDirections::Both
                    );
                }
                Err(e) => {
                    // The command stopped reading (it exited, or closed stdin): drop the rest.
                    // A broken connection shows up on the reads below.
                    tracing::debug!(error = %e, "remote stdin closed");
                    self.stdin_open = false;
                    self.write_in_flight = false;
                    self.pending.clear();
                    self.offset = 0;
                }
            }
        }
        if !self.stdin_open
            && self.offset >= self.pending.len()
            && !self.hold_stdin
            && !self.eof_sent
        {
            match self.channel.send_eof() {
                Ok(()) => {
                    self.eof_sent = true;
                    progress = true;
                }
                Err(e) if is_code(&e, EAGAIN) => {}
                Err(e) if is_transport(&e) => return Err(Fail::Ssh(plain(&e))),
                Err(_) => self.eof_sent = true,
            }
        }
        for (stream, id) in [(Stream::Stdout, 0), (Stream::Stderr, 1)] {
            // A bounded number of reads per round, so that stdin keeps moving too.
            for _ in 0..8 {
                let at_eof = if id == 0 { self.out_eof } else { self.err_eof };
                if at_eof {
                    break;
                }
                match self.channel.read(id, buf) {
                    Ok(0) => {
                        // libssh2 can return 0 without EOF; trust only the channel's EOF flag.
                        if self.channel.eof() {
                            if id == 0 {
                                self.out_eof = true;
                            } else {
                                self.err_eof = true;
                                if let Some(head) = self.stderr_head.take() {
                                    if !head.is_empty() {
                                        sink(Stream::Stderr, &head);
                                    }
                                }
                            }
                            progress = true;
                        }
                        break;
                    }
                    Ok(n) => {
                        if stream == Stream::Stdout && buf[..n].contains(&b'\n') {
                            self.got_newline = true;
                        }
                        progress = true;
                        if stream == Stream::Stderr {
                            if let Some(head) = self.stderr_head.as_mut() {
                                head.extend_from_slice(&buf[..n]);
                                if let Some(pos) = head.iter().position(|b| *b == b'\n') {
                                    let head = self.stderr_head.take().unwrap_or_default();
                                    let line = String::from_utf8_lossy(&head[..pos]);
                                    match line
                                        .strip_prefix(PID_MARK)
                                        .and_then(|p| p.trim().parse().ok())
                                    {
                                        Some(pid) => {
                                            self.pid = Some(pid);
                                            if head.len() > pos + 1 {
                                                sink(stream, &head[pos + 1..]);
                                            }
                                        }
                                        None => sink(stream, &head),
                                    }
                                }
                                continue;
                            }
                        }
                        sink(stream, &buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "channel read failed");
                        return Err(Fail::Ssh(format!("reading from the channel failed: {e}")));
                    }
                }
            }
        }
        Ok(progress)
    }
}

impl Inner {
    /// The turn of one whole operation on the session (see [`super::ssh::Session`]).
    pub(crate) fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.ops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn usable(&self) -> Result<()> {
        match self.broken.lock().unwrap().as_ref() {
            Some(why) => Err(
                Error::ssh(format!("the SSH connection to {} is closed", self.name))
                    .cause(why.clone()),
            ),
            None => Ok(()),
        }
    }

    /// Marks the connection unusable and closes the socket (which ends every remote
    /// command of this session, and never blocks).
    pub(crate) fn break_connection(&self, why: &str) {
        let mut broken = self.broken.lock().unwrap();
        if broken.is_none() {
            *broken = Some(why.to_string());
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    pub(crate) fn lost(&self, why: &str) -> Error {
        let why = why.to_string();
        self.break_connection(&why);
        Error::ssh(format!("lost the SSH connection to {}", self.name)).cause(why)
    }

    /// Opens a session channel and starts `command` on it (no PTY, ever).
    pub(crate) fn open_exec(
        &self,
        command: &str,
        deadline: Option<Instant>,
        wrap_it: bool,
    ) -> Result<Channel> {
        self.usable()?;
        let open_deadline = Some(
            deadline
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(60))
                .min(Instant::now() + Duration::from_secs(60)),
        );
        let mut channel = {
            match self.retry(open_deadline, || Channel::open(&self.sess)) {
                Ok(c) => c,
                Err(None) => {
                    self.break_connection("opening a channel timed out");
                    return Err(Error::ssh(format!("{} did not open a channel within 60s", self.name)));
                }
                Err(Some(e)) if is_transport(&e) => return Err(self.lost(&plain(&e))),
                Err(Some(e)) => {
                    return Err(Error::ssh(format!("{} refused to open a new SSH channel", self.name))
                        .cause(plain(&e))
                        .hint("sshd's `MaxSessions` (default 10) limits the channels open at once on one connection"))
                }
            }
        };
        let line = if wrap_it {
            wrap(command)
        } else {
            command.to_string()
        };
        match self.retry(open_deadline, || channel.exec(&line)) {
            Ok(()) => Ok(channel),
            Err(Some(e)) if is_transport(&e) => Err(self.lost(&plain(&e))),
            Err(e) => {
                let why = e.map(|e| plain(&e)).unwrap_or_else(|| "no answer".into());
                let _ = self.close_channel(&mut channel, Instant::now() + STOP_GRACE);
                Err(Error::ssh(format!("{} refused to run `{command}`", self.name)).cause(why))
            }
        }
    }

    /// Pumps until `done(pump)` (Ok(true)) or the deadline (Ok(false)).
    pub(crate) fn run_until(
        &self,
        pump: &mut Pump,
        stdin: &mut Option<&mut dyn Read>,
        sink: &mut dyn FnMut(Stream, &[u8]),
        deadline: Option<Instant>,
        done: impl Fn(&Pump) -> bool,
    ) -> Result<bool, Fail> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let progress = pump.step(&self.sess, stdin, sink, &mut buf)?;
            if done(pump) {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            if !progress {
                if !pump.write_in_flight && pump.offset >= pump.pending.len() {
                    self.maybe_keepalive();
                }
                self.wait(deadline, Duration::from_secs(1), pump.write_in_flight);
            }
        }
    }

    /// Sends a keepalive if one is due, but only when nothing of ours is waiting to be sent:
    /// a keepalive that libssh2 can only half send would block every later send.
    pub(crate) fn maybe_keepalive(&self) {
        if !socket_send_queue_empty(&self.socket) {
            return;
        }
        if let Err(e) = self.sess.keepalive_send() {
            tracing::debug!(error = %e, "keepalive");
        }
    }

    /// Waits for the socket to be ready in the directions libssh2 asked for.
    pub(crate) fn wait(&self, deadline: Option<Instant>, max: Duration, want_out: bool) {
        let mut events = match self.sess.block_directions() {
            BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        };
        if want_out {
            events |= libc::POLLOUT;
        }
        let mut wait = max;
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(Instant::now()));
        }
        let mut pfd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe {
            libc::poll(&mut pfd, 1, wait.as_millis().min(i32::MAX as u128) as i32);
        }
    }

    /// Calls `f` until it stops saying EAGAIN. `Err(None)` = deadline.
    pub(crate) fn retry<T>(
        &self,
        deadline: Option<Instant>,
        mut f: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, Option<ssh2::Error>> {
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if is_code(&e, EAGAIN) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(None);
                    }
                    self.wait(deadline, Duration::from_millis(200), false);
                }
                Err(e) => return Err(Some(e)),
            }
        }
    }

    /// After both streams reached EOF: wait for the close, then read the exit status and
    /// signal (in that order: before the close, libssh2 reports 0).
    pub(crate) fn finish(
        &self,
        mut pump: Pump,
        command: &str,
        deadline: Option<Instant>,
    ) -> Result<ExitStatus> {
        let end = deadline
            .unwrap_or_else(|| Instant::now() + STOP_GRACE)
            .max(Instant::now() + STOP_GRACE);
        if let Err(why) = self.close_channel(&mut pump.channel, end) {
            self.break_connection(&why);
            return Err(
                Error::ssh(format!("`{command}` ended but its channel did not close")).cause(why),
            );
        }
        let code = pump.channel.exit_status();
        let signal = pump.channel.exit_signal();
        Ok(ExitStatus { code, signal })
    }

    /// EOF sent and seen → `wait_close`. Never waits past `end`.
    pub(crate) fn close_channel(&self, channel: &mut Channel, end: Instant) -> Result<(), String> {
        match self.retry(Some(end), || channel.send_eof()) {
            Ok(()) | Err(Some(_)) => {}
            Err(None) => return Err("sending EOF timed out".into()),
        }
        match self.retry(Some(end), || channel.close()) {
            Ok(()) => {}
            Err(None) => return Err("the channel did not close in time".into()),
            Err(Some(e)) if is_transport(&e) => return Err(plain(&e)),
            Err(Some(_)) => {}
        }
        match self.retry(Some(end), || channel.wait_close()) {
            Ok(()) => Ok(()),
            Err(None) => Err("the channel did not close in time".into()),
            Err(Some(e)) if is_transport(&e) => Err(plain(&e)),
            Err(Some(_)) => Ok(()),
        }
    }

    /// Stops a command that must end now: finish any half-sent packet, SIGTERM (SIGKILL
    /// after half the grace), EOF, drain, close. If that does not work within
    /// [`STOP_GRACE`], the connection is dropped (the only way to free the channel without
    /// blocking, ssh2 #165); `Err` says so.
    pub(crate) fn stop(
        &self,
        mut pump: Pump,
        sink: &mut dyn FnMut(Stream, &[u8]),
        patience: Duration,
    ) -> Result<(), String> {
        let start = Instant::now();
        let end = start + STOP_GRACE;
        let mut buf = vec![0u8; CHUNK];
        // A half-sent packet blocks every other send: finish it first.
        while pump.write_in_flight && Instant::now() < end {
            match pump.channel.write(&pump.pending[pump.offset..]) {
                Ok(n) => {
                    pump.offset += n;
                    pump.write_in_flight = false;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    pump.write_in_flight = matches!(
                        self.sess.block_directions(),
                        BlockDirections::Outbound | BlockDirections::Both
                    );
                    self.wait(Some(end), Duration::from_millis(100), true);
                }
                Err(_) => pump.write_in_flight = false,
            }
        }
        pump.stdin_open = false;
        pump.hold_stdin = false;
        pump.pending.clear();
        pump.offset = 0;
        let mut requested = None;
        let mut killed = None;
        let mut no_stdin: Option<&mut dyn Read> = None;
        loop {
            // Reading first also sends EOF and picks up the PID line.
            let progress = match pump.step(&self.sess, &mut no_stdin, sink, &mut buf) {
                Ok(p) => p,
                Err(Fail::Ssh(why)) => {
                    self.break_connection(&why);
                    return Err(why);
                }
                Err(Fail::Local(_)) => true,
            };
            if pump.done() || Instant::now() >= end {
                break;
            }
            let elapsed = start.elapsed();
            let want = if elapsed < patience {
                None
            } else if elapsed >= patience + (STOP_GRACE - patience) / 2 {
                Some("KILL")
            } else {
                Some("TERM")
            };
            if let Some(want) = want {
                if requested != Some(want) {
                    requested = Some(want);
                    // The SSH `signal` request works for non-root logins only (sshd runs
                    // root sessions without privilege separation and then refuses it)...
                    let r = self.retry(Some(end), || pump.channel.signal(want));
                    tracing::debug!(signal = want, ok = r.is_ok(), pid = ?pump.pid, "signal request");
                }
                // ...so the process group is also killed from a second channel.
                if killed != Some(want) {
                    if let Some(pid) = pump.pid {
                        killed = Some(want);
                        self.kill_remote(pid, want, end);
                    }
                }
            }
            if !progress {
                self.wait(Some(end), Duration::from_millis(50), false);
            }
        }
        if pump.done()
            && self
                .close_channel(
                    &mut pump.channel,
                    end.max(Instant::now() + Duration::from_secs(1)),
                )
                .is_ok()
        {
            return Ok(());
        }
        let why = format!(
            "the remote command did not stop within {}s, so the SSH connection was closed",
            STOP_GRACE.as_secs()
        );
        self.break_connection(&why);
        Err(why)
    }
}

/// Marks the first stderr line of every command: the PID of the remote shell, which
/// sshd made a session (and process group) leader. A command that must be stopped is killed
/// through it.
pub(crate) const PID_MARK: &str = "pxdeploy-pid:";

/// `command` preceded by the PID line (removed from stderr again by the pump).
fn wrap(command: &str) -> String {
    format!("echo {PID_MARK}$$ >&2; {command}")
}

impl Inner {
    /// Sends `sig` to the process group `pid` (else the process) from a new channel.
    pub(crate) fn kill_remote(&self, pid: u32, sig: &str, end: Instant) {
        let cmd =
            format!("kill -{sig} -- -{pid} 2>/dev/null || kill -{sig} {pid} 2>/dev/null; true");
        let deadline = Some(end.min(Instant::now() + Duration::from_secs(3)));
        let Ok(channel) = self.open_exec(&cmd, deadline, false) else {
            return;
        };
        let mut pump = Pump::new(channel, false, false);
        pump.stderr_head = None;
        let mut none: Option<&mut dyn Read> = None;
        let mut sink = |_: Stream, _: &[u8]| {};
        if let Ok(true) = self.run_until(&mut pump, &mut none, &mut sink, deadline, |p| p.done()) {
            let _ = self.close_channel(&mut pump.channel, Instant::now() + Duration::from_secs(2));
        }
    }
}

pub(crate) fn keep_tail(buf: &mut Vec<u8>, data: &[u8]) {
    const MAX: usize = 64 * 1024;
    buf.extend_from_slice(data);
    if buf.len() > MAX {
        buf.drain(..buf.len() - MAX);
    }
}

/// Nothing of ours waits in the kernel's send queue (Linux: TIOCOUTQ), so a small packet
/// will be sent whole.
#[cfg(target_os = "linux")]
fn socket_send_queue_empty(socket: &TcpStream) -> bool {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    rc == 0 && queued == 0
}

#[cfg(not(target_os = "linux"))]
fn socket_send_queue_empty(_socket: &TcpStream) -> bool {
    true
}
