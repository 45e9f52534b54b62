//! An interactive command (`exec`, `shell`): its channel, with a PTY when the user has a
//! terminal, pumped without a deadline until the command ends; local stdin is read only
//! when it has something (so output keeps flowing while nobody types), and the terminal's
//! new size is forwarded when it changes.

use std::io::Read;
use std::os::unix::io::RawFd;
use std::time::{Duration, Instant};

use super::{Conn, Fail, Pump, Stream, CHUNK};
use crate::error::Result;

/// The pseudo-terminal asked for (`pty-req`): terminal type and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pty {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
}

impl Conn {
    /// Starts `command` as it is (no PID line: with a PTY, stderr is the terminal too).
    /// With a PTY the remote stdin stays open when local stdin ends (as with `ssh -t`);
    /// without one, EOF is passed on.
    pub(crate) fn start_interactive(&self, command: &str, pty: Option<&Pty>) -> Result<Pump> {
        self.beat(true);
        if let Some(lost) = self.held_lost() {
            return Err(lost);
        }
        let channel = self.open_exec(command, None, false, pty)?;
        Ok(Pump::new(channel, true, pty.is_some(), false))
    }

    /// Pumps until the command's output ends. `stdin_fd` is waited on along with the socket
    /// while the pump wants more stdin; `resized` says the terminal's new size once after
    /// each change.
    pub(crate) fn run_interactive(
        &self,
        pump: &mut Pump,
        stdin: &mut Option<&mut dyn Read>,
        stdin_fd: RawFd,
        sink: &mut dyn FnMut(Stream, &[u8]),
        resized: &mut dyn FnMut() -> Option<(u32, u32)>,
    ) -> Result<(), Fail> {
        let mut buf = vec![0u8; CHUNK];
        let mut size: Option<(u32, u32)> = None;
        loop {
            let progress = pump.step(&self.sess, stdin, sink, &mut buf)?;
            if pump.done() {
                return Ok(());
            }
            size = resized().or(size);
            if !pump.write_in_flight {
                if let Some((cols, rows)) = size.take() {
                    let end = Some(Instant::now() + Duration::from_secs(5));
                    if let Err(Some(e)) = self.retry(end, || pump.channel.resize_pty(cols, rows)) {
                        tracing::debug!(error = %e, "window-change");
                    }
                }
                self.beat(false);
                self.pump_tunnels();
            }
            if !progress {
                if pump.idle_out() {
                    self.maybe_keepalive();
                }
                let local = pump.wants_stdin().then_some(stdin_fd);
                self.wait_also(None, Duration::from_secs(1), pump.write_in_flight, local);
            }
        }
    }
}
