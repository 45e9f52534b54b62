//! Counting the round trips of a run: the times pxdeploy sent something to a node and then
//! had to wait for its answer. On a link with latency each one costs a whole round-trip time
//! (the SSH handshake and authentication, each channel's open and `exec` request, each
//! command's output and close), so their number is what a far node makes slow; `-vv`
//! prints it at the end of the command (`round trips: 9`) and `scripts/bench` reads it.
//!
//! libssh2 does its socket I/O through send and receive callbacks, which are replaced here
//! by the plain calls plus a little bookkeeping per socket (keyed by the descriptor libssh2
//! was given: the callbacks get nothing else that is safe to use). A round trip is counted
//! when data arrives after pxdeploy, having sent something since the last data came in,
//! waited for the socket to become readable: inside libssh2 while the session is still
//! blocking (the handshake and authentication: every empty read there is followed by a
//! wait), in [`super::conn::Conn`]'s `poll()` afterwards. A busy upload that only waits for
//! room to send is not a round trip; one that stops because the node's window is full is.

use std::ffi::{c_int, c_void};
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use libssh2_sys as raw;

/// Round trips counted so far in this process, over every session.
static TOTAL: AtomicU64 = AtomicU64::new(0);

/// SSH connections opened so far in this process.
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// The sockets whose sessions count, with where each stands.
static SOCKETS: Mutex<Vec<(RawFd, Turn)>> = Mutex::new(Vec::new());

/// The round trips of every session of this process so far.
pub fn total() -> u64 {
    TOTAL.load(Ordering::Relaxed)
}

/// Where one socket's conversation stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Turn {
    /// libssh2 still waits by itself after an empty read (before the session turns
    /// non-blocking).
    blocking: bool,
    /// Something was sent since data last came in.
    sent: bool,
    /// After that, pxdeploy waited for data.
    waiting: bool,
}

impl Turn {
    fn sent(&mut self) {
        self.sent = true;
        self.waiting = false;
    }

    fn empty_read(&mut self) {
        if self.blocking {
            self.wait();
        }
    }

    fn wait(&mut self) {
        if self.sent {
            self.waiting = true;
        }
    }

    /// Data came in: whether that ends a round trip.
    fn received(&mut self) -> bool {
        let ends = self.waiting;
        self.sent = false;
        self.waiting = false;
        ends
    }
}

fn with(fd: RawFd, f: impl FnOnce(&mut Turn) -> bool) {
    let mut sockets = SOCKETS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, turn)) = sockets.iter_mut().find(|(s, _)| *s == fd) {
        if f(turn) {
            TOTAL.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The SSH connections of this process so far (a bastion's counts too).
pub fn connections() -> u64 {
    CONNECTIONS.load(Ordering::Relaxed)
}

/// Counts the round trips of `sess`, whose socket is `fd` (before its handshake).
pub(crate) fn watch(sess: &ssh2::Session, fd: RawFd) {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    {
        let mut sockets = SOCKETS.lock().unwrap_or_else(PoisonError::into_inner);
        sockets.retain(|(s, _)| *s != fd);
        sockets.push((
            fd,
            Turn {
                blocking: true,
                ..Turn::default()
            },
        ));
    }
    let mut guard = sess.raw();
    let s: *mut raw::LIBSSH2_SESSION = &mut *guard;
    // SAFETY: a valid session; the callbacks have the signatures libssh2 calls them with
    // (LIBSSH2_SEND_FUNC, LIBSSH2_RECV_FUNC), cast to its generic callback type as its
    // own header asks.
    unsafe {
        let send: SendFn = send_counted;
        let recv: RecvFn = recv_counted;
        libssh2_session_callback_set2(
            s,
            CALLBACK_SEND,
            std::mem::transmute::<SendFn, Generic>(send),
        );
        libssh2_session_callback_set2(
            s,
            CALLBACK_RECV,
            std::mem::transmute::<RecvFn, Generic>(recv),
        );
    }
}

/// The session on `fd` waits by itself no more (it is non-blocking from now on).
pub(crate) fn non_blocking(fd: RawFd) {
    with(fd, |t| {
        t.blocking = false;
        false
    });
}

/// pxdeploy waits for data on `fd` (and for nothing else).
pub(crate) fn waiting(fd: RawFd) {
    with(fd, |t| {
        t.wait();
        false
    });
}

/// The session on `fd` is gone.
pub(crate) fn forget(fd: RawFd) {
    let mut sockets = SOCKETS.lock().unwrap_or_else(PoisonError::into_inner);
    sockets.retain(|(s, _)| *s != fd);
}

const CALLBACK_SEND: c_int = 5;
const CALLBACK_RECV: c_int = 6;

type Generic = unsafe extern "C" fn();
type SendFn = unsafe extern "C" fn(RawFd, *const c_void, usize, c_int, *mut *mut c_void) -> isize;
type RecvFn = unsafe extern "C" fn(RawFd, *mut c_void, usize, c_int, *mut *mut c_void) -> isize;

extern "C" {
    // In libssh2 ≥ 1.11.1 (libssh2-sys 0.3.4 vendors 1.11.2-dev), not in the Rust bindings.
    fn libssh2_session_callback_set2(
        session: *mut raw::LIBSSH2_SESSION,
        cbtype: c_int,
        callback: Generic,
    ) -> Option<Generic>;
}

/// libssh2's own convention: the count, or minus the error (`EAGAIN` for "try again").
fn result(rc: isize) -> isize {
    if rc >= 0 {
        return rc;
    }
    match std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
    {
        libc::EINTR | libc::EAGAIN => -(libc::EAGAIN as isize),
        e => -(e as isize),
    }
}

unsafe extern "C" fn send_counted(
    fd: RawFd,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    _abstract: *mut *mut c_void,
) -> isize {
    // SAFETY: libssh2 hands a buffer of `len` bytes.
    let rc = result(unsafe { libc::send(fd, buf, len, flags) });
    if rc > 0 {
        with(fd, |t| {
            t.sent();
            false
        });
    }
    rc
}

unsafe extern "C" fn recv_counted(
    fd: RawFd,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    _abstract: *mut *mut c_void,
) -> isize {
    // SAFETY: libssh2 hands a buffer of `len` bytes.
    let rc = result(unsafe { libc::recv(fd, buf, len, flags) });
    if rc > 0 {
        with(fd, Turn::received);
    } else if rc == -(libc::EAGAIN as isize) {
        with(fd, |t| {
            t.empty_read();
            false
        });
    }
    rc
}

#[cfg(test)]
mod tests {
    use super::Turn;

    fn blocking() -> Turn {
        Turn {
            blocking: true,
            ..Turn::default()
        }
    }

    #[test]
    fn a_request_then_a_wait_for_its_answer_is_one_round_trip() {
        let mut t = Turn::default();
        t.sent();
        t.wait();
        assert!(t.received());
        // More of the same answer, read without a new request: no new round trip.
        t.wait();
        assert!(!t.received());
    }

    #[test]
    fn while_blocking_an_empty_read_after_a_send_is_a_wait() {
        let mut t = blocking();
        // The server's banner, before anything was sent: no round trip.
        t.empty_read();
        assert!(!t.received());
        t.sent();
        t.empty_read();
        assert!(t.received());
    }

    #[test]
    fn an_upload_that_keeps_sending_counts_nothing_for_the_window_adjusts() {
        let mut t = Turn::default();
        for _ in 0..100 {
            t.sent();
            // non-blocking: an empty read between two sends is not a wait
            t.empty_read();
            t.sent();
            assert!(!t.received());
        }
        // It stops and waits for the node (its window is full): one round trip.
        t.sent();
        t.wait();
        assert!(t.received());
    }

    #[test]
    fn output_that_arrives_on_its_own_is_not_a_round_trip() {
        let mut t = Turn::default();
        t.wait();
        assert!(!t.received());
        t.wait();
        assert!(!t.received());
    }
}
