//! `direct-tcpip` tunnels: how a session reaches a host through this one (a bastion, or a
//! cluster node on the way to another node).
//!
//! libssh2 reads and writes a file descriptor, never a channel, so the session behind the
//! tunnel gets one end of a socket pair and the tunnel copies bytes between the other end
//! and the channel. The bastion's session is one lock (and one send state: a half-sent
//! packet must be finished before anything else goes out), so the copying happens wherever
//! this session is driven: the pump loop of every command ([`Conn::run_until`]), and, while no
//! operation runs, a small thread that takes the session's turn with `try_lock`, never
//! waiting for it. Nothing here blocks on the session.

use std::ffi::CString;
use std::net::Shutdown;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::Conn;
use crate::error::{Error, Result};
use crate::remote::channel::{is_transport, plain, RawChannel as Channel};
use crate::remote::pump::CHUNK;
use crate::remote::tunnel::{Step, Tunnel};

/// How long a tunnel's half-sent packet may take to leave before the connection is dropped.
const SEND_LIMIT: Duration = Duration::from_secs(10);
/// Rounds over all tunnels per call before giving the session back.
const ROUNDS: usize = 64;

#[derive(Default)]
pub(crate) struct Tunnels {
    list: Vec<Tunnel>,
    /// The idle pump thread runs (one per connection, started with the first tunnel).
    thread: bool,
}

impl Conn {
    /// Opens a `direct-tcpip` channel to `host:port` (resolved and connected to by the
    /// server of this session) and returns the socket that carries it.
    pub(crate) fn forward(
        self: &Arc<Self>,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<UnixStream> {
        self.usable()?;
        let to = format!("{host}:{port}");
        let c_host = CString::new(host)
            .map_err(|_| Error::config(format!("{host:?} is not a host name")))?;
        let _one = self.exclusive();
        let channel = match self.retry(Some(deadline), || {
            Channel::direct_tcpip(&self.sess, &c_host, port)
        }) {
            Ok(c) => c,
            Err(None) => {
                self.break_connection("opening a forwarding channel timed out");
                return Err(Error::ssh(format!(
                    "{} did not open a forwarding channel to {to} in time",
                    self.name
                )));
            }
            Err(Some(e)) if is_transport(&e) => return Err(self.lost(&plain(&e))),
            Err(Some(e)) => return Err(refused(&self.name, &to, &e)),
        };
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| Error::unexpected("cannot create a socket pair").cause(e.to_string()))?;
        ours.set_nonblocking(true)
            .map_err(|e| Error::unexpected("cannot create a socket pair").cause(e.to_string()))?;
        tracing::debug!(via = %self.name, %to, "tunnel open");
        let mut tunnels = self.tunnels.lock().unwrap_or_else(PoisonError::into_inner);
        tunnels.list.push(Tunnel {
            channel,
            local: ours,
            up: Vec::new(),
            up_off: 0,
            down: Vec::new(),
            down_off: 0,
            local_eof: false,
            eof_sent: false,
            remote_eof: false,
            write_in_flight: false,
            to,
        });
        if !tunnels.thread {
            tunnels.thread = true;
            let conn = Arc::downgrade(self);
            let _ = std::thread::Builder::new()
                .name("pxdeploy-tunnel".into())
                .spawn(move || idle_pump(conn));
        }
        Ok(theirs)
    }

    /// Copies what is waiting in both directions of every tunnel. Only call with the
    /// session's turn and nothing of another channel half sent; returns with nothing of
    /// its own half sent (or the connection dropped). Returns whether anything moved.
    pub(crate) fn pump_tunnels(&self) -> bool {
        let mut tunnels = self.tunnels.lock().unwrap_or_else(PoisonError::into_inner);
        if tunnels.list.is_empty() {
            return false;
        }
        let mut buf = vec![0u8; CHUNK];
        let mut any = false;
        for _ in 0..ROUNDS {
            let mut moved = false;
            let mut i = 0;
            while i < tunnels.list.len() {
                let t = &mut tunnels.list[i];
                let step = match t.step(&self.sess, &mut buf) {
                    Ok(s) => s,
                    Err(why) if why.1 => {
                        // Closing the tunnels' sockets tells the sessions behind them.
                        tunnels.list.clear();
                        drop(tunnels);
                        self.break_connection(&why.0);
                        return true;
                    }
                    Err(why) => {
                        tracing::debug!(to = %t.to, why = %why.0, "tunnel failed");
                        Step::Done
                    }
                };
                if t.write_in_flight && !self.finish_write(t) {
                    return true;
                }
                match step {
                    Step::Moved => moved = true,
                    Step::Idle => {}
                    Step::Done => {
                        let mut t = tunnels.list.remove(i);
                        tracing::debug!(to = %t.to, "tunnel closed");
                        let _ = t.local.shutdown(Shutdown::Both);
                        let _ = t.channel.close();
                        moved = true;
                        continue;
                    }
                }
                i += 1;
            }
            any |= moved;
            if !moved {
                break;
            }
        }
        any
    }

    /// Writes a tunnel's half-sent packet until it is out. `false`: the connection was
    /// dropped instead.
    fn finish_write(&self, t: &mut Tunnel) -> bool {
        let end = Instant::now() + SEND_LIMIT;
        while t.write_in_flight {
            if Instant::now() >= end {
                self.break_connection("a tunnel's data could not be sent within 10s");
                return false;
            }
            self.poll_session(end, true);
            if let Err((why, _)) = t.write_up(&self.sess).map(drop) {
                self.break_connection(&why);
                return false;
            }
        }
        true
    }

    /// Waits for the session's socket alone (no tunnel sockets).
    fn poll_session(&self, end: Instant, out: bool) {
        let mut pfd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: if out { libc::POLLOUT } else { libc::POLLIN },
            revents: 0,
        };
        let wait = end
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe {
            libc::poll(&mut pfd, 1, wait.as_millis() as i32);
        }
    }

    /// Adds the tunnels' local sockets to a `poll()` set, in the directions they can move.
    pub(crate) fn tunnel_fds(&self, fds: &mut Vec<libc::pollfd>) {
        let tunnels = self.tunnels.lock().unwrap_or_else(PoisonError::into_inner);
        for t in &tunnels.list {
            let mut events = 0;
            if !t.local_eof && t.up_off >= t.up.len() {
                events |= libc::POLLIN;
            }
            if t.down_off < t.down.len() {
                events |= libc::POLLOUT;
            }
            if events != 0 {
                fds.push(libc::pollfd {
                    fd: t.local.as_raw_fd(),
                    events,
                    revents: 0,
                });
            }
        }
    }
}

/// What the server said when it would not open the channel, in words that name the cause.
fn refused(name: &str, to: &str, e: &ssh2::Error) -> Error {
    let said = e.message().to_ascii_lowercase();
    if said.contains("prohibited") {
        Error::ssh(format!("the bastion {name} refused to forward the connection to {to}"))
            .cause(format!("it does not allow TCP forwarding ({})", e.message()))
            .hint("the bastion's sshd must allow forwarding for this user: `AllowTcpForwarding yes` (and, if `PermitOpen` is set, it must include the node's address)")
    } else if said.contains("connect failed") {
        Error::ssh(format!("the bastion {name} could not connect to {to}"))
            .cause(e.message().to_string())
            .hint("the node's `host` and `port` are resolved and connected to by the bastion: check that it can reach them")
    } else {
        Error::ssh(format!(
            "the bastion {name} did not open a forwarding channel to {to}"
        ))
        .cause(plain(e))
    }
}

/// Copies tunnel data while no operation runs. Ends with the connection or its tunnels.
fn idle_pump(conn: Weak<Conn>) {
    loop {
        let Some(c) = conn.upgrade() else {
            return;
        };
        if c.broken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            c.tunnels
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .list
                .clear();
            return;
        }
        {
            let mut tunnels = c.tunnels.lock().unwrap_or_else(PoisonError::into_inner);
            if tunnels.list.is_empty() {
                tunnels.thread = false;
                return;
            }
        }
        // A running operation pumps the tunnels from its own loop: never wait for the turn.
        let moved = match c.ops.try_lock() {
            Ok(_turn) => {
                let moved = c.pump_tunnels();
                if !moved {
                    c.maybe_keepalive();
                }
                Some(moved)
            }
            Err(_) => None,
        };
        match moved {
            Some(true) => continue,
            Some(false) => {
                let mut fds = vec![libc::pollfd {
                    fd: c.socket.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                c.tunnel_fds(&mut fds);
                drop(c);
                // SAFETY: valid pollfds for the duration of the call (the fds stay open: a
                // closed one only makes poll return early).
                unsafe {
                    libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000);
                }
            }
            None => {
                drop(c);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
