//! One command's channel as a state machine: the pump that interleaves stdin, stdout and
//! stderr (no window deadlocks) on the non-blocking session. It never waits: waiting,
//! keepalives and the close sequence belong to the connection ([`super::conn`]).

use std::io::{self, Read};

use ssh2::BlockDirections;

use super::channel::{is_code, is_transport, plain, RawChannel as Channel, EAGAIN};

pub(crate) const CHUNK: usize = 32 * 1024;

/// How much of local stdin is read at once: several SSH packets (libssh2 sends at most
/// 32 KiB per write), all sent in one round before the streams are read again.
const STDIN_CHUNK: usize = 256 * 1024;

/// Marks the first stderr line of every command: the PID of the remote shell, which
/// sshd made a session (and process group) leader. A command that must be stopped is killed
/// through it.
pub(crate) const PID_MARK: &str = "pxdeploy-pid:";

/// Which stream a chunk of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One command's channel and where its streams stand.
pub(crate) struct Pump {
    pub(crate) channel: Channel,
    pending: Vec<u8>,
    offset: usize,
    /// More local stdin to send.
    stdin_open: bool,
    /// Keep the remote stdin open (spawned processes) instead of sending EOF.
    pub(crate) hold_stdin: bool,
    eof_sent: bool,
    /// A write returned EAGAIN halfway through a packet: it must be finished (by writing the
    /// same bytes again) before anything else can be sent on this session.
    pub(crate) write_in_flight: bool,
    pub(crate) out_eof: bool,
    pub(crate) err_eof: bool,
    pub(crate) got_newline: bool,
    /// stderr held back until the PID line of the wrapper has been seen.
    stderr_head: Option<Vec<u8>>,
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
    /// `pid_line`: the command was wrapped to print its PID first on stderr.
    pub(crate) fn new(channel: Channel, has_stdin: bool, hold_stdin: bool, pid_line: bool) -> Pump {
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
            stderr_head: pid_line.then(Vec::new),
            pid: None,
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.out_eof && self.err_eof
    }

    /// Ready to read more of local stdin (it is open and what was read before is sent).
    pub(crate) fn wants_stdin(&self) -> bool {
        self.stdin_open && self.idle_out()
    }

    /// Nothing of ours waits to be sent on this channel.
    pub(crate) fn idle_out(&self) -> bool {
        !self.write_in_flight && self.offset >= self.pending.len()
    }

    /// Queues `data` for the remote stdin of a channel whose stdin is held open (a
    /// heartbeat); dropped if something is still being sent.
    pub(crate) fn queue(&mut self, data: &[u8]) {
        if self.idle_out() {
            self.pending.clear();
            self.pending.extend_from_slice(data);
            self.offset = 0;
        }
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
        self.refill(stdin)?;
        let mut progress = self.write_pending(sess);
        progress |= self.send_eof_when_due()?;
        progress |= self.read_stream(Stream::Stdout, sink, buf)?;
        progress |= self.read_stream(Stream::Stderr, sink, buf)?;
        Ok(progress)
    }

    /// Reads the next chunk of local stdin once the previous one is sent.
    fn refill(&mut self, stdin: &mut Option<&mut dyn Read>) -> Result<(), Fail> {
        if !self.stdin_open || !self.idle_out() {
            return Ok(());
        }
        self.pending.resize(STDIN_CHUNK, 0);
        let n = match stdin.as_mut() {
            Some(r) => loop {
                match r.read(&mut self.pending) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // Nothing typed yet (an interactive stdin that never blocks): later.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.pending.clear();
                        self.offset = 0;
                        return Ok(());
                    }
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
        Ok(())
    }

    /// Sends what is pending (or finishes a half-sent packet), packet after packet until
    /// all is sent or the session would block.
    pub(crate) fn write_pending(&mut self, sess: &ssh2::Session) -> bool {
        let mut progress = false;
        while self.offset < self.pending.len() {
            if !self.write_once(sess) {
                break;
            }
            progress = true;
        }
        progress
    }

    /// One write of what is pending (at most one packet; finishes a half-sent one): whether
    /// anything was sent.
    pub(crate) fn write_once(&mut self, sess: &ssh2::Session) -> bool {
        match self.channel.write(&self.pending[self.offset..]) {
            Ok(0) => {
                self.write_in_flight = false;
                false
            }
            Ok(n) => {
                self.offset += n;
                self.write_in_flight = false;
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.write_in_flight = matches!(
                    sess.block_directions(),
                    BlockDirections::Outbound | BlockDirections::Both
                );
                false
            }
            Err(e) => {
                // The command stopped reading (it exited, or closed stdin): drop the rest.
                // A broken connection shows up on the reads.
                tracing::debug!(error = %e, "remote stdin closed");
                self.stdin_open = false;
                self.write_in_flight = false;
                self.pending.clear();
                self.offset = 0;
                false
            }
        }
    }

    /// Local stdin will be sent from now on (a spawned process given its input late).
    pub(crate) fn open_stdin(&mut self) {
        self.stdin_open = true;
    }

    /// Sends nothing more: local stdin is over (what is half sent was finished before).
    pub(crate) fn end_stdin(&mut self) {
        self.stdin_open = false;
        self.hold_stdin = false;
        self.write_in_flight = false;
        self.pending.clear();
        self.offset = 0;
    }

    /// EOF on the remote stdin once local stdin is over and sent (unless it is held open).
    fn send_eof_when_due(&mut self) -> Result<bool, Fail> {
        if self.stdin_open || !self.idle_out() || self.hold_stdin || self.eof_sent {
            return Ok(false);
        }
        match self.channel.send_eof() {
            Ok(()) => {
                self.eof_sent = true;
                Ok(true)
            }
            Err(e) if is_code(&e, EAGAIN) => Ok(false),
            Err(e) if is_transport(&e) => Err(Fail::Ssh(plain(&e))),
            Err(_) => {
                self.eof_sent = true;
                Ok(false)
            }
        }
    }

    /// A bounded number of reads of one stream per round, so that stdin keeps moving too.
    fn read_stream(
        &mut self,
        stream: Stream,
        sink: &mut dyn FnMut(Stream, &[u8]),
        buf: &mut [u8],
    ) -> Result<bool, Fail> {
        let id = match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        };
        let mut progress = false;
        for _ in 0..8 {
            if self.at_eof(stream) {
                break;
            }
            match self.channel.read(id, buf) {
                Ok(0) => {
                    // libssh2 can return 0 without EOF; trust only the channel's EOF flag.
                    if self.channel.eof() {
                        self.reached_eof(stream, sink);
                        progress = true;
                    }
                    break;
                }
                Ok(n) => {
                    progress = true;
                    self.got(stream, &buf[..n], sink);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "channel read failed");
                    return Err(Fail::Ssh(format!("reading from the channel failed: {e}")));
                }
            }
        }
        Ok(progress)
    }

    fn at_eof(&self, stream: Stream) -> bool {
        match stream {
            Stream::Stdout => self.out_eof,
            Stream::Stderr => self.err_eof,
        }
    }

    fn reached_eof(&mut self, stream: Stream, sink: &mut dyn FnMut(Stream, &[u8])) {
        match stream {
            Stream::Stdout => self.out_eof = true,
            Stream::Stderr => {
                self.err_eof = true;
                if let Some(head) = self.stderr_head.take() {
                    if !head.is_empty() {
                        sink(Stream::Stderr, &head);
                    }
                }
            }
        }
    }

    /// A chunk of output: to the sink, except the PID line at the head of stderr.
    fn got(&mut self, stream: Stream, data: &[u8], sink: &mut dyn FnMut(Stream, &[u8])) {
        if stream == Stream::Stdout {
            self.got_newline |= data.contains(&b'\n');
            return sink(stream, data);
        }
        let Some(head) = self.stderr_head.as_mut() else {
            return sink(stream, data);
        };
        head.extend_from_slice(data);
        let Some(pos) = head.iter().position(|b| *b == b'\n') else {
            return;
        };
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
}

pub(crate) fn keep_tail(buf: &mut Vec<u8>, data: &[u8]) {
    const MAX: usize = 64 * 1024;
    buf.extend_from_slice(data);
    if buf.len() > MAX {
        buf.drain(..buf.len() - MAX);
    }
}
