//! One `direct-tcpip` tunnel as a state machine: bytes between our end of a socket pair
//! and the channel, both ways, with EOF passed on in each direction. It never waits: the
//! connection drives it and finishes a half-sent packet ([`super::conn`], `conn/tunnel.rs`).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use ssh2::BlockDirections;

use super::channel::{is_code, is_transport, plain, RawChannel as Channel, EAGAIN};

pub(crate) struct Tunnel {
    pub(crate) channel: Channel,
    /// Our end of the socket pair (non-blocking).
    pub(crate) local: UnixStream,
    /// Read from `local`, not yet written to the channel (from `up_off`).
    pub(crate) up: Vec<u8>,
    pub(crate) up_off: usize,
    /// Read from the channel, not yet written to `local` (from `down_off`).
    pub(crate) down: Vec<u8>,
    pub(crate) down_off: usize,
    pub(crate) local_eof: bool,
    pub(crate) eof_sent: bool,
    pub(crate) remote_eof: bool,
    pub(crate) write_in_flight: bool,
    /// `host:port`, for logs.
    pub(crate) to: String,
}

pub(crate) enum Step {
    Moved,
    Idle,
    /// The tunnel is over (both sides ended, or its channel failed).
    Done,
}

/// The error `Err((why, connection_failed))` of one tunnel step.
pub(crate) type StepErr = (String, bool);

impl Tunnel {
    pub(crate) fn step(&mut self, sess: &ssh2::Session, buf: &mut [u8]) -> Result<Step, StepErr> {
        let mut moved = false;
        // Local → channel.
        if !self.local_eof && self.up_off >= self.up.len() {
            match self.local.read(buf) {
                Ok(0) => {
                    self.local_eof = true;
                    moved = true;
                }
                Ok(n) => {
                    self.up.clear();
                    self.up.extend_from_slice(&buf[..n]);
                    self.up_off = 0;
                    moved = true;
                }
                Err(e) if would_block(&e) => {}
                Err(e) => {
                    self.local_eof = true;
                    tracing::debug!(error = %e, "tunnel socket read");
                }
            }
        }
        moved |= self.write_up(sess)?;
        if self.write_in_flight {
            return Ok(if moved { Step::Moved } else { Step::Idle });
        }
        if self.local_eof && self.up_off >= self.up.len() && !self.eof_sent {
            match self.channel.send_eof() {
                Ok(()) => {
                    self.eof_sent = true;
                    moved = true;
                }
                Err(e) if is_code(&e, EAGAIN) => {}
                Err(e) if is_transport(&e) => return Err((plain(&e), true)),
                Err(_) => self.eof_sent = true,
            }
        }
        // Channel → local.
        if !self.remote_eof && self.down_off >= self.down.len() {
            match self.channel.read(0, buf) {
                Ok(0) => {
                    if self.channel.eof() {
                        self.remote_eof = true;
                        let _ = self.local.shutdown(Shutdown::Write);
                        moved = true;
                    }
                }
                Ok(n) => {
                    self.down.clear();
                    self.down.extend_from_slice(&buf[..n]);
                    self.down_off = 0;
                    moved = true;
                }
                Err(e) if would_block(&e) => {}
                Err(e) => return Err((format!("reading from the tunnel failed: {e}"), true)),
            }
        }
        if self.down_off < self.down.len() {
            match self.local.write(&self.down[self.down_off..]) {
                Ok(n) => {
                    self.down_off += n;
                    moved |= n > 0;
                }
                Err(e) if would_block(&e) => {}
                Err(e) => return Err((format!("the tunnel's socket closed: {e}"), false)),
            }
        }
        // Both sides ended and everything was passed on.
        if self.down_off >= self.down.len() && self.remote_eof && self.eof_sent {
            return Ok(Step::Done);
        }
        Ok(if moved { Step::Moved } else { Step::Idle })
    }

    /// Sends what is pending to the channel (or finishes a half-sent packet).
    pub(crate) fn write_up(&mut self, sess: &ssh2::Session) -> Result<bool, StepErr> {
        if self.up_off >= self.up.len() {
            self.write_in_flight = false;
            return Ok(false);
        }
        match self.channel.write(&self.up[self.up_off..]) {
            Ok(n) => {
                self.up_off += n;
                self.write_in_flight = false;
                Ok(n > 0)
            }
            Err(e) if would_block(&e) => {
                self.write_in_flight = matches!(
                    sess.block_directions(),
                    BlockDirections::Outbound | BlockDirections::Both
                );
                Ok(false)
            }
            Err(e) => {
                self.write_in_flight = false;
                Err((format!("writing to the tunnel failed: {e}"), false))
            }
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
