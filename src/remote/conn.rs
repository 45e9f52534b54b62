//! The connection: one non-blocking libssh2 session and its socket, taken by one operation
//! at a time, and the lifecycle of its channels: open a command, pump it until done or a
//! deadline (waiting with `poll()` in the directions libssh2 asks for, with keepalives),
//! close it (EOF → drain → close → exit status), stop one that must end now, and drop the
//! whole connection when nothing else works (`conn/stop.rs`), the heartbeat of a channel
//! held open (`conn/held.rs`), and the `direct-tcpip` tunnels that carry the connections of
//! sessions reached through this one (`conn/tunnel.rs`). The per-channel state lives in
//! [`Pump`].

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ssh2::BlockDirections;

use super::channel::{is_code, is_transport, plain, RawChannel as Channel, EAGAIN};
use super::pump::{Fail, Pump, Stream, CHUNK, PID_MARK};
use super::ExitStatus;
use crate::error::{Error, Result};

mod held;
mod interactive;
mod stop;
mod tunnel;

pub(crate) use interactive::Pty;

/// How long a command that ran out of time gets to stop after SIGTERM (then SIGKILL), and
/// how long closing a channel may take, before the whole connection is dropped instead.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

pub(crate) struct Conn {
    sess: ssh2::Session,
    /// The same socket libssh2 uses: for `poll()` and for dropping the connection.
    socket: Socket,
    /// The descriptor libssh2 itself uses (`socket` is a copy): its round trips are counted.
    turns: RawFd,
    /// The bastion's connection this one runs through (kept open while this one lives).
    _via: Option<Arc<Conn>>,
    /// `user@host:port`, for messages.
    name: String,
    /// Set once the connection is unusable; every later call fails with this reason.
    broken: Mutex<Option<String>>,
    /// Held for each whole operation (see [`super::ssh::Session`]): one at a time.
    ops: Mutex<()>,
    /// The channel kept alive with a heartbeat (the deploy lock's), see [`held`].
    held: Mutex<Option<held::Held>>,
    /// Set when the held channel ended: every later operation fails with it.
    held_lost: Mutex<Option<Error>>,
    /// The `direct-tcpip` channels carrying other sessions' connections (see [`tunnel`]).
    tunnels: Mutex<tunnel::Tunnels>,
}

/// The socket under a session: TCP to the host, or our end of a socket pair whose other end
/// a bastion's `direct-tcpip` channel carries (libssh2 takes only a file descriptor).
pub(crate) enum Socket {
    Tcp(TcpStream),
    Pair(UnixStream),
}

impl Socket {
    fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Both),
            Socket::Pair(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Pair(s) => s.as_raw_fd(),
        }
    }
}

impl Conn {
    /// An authenticated session, already non-blocking, over `socket` (through `via`'s
    /// tunnel when `via` is set).
    pub(crate) fn new(
        sess: ssh2::Session,
        socket: Socket,
        turns: RawFd,
        name: String,
        via: Option<Arc<Conn>>,
    ) -> Conn {
        Conn {
            sess,
            socket,
            turns,
            _via: via,
            name,
            tunnels: Mutex::new(tunnel::Tunnels::default()),
            broken: Mutex::new(None),
            ops: Mutex::new(()),
            held: Mutex::new(None),
            held_lost: Mutex::new(None),
        }
    }

    /// The turn of one whole operation on the session (see [`super::ssh::Session`]).
    pub(crate) fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.ops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn usable(&self) -> Result<()> {
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
    fn break_connection(&self, why: &str) {
        let mut broken = self.broken.lock().unwrap();
        if broken.is_none() {
            *broken = Some(why.to_string());
        }
        self.socket.shutdown();
    }

    pub(crate) fn lost(&self, why: &str) -> Error {
        let why = why.to_string();
        self.break_connection(&why);
        Error::ssh(format!("lost the SSH connection to {}", self.name)).cause(why)
    }

    /// Opens a session channel and starts `command` on it (a PTY only when `pty` is given:
    /// an interactive command, see `conn/interactive.rs`). `wrap_it`: the command prints its
    /// PID first (for [`Conn::stop`]).
    pub(crate) fn open_exec(
        &self,
        command: &str,
        deadline: Option<Instant>,
        wrap_it: bool,
        pty: Option<&Pty>,
    ) -> Result<Channel> {
        self.usable()?;
        let open_deadline = Some(
            deadline
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(60))
                .min(Instant::now() + Duration::from_secs(60)),
        );
        let mut channel = match self.retry(open_deadline, || Channel::open(&self.sess)) {
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
        };
        if let Some(pty) = pty {
            if let Err(e) = self.retry(open_deadline, || {
                channel.request_pty(&pty.term, pty.cols, pty.rows)
            }) {
                let why = e.map(|e| plain(&e)).unwrap_or_else(|| "no answer".into());
                let _ = self.close_channel(&mut channel, Instant::now() + STOP_GRACE);
                return Err(Error::ssh(format!("{} refused a terminal", self.name)).cause(why));
            }
        }
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

    /// Starts `command` and returns its pump (`has_stdin`: local stdin will be sent;
    /// `hold_stdin`: the remote stdin stays open until the pump is stopped). Nothing starts
    /// once the held channel ended (see [`held`]).
    pub(crate) fn start(
        &self,
        command: &str,
        deadline: Option<Instant>,
        has_stdin: bool,
        hold_stdin: bool,
    ) -> Result<Pump> {
        self.beat(true);
        if let Some(lost) = self.held_lost() {
            return Err(lost);
        }
        // A process frozen while opening (a suspended laptop) finds the channel request
        // unanswered when it wakes: if the lock went meanwhile, that is what to report.
        let channel = self.open_exec(command, deadline, true, None).map_err(|e| {
            self.beat(true);
            self.or_held_lost(e)
        })?;
        Ok(Pump::new(channel, has_stdin, hold_stdin, true))
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
            if !pump.write_in_flight {
                self.beat(false);
                self.pump_tunnels();
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            if !progress {
                if pump.idle_out() {
                    self.maybe_keepalive();
                }
                self.wait(deadline, Duration::from_secs(1), pump.write_in_flight);
            }
        }
    }

    /// Sends a keepalive if one is due, but only when nothing of ours is waiting to be sent:
    /// a keepalive that libssh2 can only half send would block every later send.
    fn maybe_keepalive(&self) {
        if !socket_send_queue_empty(&self.socket) {
            return;
        }
        if let Err(e) = self.sess.keepalive_send() {
            tracing::debug!(error = %e, "keepalive");
        }
    }

    /// Waits for the socket to be ready in the directions libssh2 asked for.
    fn wait(&self, deadline: Option<Instant>, max: Duration, want_out: bool) {
        self.wait_also(deadline, max, want_out, None)
    }

    /// Like [`Conn::wait`], also waking up when `local` (our stdin) is readable.
    fn wait_also(
        &self,
        deadline: Option<Instant>,
        max: Duration,
        want_out: bool,
        local: Option<RawFd>,
    ) {
        let mut events = match self.sess.block_directions() {
            BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        };
        if want_out {
            events |= libc::POLLOUT;
        }
        if events == libc::POLLIN {
            super::round_trips::waiting(self.turns);
        }
        let mut wait = max;
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(Instant::now()));
        }
        let mut fds = vec![libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events,
            revents: 0,
        }];
        self.tunnel_fds(&mut fds);
        if let Some(fd) = local {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: valid pollfds for the duration of the call.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis().min(i32::MAX as u128) as i32,
            );
        }
    }

    /// Calls `f` until it stops saying EAGAIN. `Err(None)` = deadline.
    fn retry<T>(
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
    fn close_channel(&self, channel: &mut Channel, end: Instant) -> Result<(), String> {
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
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Say goodbye if the connection is fine, then close the socket so that nothing in
        // libssh2's teardown can wait for the server.
        if self.broken.get_mut().map(|b| b.is_none()).unwrap_or(false) {
            let end = Instant::now() + Duration::from_millis(500);
            let _ = self.retry(Some(end), || {
                self.sess.disconnect(None, "pxdeploy done", None)
            });
        }
        self.socket.shutdown();
        super::round_trips::forget(self.turns);
    }
}

/// `command` preceded by the PID line (removed from stderr again by the pump).
fn wrap(command: &str) -> String {
    format!("echo {PID_MARK}$$ >&2; {command}")
}

/// Nothing of ours waits in the kernel's send queue (Linux: TIOCOUTQ), so a small packet
/// will be sent whole.
#[cfg(target_os = "linux")]
fn socket_send_queue_empty(socket: &Socket) -> bool {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    rc == 0 && queued == 0
}

#[cfg(not(target_os = "linux"))]
fn socket_send_queue_empty(_socket: &Socket) -> bool {
    true
}
