//! A channel held open with a heartbeat (the deploy lock's): a line on its stdin every
//! `every`, so that the remote side can give up what it holds when pxdeploy stops answering
//! (frozen, suspended, cut off) long before TCP notices a dead peer.
//!
//! The session does one operation at a time, so the heartbeat goes out from wherever the
//! session is being driven: the pump loop of every command ([`Conn::run_until`]), the start
//! of every command ([`Conn::open_exec`]), and, while no operation runs (pxdeploy busy with
//! local work, or sleeping between polls), a small thread that takes the session's turn.
//! When the held channel ends (the remote side gave up), every later command fails with the
//! error given at [`Conn::hold`]: nothing runs any more without what the channel held. (A
//! command already running goes on; cleaning up, such as killing one that timed out, too.)

use std::io::Read;
use std::sync::{Arc, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::Conn;
use crate::error::Error;
use crate::remote::pump::{Fail, Pump, Stream};

/// What a held channel is sent as a heartbeat.
const BEAT: &[u8] = b".\n";
/// How long a heartbeat's packet may take to leave before the connection is dropped.
const SEND_LIMIT: Duration = Duration::from_secs(10);

pub(crate) struct Held {
    pump: Pump,
    every: Duration,
    last: Instant,
    /// Returned by every later operation once the channel ended.
    lost: Error,
    /// The channel's last stdout line (why the remote side gave up).
    said: Vec<u8>,
}

impl Conn {
    /// From now on `pump`'s channel gets a heartbeat every `every`; if it ends, every later
    /// operation fails with `lost` (and a cause saying what the channel said last).
    pub(crate) fn hold(self: &Arc<Self>, pump: Pump, every: Duration, lost: Error) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(Held {
            pump,
            every,
            last: Instant::now(),
            lost,
            said: Vec::new(),
        });
        let conn = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("pxdeploy-heartbeat".into())
            .spawn(move || idle_beats(conn, every));
    }

    /// The held channel back (to close it), if it is still open.
    pub(crate) fn unhold(&self) -> Option<Pump> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        held.map(|h| h.pump)
    }

    /// The error every operation gets once the held channel ended.
    pub(crate) fn held_lost(&self) -> Option<Error> {
        self.held_lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `e`, unless the held channel ended meanwhile: then that is the error (the
    /// operation's own failure, a timeout after pxdeploy was frozen say, is its cause).
    pub(crate) fn or_held_lost(&self, e: Error) -> Error {
        match self.held_lost() {
            Some(lost) => lost.cause(e.message),
            None => e,
        }
    }

    /// Sends a heartbeat if one is due, and reads what the held channel says (noticing its
    /// end) then, or always with `look`. Only call with the session's turn and nothing of
    /// another channel half sent.
    pub(crate) fn beat(&self, look: bool) {
        let mut slot = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(held) = slot.as_mut() else {
            return;
        };
        let due = held.last.elapsed() >= held.every;
        if !due && !look {
            return;
        }
        if due {
            held.pump.queue(BEAT);
            held.last = Instant::now();
        }
        let gone = match self.drive(held) {
            Ok(()) if !held.pump.out_eof => return,
            Ok(()) => said(&held.said),
            Err(why) => why,
        };
        let held = slot.take().expect("held");
        drop(slot);
        tracing::debug!(why = %gone, "the held channel ended");
        let mut lost = held.lost.clone();
        if !gone.is_empty() {
            lost = lost.cause(gone);
        }
        *self
            .held_lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(lost);
        let _ = self.finish(held.pump, "the held channel", None);
    }

    /// Pumps the held channel until its heartbeat is sent whole. `Err`: the connection failed.
    fn drive(&self, held: &mut Held) -> Result<(), String> {
        let mut buf = vec![0u8; 4096];
        let mut none: Option<&mut dyn Read> = None;
        let said = &mut held.said;
        let mut sink = |s: Stream, d: &[u8]| {
            if s == Stream::Stdout {
                said.extend_from_slice(d);
                let keep = said.len().saturating_sub(1024);
                said.drain(..keep);
            }
        };
        let end = Instant::now() + SEND_LIMIT;
        loop {
            match held.pump.step(&self.sess, &mut none, &mut sink, &mut buf) {
                Ok(_) => {}
                Err(Fail::Ssh(why)) => {
                    self.break_connection(&why);
                    return Err(format!("the SSH connection failed: {why}"));
                }
                Err(Fail::Local(_)) => {}
            }
            if !held.pump.write_in_flight || held.pump.out_eof {
                return Ok(());
            }
            if Instant::now() >= end {
                let why = "a heartbeat could not be sent within 10s";
                self.break_connection(why);
                return Err(why.into());
            }
            self.wait(Some(end), Duration::from_millis(100), true);
        }
    }
}

/// The last line the held channel printed, without the `pxdeploy-…:` tag.
fn said(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let line = line.split_once(": ").map_or(line, |(_, rest)| rest);
    crate::output::sanitize(line.trim())
}

/// Heartbeats while no operation runs. Ends with the connection or the held channel.
fn idle_beats(conn: Weak<Conn>, every: Duration) {
    let nap = (every / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        std::thread::sleep(nap);
        let Some(conn) = conn.upgrade() else {
            return;
        };
        if conn
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
        {
            return;
        }
        // A running operation beats from its own pump loop.
        let turn = conn.ops.try_lock();
        if turn.is_ok() {
            conn.beat(false);
        }
        drop(turn);
    }
}
