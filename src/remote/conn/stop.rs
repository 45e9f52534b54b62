//! Stopping a command that must end now (it ran out of time, or its caller gives up):
//! finish what is half sent, EOF, SIGTERM, SIGKILL, and as a last resort drop the connection.

use std::io::Read;
use std::time::{Duration, Instant};

use super::{Conn, STOP_GRACE};
use crate::remote::pump::{Fail, Pump, Stream, CHUNK};

impl Conn {
    /// Stops a command that must end now: finish any half-sent packet, SIGTERM (SIGKILL
    /// after half the grace), EOF, drain, close. If that does not work within
    /// [`STOP_GRACE`], the connection is dropped (the only way to free the channel without
    /// blocking, ssh2 #165); `Err` says so. `patience`: how long it may end by itself
    /// after EOF before the signals.
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
            pump.write_once(&self.sess);
            if pump.write_in_flight {
                self.wait(Some(end), Duration::from_millis(100), true);
            }
        }
        pump.end_stdin();
        let mut signals = Signals::default();
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
            if let Some(want) = signal_due(start.elapsed(), patience) {
                signals.send(self, &mut pump, want, end);
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

    /// Sends `sig` to the process group `pid` (else the process) from a new channel.
    fn kill_remote(&self, pid: u32, sig: &str, end: Instant) {
        let cmd =
            format!("kill -{sig} -- -{pid} 2>/dev/null || kill -{sig} {pid} 2>/dev/null; true");
        let deadline = Some(end.min(Instant::now() + Duration::from_secs(3)));
        let Ok(channel) = self.open_exec(&cmd, deadline, false, None) else {
            return;
        };
        let mut pump = Pump::new(channel, false, false, false);
        let mut none: Option<&mut dyn Read> = None;
        let mut sink = |_: Stream, _: &[u8]| {};
        if let Ok(true) = self.run_until(&mut pump, &mut none, &mut sink, deadline, |p| p.done()) {
            let _ = self.close_channel(&mut pump.channel, Instant::now() + Duration::from_secs(2));
        }
    }
}

/// Which signal a command being stopped should get `elapsed` into its grace.
fn signal_due(elapsed: Duration, patience: Duration) -> Option<&'static str> {
    if elapsed < patience {
        None
    } else if elapsed >= patience + (STOP_GRACE - patience) / 2 {
        Some("KILL")
    } else {
        Some("TERM")
    }
}

/// The signals already sent to a command being stopped, each once.
#[derive(Default)]
struct Signals {
    requested: Option<&'static str>,
    killed: Option<&'static str>,
}

impl Signals {
    fn send(&mut self, conn: &Conn, pump: &mut Pump, want: &'static str, end: Instant) {
        if self.requested != Some(want) {
            self.requested = Some(want);
            // The SSH `signal` request works for non-root logins only (sshd runs root
            // sessions without privilege separation and then refuses it)...
            let r = conn.retry(Some(end), || pump.channel.signal(want));
            tracing::debug!(signal = want, ok = r.is_ok(), pid = ?pump.pid, "signal request");
        }
        // ...so the process group is also killed from a second channel.
        if self.killed != Some(want) {
            if let Some(pid) = pump.pid {
                self.killed = Some(want);
                conn.kill_remote(pid, want, end);
            }
        }
    }
}
