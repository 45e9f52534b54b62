//! A libssh2 session channel driven through the C API directly.
//!
//! Why not `ssh2::Channel`: stopping a command that ran out of time needs the SSH `signal`
//! request (`libssh2_channel_signal_ex`), which ssh2-rs does not expose (its
//! `process_startup` refuses a second request on a channel), and an `ssh2::Channel` never
//! hands out its raw pointer. Everything here is non-blocking (the session is), holds
//! ssh2's session mutex for the duration of each call (as ssh2 does), and never frees an
//! unclosed channel in a way that could wait for the server.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::io;
use std::ptr::null_mut;

use libssh2_sys as raw;
use ssh2::{Error, ErrorCode};

extern "C" {
    // In libssh2 ≥ 1.11.1 (libssh2-sys 0.3.4 vendors 1.11.2-dev), not in the Rust bindings.
    fn libssh2_channel_signal_ex(
        channel: *mut raw::LIBSSH2_CHANNEL,
        signame: *const c_char,
        len: usize,
    ) -> c_int;
}

pub(crate) const EAGAIN: c_int = raw::LIBSSH2_ERROR_EAGAIN;

pub(crate) struct RawChannel {
    /// Keeps the libssh2 session alive and provides its mutex.
    sess: ssh2::Session,
    raw: *mut raw::LIBSSH2_CHANNEL,
}

// SAFETY: every use of `raw` happens while holding the session mutex (`sess.raw()`), as
// ssh2-rs does for its own Channel.
unsafe impl Send for RawChannel {}
unsafe impl Sync for RawChannel {}

fn err(sess: *mut raw::LIBSSH2_SESSION, rc: c_int) -> Error {
    Error::from_session_error_raw(sess, rc)
}

impl RawChannel {
    /// Opens a "session" channel. `Err` with code EAGAIN: call again.
    pub(crate) fn open(sess: &ssh2::Session) -> Result<RawChannel, Error> {
        let mut guard = sess.raw();
        let s: *mut raw::LIBSSH2_SESSION = &mut *guard;
        let kind = "session";
        // SAFETY: valid session; the type string outlives the call.
        let ch = unsafe {
            raw::libssh2_channel_open_ex(
                s,
                kind.as_ptr() as *const c_char,
                kind.len() as c_uint,
                2 * 1024 * 1024,
                32768,
                null_mut(),
                0,
            )
        };
        drop(guard);
        Self::wrap(sess, ch)
    }

    /// Opens a `direct-tcpip` channel: the server connects to `host:port` and the channel
    /// carries that TCP stream. `Err` with code EAGAIN: call again with the same arguments.
    pub(crate) fn direct_tcpip(
        sess: &ssh2::Session,
        host: &std::ffi::CStr,
        port: u16,
    ) -> Result<RawChannel, Error> {
        let origin = c"127.0.0.1";
        let mut guard = sess.raw();
        let s: *mut raw::LIBSSH2_SESSION = &mut *guard;
        // SAFETY: valid session; the strings outlive the call (libssh2 copies them).
        let ch = unsafe {
            raw::libssh2_channel_direct_tcpip_ex(
                s,
                host.as_ptr(),
                c_int::from(port),
                origin.as_ptr(),
                22,
            )
        };
        drop(guard);
        Self::wrap(sess, ch)
    }

    fn wrap(sess: &ssh2::Session, ch: *mut raw::LIBSSH2_CHANNEL) -> Result<RawChannel, Error> {
        if ch.is_null() {
            let mut guard = sess.raw();
            let s: *mut raw::LIBSSH2_SESSION = &mut *guard;
            // SAFETY: valid session.
            let rc = unsafe { raw::libssh2_session_last_errno(s) };
            return Err(err(
                s,
                if rc == 0 {
                    raw::LIBSSH2_ERROR_CHANNEL_FAILURE
                } else {
                    rc
                },
            ));
        }
        Ok(RawChannel {
            sess: sess.clone(),
            raw: ch,
        })
    }

    fn call(&self, f: impl FnOnce(*mut raw::LIBSSH2_CHANNEL) -> c_int) -> Result<c_int, Error> {
        let mut guard = self.sess.raw();
        let s: *mut raw::LIBSSH2_SESSION = &mut *guard;
        let rc = f(self.raw);
        if rc < 0 {
            Err(err(s, rc))
        } else {
            Ok(rc)
        }
    }

    /// Starts `command` (the `exec` request). EAGAIN: call again with the same command.
    pub(crate) fn exec(&mut self, command: &str) -> Result<(), Error> {
        let req = "exec";
        // SAFETY: pointers valid for the call; libssh2 copies them into its packet.
        self.call(|ch| unsafe {
            raw::libssh2_channel_process_startup(
                ch,
                req.as_ptr() as *const c_char,
                req.len() as c_uint,
                command.as_ptr() as *const c_char,
                command.len() as c_uint,
            )
        })
        .map(drop)
    }

    /// Asks for a pseudo-terminal (`pty-req`) of `cols` x `rows` with the terminal type
    /// `term` and the server's default modes. EAGAIN: call again with the same arguments.
    pub(crate) fn request_pty(&mut self, term: &str, cols: u32, rows: u32) -> Result<(), Error> {
        // SAFETY: pointers valid for the call; libssh2 copies them into its packet.
        self.call(|ch| unsafe {
            raw::libssh2_channel_request_pty_ex(
                ch,
                term.as_ptr() as *const c_char,
                term.len() as c_uint,
                std::ptr::null(),
                0,
                cols as c_int,
                rows as c_int,
                0,
                0,
            )
        })
        .map(drop)
    }

    /// Tells the server the terminal's new size (`window-change`).
    pub(crate) fn resize_pty(&mut self, cols: u32, rows: u32) -> Result<(), Error> {
        // SAFETY: valid channel.
        self.call(|ch| unsafe {
            raw::libssh2_channel_request_pty_size_ex(ch, cols as c_int, rows as c_int, 0, 0)
        })
        .map(drop)
    }

    /// Sends the `signal` request (`TERM`, `KILL`: no `SIG` prefix).
    pub(crate) fn signal(&mut self, name: &str) -> Result<(), Error> {
        // SAFETY: pointer valid for the call.
        self.call(|ch| unsafe {
            libssh2_channel_signal_ex(ch, name.as_ptr() as *const c_char, name.len())
        })
        .map(drop)
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: buf valid for the call.
        let rc = {
            let _guard = self.sess.raw();
            unsafe {
                raw::libssh2_channel_write_ex(self.raw, 0, buf.as_ptr() as *const c_char, buf.len())
            }
        };
        io_result(self, rc)
    }

    /// Reads stream 0 (stdout) or 1 (stderr).
    pub(crate) fn read(&mut self, stream: c_int, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf valid for the call.
        let rc = {
            let _guard = self.sess.raw();
            unsafe {
                raw::libssh2_channel_read_ex(
                    self.raw,
                    stream,
                    buf.as_mut_ptr() as *mut c_char,
                    buf.len(),
                )
            }
        };
        io_result(self, rc)
    }

    /// The remote sent EOF and nothing is left to read.
    pub(crate) fn eof(&self) -> bool {
        // SAFETY: valid channel.
        self.call(|ch| unsafe { raw::libssh2_channel_eof(ch) })
            .map(|r| r != 0)
            .unwrap_or(true)
    }

    pub(crate) fn send_eof(&mut self) -> Result<(), Error> {
        // SAFETY: valid channel.
        self.call(|ch| unsafe { raw::libssh2_channel_send_eof(ch) })
            .map(drop)
    }

    pub(crate) fn close(&mut self) -> Result<(), Error> {
        // SAFETY: valid channel.
        self.call(|ch| unsafe { raw::libssh2_channel_close(ch) })
            .map(drop)
    }

    pub(crate) fn wait_close(&mut self) -> Result<(), Error> {
        // SAFETY: valid channel.
        self.call(|ch| unsafe { raw::libssh2_channel_wait_closed(ch) })
            .map(drop)
    }

    /// Only meaningful after `wait_close` (before it, libssh2 says 0).
    pub(crate) fn exit_status(&self) -> i32 {
        let _guard = self.sess.raw();
        // SAFETY: valid channel.
        unsafe { raw::libssh2_channel_get_exit_status(self.raw) }
    }

    /// The signal that killed the command (`TERM`), if one did.
    pub(crate) fn exit_signal(&self) -> Option<String> {
        let mut guard = self.sess.raw();
        let s: *mut raw::LIBSSH2_SESSION = &mut *guard;
        let mut sig: *mut c_char = null_mut();
        let mut len: usize = 0;
        // SAFETY: out-pointers valid; the strings returned are freed with libssh2_free.
        unsafe {
            let rc = raw::libssh2_channel_get_exit_signal(
                self.raw,
                &mut sig,
                &mut len,
                null_mut(),
                null_mut(),
                null_mut(),
                null_mut(),
            );
            if rc != 0 || sig.is_null() {
                return None;
            }
            let name = std::slice::from_raw_parts(sig as *const u8, len).to_vec();
            raw::libssh2_free(s, sig as *mut c_void);
            String::from_utf8(name).ok().filter(|n| !n.is_empty())
        }
    }
}

fn io_result(ch: &RawChannel, rc: isize) -> io::Result<usize> {
    if rc >= 0 {
        return Ok(rc as usize);
    }
    if rc as c_int == EAGAIN {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let mut guard = ch.sess.raw();
    let s: *mut raw::LIBSSH2_SESSION = &mut *guard;
    Err(io::Error::other(err(s, rc as c_int).to_string()))
}

impl Drop for RawChannel {
    fn drop(&mut self) {
        // The session is non-blocking: if the channel is not closed yet, libssh2 returns
        // EAGAIN instead of waiting for the server (ssh2 #165), and the memory is released
        // with the session.
        let _guard = self.sess.raw();
        // SAFETY: valid channel, freed once.
        let rc = unsafe { raw::libssh2_channel_free(self.raw) };
        if rc == EAGAIN {
            tracing::debug!("channel not closed yet; freed with the session");
        }
    }
}

pub(crate) fn is_code(e: &ssh2::Error, code: i32) -> bool {
    e.code() == ErrorCode::Session(code)
}

/// The connection itself failed (as opposed to one request being refused).
pub(crate) fn is_transport(e: &ssh2::Error) -> bool {
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
