//! Opening a [`Session`]: straight over TCP, or through another session's `direct-tcpip`
//! channel (a bastion, `jump`/`ProxyJump`; a cluster node on the way to another node).
//! Every hop gets the same treatment: handshake, host key check with the same rules, and
//! authentication with that hop's own user and keys.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::io::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::channel::{is_code, plain};
use super::conn::{Conn, Socket};
use super::ssh::Session;
use super::{auth, host_key, SshTarget};
use crate::error::{Error, Result};

impl Session {
    /// Connects to `target`, through its `jump` hosts in order when it has some (one
    /// TCP connection, to the first; every later hop is a channel of the one before).
    pub fn connect(target: &SshTarget) -> Result<Session> {
        let mut via: Option<Session> = None;
        let hops = target.jump.len();
        for (i, hop) in target.jump.iter().enumerate() {
            let next = match &via {
                None => Session::connect_direct(hop),
                Some(v) => Session::connect_via(v, hop),
            };
            let what = if hops == 1 {
                "the bastion".to_string()
            } else {
                format!("bastion {} of {hops}", i + 1)
            };
            via = Some(next.map_err(|e| {
                e.cause(format!(
                    "{} is {what} (`jump`/ProxyJump) on the way to {}",
                    hop.alias, target.alias
                ))
            })?);
        }
        match (&via, target.jump.last()) {
            (Some(v), Some(last)) => Session::connect_via(v, target).map_err(|e| {
                e.cause(format!(
                    "{} is reached through {} (`jump`/ProxyJump)",
                    target.alias, last.alias
                ))
            }),
            _ => Session::connect_direct(target),
        }
    }

    /// TCP connect (bounded by `connect_timeout`), handshake, host key check,
    /// authentication. `target.jump` is not looked at.
    pub fn connect_direct(target: &SshTarget) -> Result<Session> {
        let started = Instant::now();
        let deadline = started + target.connect_timeout;
        let where_ = target.address();
        let stream = tcp_connect(target, deadline)?;
        let _ = stream.set_nodelay(true);
        let socket = stream
            .try_clone()
            .map_err(|e| Error::ssh(format!("cannot connect to {where_}")).cause(e.to_string()))?;
        establish(target, stream, Socket::Tcp(socket), None, started)
    }

    /// Reaches `target` through `via`: `via`'s server connects to `target.hostname` and
    /// `target.port` (resolved there) and the new session runs inside that `direct-tcpip`
    /// channel; then the handshake, host key check and authentication as for a direct
    /// connection. `via` stays open as long as the new session (it can be dropped by the
    /// caller). `target.jump` is not looked at.
    pub fn connect_via(via: &Session, target: &SshTarget) -> Result<Session> {
        Session::forward(via, target)?.establish(target)
    }

    /// The first half of [`Session::connect_via`]: the `direct-tcpip` channel to `target`
    /// through `via`. The second half ([`Forwarded::establish`]) may run on another thread
    /// while `via` runs other commands (they carry the new session's bytes).
    pub fn forward(via: &Session, target: &SshTarget) -> Result<Forwarded> {
        let started = Instant::now();
        let deadline = started + target.connect_timeout;
        let stream = via.conn.forward(&target.hostname, target.port, deadline)?;
        Ok(Forwarded {
            stream,
            via: via.conn.clone(),
            started,
        })
    }
}

/// A `direct-tcpip` channel opened for a session not established yet ([`Session::forward`]).
pub struct Forwarded {
    stream: std::os::unix::net::UnixStream,
    via: Arc<Conn>,
    started: Instant,
}

impl Forwarded {
    /// Handshake, host key check and authentication with `target` in the channel.
    pub fn establish(self, target: &SshTarget) -> Result<Session> {
        let socket = self.stream.try_clone().map_err(|e| {
            Error::unexpected("cannot duplicate the tunnel's socket").cause(e.to_string())
        })?;
        establish(
            target,
            self.stream,
            Socket::Pair(socket),
            Some(self.via),
            self.started,
        )
    }
}

/// Handshake, host key check and authentication over `stream`; then the session becomes
/// non-blocking for good.
fn establish(
    target: &SshTarget,
    stream: impl AsRawFd + 'static,
    socket: Socket,
    via: Option<Arc<Conn>>,
    started: Instant,
) -> Result<Session> {
    let deadline = started + target.connect_timeout;
    let where_ = target.address();
    let mut sess = ssh2::Session::new().map_err(|e| Error::unexpected(format!("libssh2: {e}")))?;
    let fd = stream.as_raw_fd();
    sess.set_tcp_stream(stream);
    super::round_trips::watch(&sess, fd);
    sess.set_timeout(remaining_ms(deadline));

    // Which host key algorithms to offer (recorded types first, or HostKeyAlgorithms).
    let host_key = host_key::prepare(&sess, target)?;

    sess.handshake().map_err(|e| {
        if is_code(&e, -9) || Instant::now() >= deadline {
            Error::ssh(format!(
                "SSH handshake with {where_} timed out after {}s",
                target.connect_timeout.as_secs()
            ))
            .cause(
                "something accepts connections on that port but does not answer as an SSH server",
            )
            .hint("check `host` and `port` in pxdeploy.toml, and that sshd runs on that port")
        } else {
            Error::ssh(format!("SSH handshake with {where_} failed")).cause(plain(&e))
        }
    })?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        via = via.is_some(),
        "handshake done"
    );

    host_key.verify(&sess, target)?;

    sess.set_timeout(remaining_ms(deadline).max(1000));
    auth::authenticate(&sess, target)?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, user = %target.user, "authenticated");

    sess.set_keepalive(false, target.keepalive_secs.max(1));
    sess.set_timeout(0);
    sess.set_blocking(false);
    super::round_trips::non_blocking(fd);
    let name = format!("{}@{}", target.user, where_);
    Ok(Session {
        conn: Arc::new(Conn::new(sess, socket, fd, name, via)),
    })
}

fn tcp_connect(target: &SshTarget, deadline: Instant) -> Result<TcpStream> {
    let where_ = target.address();
    let addrs: Vec<SocketAddr> = (target.hostname.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::ssh(format!("cannot resolve {}", target.hostname))
                .cause(e.to_string())
                .hint("check `host` in pxdeploy.toml (or HostName in ~/.ssh/config)")
        })?
        .collect();
    let mut errors = Vec::new();
    for addr in &addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            errors.push(format!("{addr}: not tried, the connect timeout ran out"));
            continue;
        }
        match TcpStream::connect_timeout(addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => errors.push(format!("{addr}: {}", io_words(&e, target.connect_timeout))),
        }
    }
    let refused = errors.iter().all(|e| e.contains("refused"));
    let mut err = Error::ssh(format!("cannot connect to {where_}"));
    for e in errors {
        err = err.cause(e);
    }
    Err(if refused {
        err.hint(format!(
            "is sshd running on {where_}? Check `host` and `port` in pxdeploy.toml"
        ))
    } else {
        err.hint(format!(
            "check that {} is up and reachable, or raise `connect_timeout_secs`",
            target.hostname
        ))
    })
}

fn io_words(e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("timed out after {}s", timeout.as_secs())
        }
        _ => e.to_string(),
    }
}

fn remaining_ms(deadline: Instant) -> u32 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .clamp(1, u32::MAX as u128) as u32
}
