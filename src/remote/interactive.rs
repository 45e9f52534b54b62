//! [`Session::interactive`]: a command with the user's own stdin, stdout and stderr, as
//! `ssh [-t] host command` runs it (`pxdeploy exec`, `pxdeploy shell`).

use std::io::{Read, Write};
use std::time::Duration;

use super::pump::{Fail, Stream};
use super::ssh::Session;
use super::terminal::{self, PollStdin, RawMode};
use super::ExitStatus;
use crate::error::{Error, Result};

impl Session {
    /// Runs `command` with our stdin, stdout and stderr: with `terminal`, on a PTY of our
    /// terminal's type and size, our terminal in raw mode meanwhile (Ctrl-C reaches the
    /// remote command); otherwise on plain streams, stdin passed through until its end. No
    /// deadline: it runs until the command ends. Returns the command's exit status.
    pub fn interactive(&self, command: &str, terminal: bool) -> Result<ExitStatus> {
        let _one = self.conn.exclusive();
        let pty = terminal.then(terminal::pty);
        let mut pump = self.conn.start_interactive(command, pty.as_ref())?;
        let _raw = match terminal {
            true => Some(RawMode::enter().map_err(|e| {
                Error::unexpected("could not switch the terminal to raw mode").cause(e.to_string())
            })?),
            false => None,
        };
        let mut reader = PollStdin;
        let mut stdin: Option<&mut dyn Read> = Some(&mut reader);
        let mut sink = |stream: Stream, data: &[u8]| {
            let _ = match stream {
                Stream::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(data).and_then(|()| out.flush())
                }
                Stream::Stderr => {
                    let mut err = std::io::stderr().lock();
                    err.write_all(data).and_then(|()| err.flush())
                }
            };
        };
        let mut resized = || if terminal { terminal::resized() } else { None };
        let result = self.conn.run_interactive(
            &mut pump,
            &mut stdin,
            libc::STDIN_FILENO,
            &mut sink,
            &mut resized,
        );
        match result {
            Ok(()) => self.conn.finish(pump, command, None),
            Err(Fail::Ssh(e)) => Err(self.conn.lost(&e)),
            Err(Fail::Local(e)) => {
                let _ = self.conn.stop(pump, &mut sink, Duration::ZERO);
                Err(Error::unexpected("reading stdin failed").cause(e.to_string()))
            }
        }
    }
}
