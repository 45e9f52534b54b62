//! The ssh2 session: connect with a timeout, check the host key before auth, authenticate,
//! and run commands through a non-blocking pump (no stdin/stdout/stderr deadlocks).
//!
//! After authentication the libssh2 session is non-blocking for good. Every call holds
//! libssh2's session mutex only for a moment, so one thread pumping a command never blocks
//! another channel (the deploy lock's, which just sits open). Waiting is done here, with
//! `poll()` on the socket in the directions libssh2 asks for.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode, HashType, MethodType};

use super::channel::RawChannel as Channel;

use super::known_hosts::{self, HostKeyStatus, KnownHosts};
use super::{auth, target, ExitStatus, Output, SshTarget};
use crate::config::HostKeyCheck;
use crate::error::{Error, Result};

/// Which stream a chunk of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

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

const CHUNK: usize = 32 * 1024;
/// How long a command that ran out of time gets to stop after SIGTERM (then SIGKILL), and
/// how long closing a channel may take, before the whole connection is dropped instead.
const STOP_GRACE: Duration = Duration::from_secs(5);
const EAGAIN: i32 = -37;

/// One SSH connection to the Proxmox host. Every remote step of a pxdeploy run goes over it.
/// `Send + Sync`: several threads may run commands on it at once (each on its own channel).
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    sess: ssh2::Session,
    /// The same socket libssh2 uses: for `poll()` and for dropping the connection.
    socket: TcpStream,
    /// `user@host:port`, for messages.
    name: String,
    /// Set once the connection is unusable; every later call fails with this reason.
    broken: Mutex<Option<String>>,
    /// libssh2 keeps one channel-open state per session: open one channel at a time.
    open_lock: Mutex<()>,
    /// Operations currently waiting on the socket (if more than one, poll in short slices:
    /// a packet for one may be read by another).
    active: AtomicUsize,
}

impl Session {
    /// TCP connect (bounded by `connect_timeout`), handshake, host key check, authentication.
    pub fn connect(target: &SshTarget) -> Result<Session> {
        let started = Instant::now();
        let deadline = started + target.connect_timeout;
        let where_ = format!("{}:{}", target.hostname, target.port);
        let stream = tcp_connect(target, deadline)?;
        let _ = stream.set_nodelay(true);
        let socket = stream
            .try_clone()
            .map_err(|e| Error::ssh(format!("cannot connect to {where_}")).cause(e.to_string()))?;

        let mut sess =
            ssh2::Session::new().map_err(|e| Error::unexpected(format!("libssh2: {e}")))?;
        sess.set_tcp_stream(stream);
        sess.set_timeout(remaining_ms(deadline));

        // Host key algorithms: the types on record first, as OpenSSH does.
        let name = known_hosts::lookup_name(
            &target.hostname,
            target.port,
            target.host_key_alias.as_deref(),
        );
        let mut files = vec![target.known_hosts.clone()];
        files.extend(target.extra_known_hosts.iter().cloned());
        let db = KnownHosts::load(&files);
        let recorded = db.key_types(&name);
        if let Ok(supported) = sess.supported_algs(MethodType::HostKey) {
            if let Some(prefs) = known_hosts::host_key_prefs(&recorded, &supported) {
                tracing::debug!(prefs, "host key algorithms");
                let _ = sess.method_pref(MethodType::HostKey, &prefs);
            }
        }

        sess.handshake().map_err(|e| {
            if is_code(&e, -9) || Instant::now() >= deadline {
                Error::ssh(format!("SSH handshake with {where_} timed out after {}s", target.connect_timeout.as_secs()))
                    .cause("something accepts connections on that port but does not answer as an SSH server")
                    .hint("check `host` and `port` in pxdeploy.toml, and that sshd runs on that port")
            } else {
                Error::ssh(format!("SSH handshake with {where_} failed")).cause(plain(&e))
            }
        })?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "handshake done"
        );

        check_host_key(&sess, target, &db, &name)?;

        sess.set_timeout(remaining_ms(deadline).max(1000));
        auth::authenticate(&sess, target)?;
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, user = %target.user, "authenticated");

        sess.set_keepalive(false, target.keepalive_secs.max(1));
        sess.set_timeout(0);
        sess.set_blocking(false);
        Ok(Session {
            inner: Arc::new(Inner {
                sess,
                socket,
                name: format!("{}@{}", target.user, where_),
                broken: Mutex::new(None),
                open_lock: Mutex::new(()),
                active: AtomicUsize::new(0),
            }),
        })
    }

    /// `user@host:port`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Why the connection can no longer be used, if it can't.
    pub fn broken(&self) -> Option<String> {
        self.inner.broken.lock().unwrap().clone()
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
        let channel = self.inner.open_exec(command, deadline, true)?;
        let _active = Active::new(&self.inner);
        let mut pump = Pump::new(channel, stdin.is_some(), false);
        let mut stdin = stdin;
        let mut last_err: Vec<u8> = Vec::new();
        let mut tee = |s: Stream, d: &[u8]| {
            if s == Stream::Stderr {
                keep_tail(&mut last_err, d);
            }
            sink(s, d)
        };
        let result = self
            .inner
            .run_until(&mut pump, &mut stdin, &mut tee, deadline, |p| p.done());
        match result {
            Ok(true) => self.inner.finish(pump, command, deadline),
            Ok(false) => {
                let t = timeout.unwrap_or_default();
                let stopped = self.inner.stop(pump, &mut tee, Duration::ZERO);
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
                let _ = self.inner.stop(pump, &mut tee, Duration::ZERO);
                Err(
                    Error::unexpected(format!("reading the data to send to `{command}` failed"))
                        .cause(e.to_string()),
                )
            }
            Err(Fail::Ssh(e)) => Err(self.inner.lost(&e)),
        }
    }

    /// Starts `command` and leaves it running on its own channel (stdin stays open, so a
    /// command like `flock … cat` holds until [`RemoteProcess::close`], pxdeploy's exit, or
    /// the connection's end). Other commands can run on the session meanwhile.
    pub fn spawn(&self, command: &str) -> Result<RemoteProcess> {
        let channel = self
            .inner
            .open_exec(command, Some(Instant::now() + STOP_GRACE * 6), true)?;
        Ok(RemoteProcess {
            inner: self.inner.clone(),
            command: command.to_string(),
            pump: Some(Pump::new(channel, false, true)),
            stdout: Vec::new(),
            stderr: Vec::new(),
        })
    }

    /// Sends a keepalive if one is due (commands do this themselves while they run).
    pub fn keepalive(&self) {
        self.inner.maybe_keepalive();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Say goodbye if the connection is fine, then close the socket so that nothing in
        // libssh2's teardown can wait for the server.
        if self.broken.get_mut().map(|b| b.is_none()).unwrap_or(false) {
            let end = Instant::now() + Duration::from_millis(500);
            let _ = self.retry(Some(end), || {
                self.sess.disconnect(None, "pxdeploy done", None)
            });
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// A command left running on its own channel (see [`Session::spawn`]).
pub struct RemoteProcess {
    inner: Arc<Inner>,
    command: String,
    pump: Option<Pump>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl RemoteProcess {
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
            let _active = Active::new(&self.inner);
            let (out, err) = (&mut self.stdout, &mut self.stderr);
            let mut sink = |s: Stream, d: &[u8]| match s {
                Stream::Stdout => out.extend_from_slice(d),
                Stream::Stderr => keep_tail(err, d),
            };
            let mut no_stdin: Option<&mut dyn Read> = None;
            let got = self
                .inner
                .run_until(pump, &mut no_stdin, &mut sink, Some(deadline), |p| {
                    p.out_eof || p.got_newline
                });
            pump.got_newline = false;
            match got {
                Ok(true) => continue,
                Ok(false) => return Ok(ReadLine::TimedOut),
                Err(Fail::Ssh(e)) => return Err(self.inner.lost(&e)),
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
    pub fn wait(mut self, timeout: Duration) -> Result<Output> {
        let Some(mut pump) = self.pump.take() else {
            return Ok(Output::default());
        };
        pump.hold_stdin = false;
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
        let _active = Active::new(&self.inner);
        let mut no_stdin: Option<&mut dyn Read> = None;
        match self
            .inner
            .run_until(&mut pump, &mut no_stdin, &mut sink, deadline, |p| p.done())
        {
            Ok(true) => {
                out.status = self.inner.finish(pump, &self.command, deadline)?;
                out.stderr = std::mem::take(&mut self.stderr);
                Ok(out)
            }
            Ok(false) => {
                let _ = self.inner.stop(pump, &mut sink, Duration::ZERO);
                Err(Error::remote(format!(
                    "`{}` timed out after {}s",
                    self.command,
                    timeout.as_secs()
                )))
            }
            Err(Fail::Ssh(e)) => Err(self.inner.lost(&e)),
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
        let Some(pump) = self.pump.take() else {
            return Ok(());
        };
        let _active = Active::new(&self.inner);
        let mut sink = |_: Stream, _: &[u8]| {};
        self.inner
            .stop(pump, &mut sink, Duration::from_millis(500))
            .map_err(|why| Error::ssh(format!("stopping `{}` failed", self.command)).cause(why))
    }
}

impl Drop for RemoteProcess {
    fn drop(&mut self) {
        let _ = self.close_inner();
    }
}

/// One command's channel and where its streams stand.
struct Pump {
    channel: Channel,
    pending: Vec<u8>,
    offset: usize,
    /// More local stdin to send.
    stdin_open: bool,
    /// Keep the remote stdin open (spawned processes) instead of sending EOF.
    hold_stdin: bool,
    eof_sent: bool,
    /// A write returned EAGAIN halfway through a packet: it must be finished (by writing the
    /// same bytes again) before anything else can be sent on this session.
    write_in_flight: bool,
    out_eof: bool,
    err_eof: bool,
    got_newline: bool,
    /// stderr held back until the PID line of [`wrap`] has been seen.
    stderr_head: Option<Vec<u8>>,
    /// The remote shell's PID (its process group), from the PID line.
    pid: Option<u32>,
}

enum Fail {
    /// The connection failed (in plain words).
    Ssh(String),
    /// Reading our own stdin source failed.
    Local(io::Error),
}

impl Pump {
    fn new(channel: Channel, has_stdin: bool, hold_stdin: bool) -> Pump {
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

    fn done(&self) -> bool {
        self.out_eof && self.err_eof
    }

    /// One round: send what stdin has, read what stdout and stderr have. Returns whether
    /// anything moved.
    fn step(
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
    fn usable(&self) -> Result<()> {
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
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    fn lost(&self, why: &str) -> Error {
        let why = why.to_string();
        self.break_connection(&why);
        Error::ssh(format!("lost the SSH connection to {}", self.name)).cause(why)
    }

    /// Opens a session channel and starts `command` on it (no PTY, ever).
    fn open_exec(
        &self,
        command: &str,
        deadline: Option<Instant>,
        wrap_it: bool,
    ) -> Result<Channel> {
        self.usable()?;
        let _active = Active::new(self);
        let open_deadline = Some(
            deadline
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(60))
                .min(Instant::now() + Duration::from_secs(60)),
        );
        let mut channel = {
            let _guard = self.open_lock.lock().unwrap();
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
    fn run_until(
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
        let mut events = match self.sess.block_directions() {
            BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        };
        if want_out {
            events |= libc::POLLOUT;
        }
        let mut wait = max;
        if self.active.load(Ordering::Relaxed) > 1 {
            wait = wait.min(Duration::from_millis(10));
        }
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
    fn finish(
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

    /// Stops a command that must end now: finish any half-sent packet, SIGTERM (SIGKILL
    /// after half the grace), EOF, drain, close. If that does not work within
    /// [`STOP_GRACE`], the connection is dropped (the only way to free the channel without
    /// blocking, ssh2 #165); `Err` says so.
    fn stop(
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
const PID_MARK: &str = "pxdeploy-pid:";

/// `command` preceded by the PID line (removed from stderr again by the pump).
fn wrap(command: &str) -> String {
    format!("echo {PID_MARK}$$ >&2; {command}")
}

impl Inner {
    /// Sends `sig` to the process group `pid` (else the process) from a new channel.
    fn kill_remote(&self, pid: u32, sig: &str, end: Instant) {
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

/// Counts operations waiting on the socket while alive.
struct Active<'a>(&'a Inner);
impl<'a> Active<'a> {
    fn new(inner: &'a Inner) -> Self {
        inner.active.fetch_add(1, Ordering::Relaxed);
        Active(inner)
    }
}
impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

fn tcp_connect(target: &SshTarget, deadline: Instant) -> Result<TcpStream> {
    let where_ = format!("{}:{}", target.hostname, target.port);
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

/// Checks the presented host key against known_hosts; unknown keys are recorded (one line
/// appended) under `accept-new`, changed and revoked keys always refused.
fn check_host_key(
    sess: &ssh2::Session,
    target: &SshTarget,
    db: &KnownHosts,
    name: &str,
) -> Result<()> {
    let (blob, _) = sess
        .host_key()
        .ok_or_else(|| Error::ssh(format!("{} sent no host key", target.hostname)))?;
    let blob = blob.to_vec();
    let fp = match sess.host_key_hash(HashType::Sha256) {
        Some(h) => {
            use base64::Engine;
            format!(
                "SHA256:{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(h)
            )
        }
        None => known_hosts::fingerprint(&blob),
    };
    let key_type = known_hosts::key_type(&blob).unwrap_or_else(|| "unknown".into());
    let file = target::display_path(&target.known_hosts);
    let shown = format!("{}:{}", target.hostname, target.port);
    match db.check(name, &blob) {
        HostKeyStatus::Known => Ok(()),
        HostKeyStatus::Revoked { line } => {
            Err(Error::ssh(format!("the host key of {shown} is revoked"))
                .cause(format!("{key_type} key {fp} is marked @revoked at {line}"))
                .hint("do not connect: ask the host's administrator which key is current"))
        }
        HostKeyStatus::Changed { recorded, lines } => {
            let stale = lines
                .first()
                .and_then(|l| l.rsplit_once(':').map(|(f, _)| f.to_string()))
                .unwrap_or_else(|| target.known_hosts.display().to_string());
            Err(Error::ssh(format!("the host key of {shown} has CHANGED; refusing to connect"))
                .cause(format!("the host now offers {key_type} key {fp}"))
                .cause(format!("{} recorded {}", lines.join(", "), recorded.join(", ")))
                .cause("someone may be intercepting the connection, or the host was reinstalled")
                .hint(format!(
                    "if the host was really reinstalled, check the new fingerprint out-of-band, then remove the old key with `ssh-keygen -R '{name}' -f {}` and connect again",
                    target::display_path(std::path::Path::new(&stale))
                )))
        }
        HostKeyStatus::Unknown => {
            if target.host_key_check == HostKeyCheck::AcceptNew {
                known_hosts::append(&target.known_hosts, name, &blob, target.hash_known_hosts)
                    .map_err(|e| {
                        Error::ssh(format!("cannot record the host key of {shown} in {file}"))
                            .cause(e.to_string())
                    })?;
                tracing::warn!("added the {key_type} host key {fp} of {shown} to {file} (host_key_check = accept-new)");
                return Ok(());
            }
            let short = key_type.strip_prefix("ssh-").unwrap_or(&key_type);
            let short = if short.starts_with("ecdsa") {
                "ecdsa"
            } else {
                short
            };
            let port = if target.port == 22 {
                String::new()
            } else {
                format!("-p {} ", target.port)
            };
            Err(Error::ssh(format!("the host key of {shown} is unknown"))
                .cause(format!("the host offers {key_type} key {fp}, and {file} has no {key_type} entry for {name}"))
                .hint(format!(
                    "check that fingerprint out-of-band (on the host: `ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub`), then run `ssh-keyscan {port}-t {short} {} >> {file}`; or set `host_key_check = \"accept-new\"` in pxdeploy.toml to trust it on first use",
                    target.hostname
                )))
        }
    }
}

fn remaining_ms(deadline: Instant) -> u32 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .clamp(1, u32::MAX as u128) as u32
}

fn keep_tail(buf: &mut Vec<u8>, data: &[u8]) {
    const MAX: usize = 64 * 1024;
    buf.extend_from_slice(data);
    if buf.len() > MAX {
        buf.drain(..buf.len() - MAX);
    }
}

pub(crate) fn is_code(e: &ssh2::Error, code: i32) -> bool {
    e.code() == ErrorCode::Session(code)
}

/// The connection itself failed (as opposed to one request being refused).
fn is_transport(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Session(-7 | -13 | -43 | -4 | -12 | -44 | -45 | -2 | -3 | -1 | -14)
    )
}

/// libssh2 errors in plain words.
pub(crate) fn plain(e: &ssh2::Error) -> String {
    let ErrorCode::Session(code) = e.code() else {
        return e.message().to_string();
    };
    let words = match code {
        -9 | -30 => "timed out",
        -1 | -7 | -43 | -13 => "the connection was closed",
        -2 => "the server did not send an SSH banner (is this an SSH server?)",
        -5 | -8 => "key exchange failed (no common algorithm?)",
        -18 | -19 | -48 => "authentication rejected",
        -16 => "the key file could not be read (wrong format, or encrypted)",
        -21 => "channel open failure (the server's MaxSessions limit?)",
        -22 => "the server refused the request",
        -26 => "the channel was closed",
        -34 => "channel closed before EOF (internal error)",
        -47 => "receive window exhausted (internal error)",
        _ => "",
    };
    if words.is_empty() {
        e.message().to_string()
    } else if e.message().is_empty() {
        words.to_string()
    } else {
        format!("{words} ({})", e.message())
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

// Several threads may share one Session; a RemoteProcess may move to another thread.
const _: fn() = || {
    fn assert<T: Send + Sync>() {}
    assert::<Session>();
    assert::<RemoteProcess>();
};
