//! The local terminal of an interactive command: whether there is one, the PTY to ask for
//! (its type and size), raw mode while the command runs (restored however it ends), the
//! size changes (SIGWINCH), and a stdin that never blocks.

use std::io::{self, IsTerminal, Read};
use std::sync::atomic::{AtomicBool, Ordering};

use super::conn::Pty;

/// Both stdin and stdout are terminals: a person is typing and watching, so the remote
/// command gets a PTY. Otherwise plain streams (a pipe or a file keeps clean output).
pub fn is_interactive() -> bool {
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// The PTY matching our terminal: `$TERM` (else `xterm`) and stdout's size (else 80x24).
pub(crate) fn pty() -> Pty {
    let (cols, rows) = size().unwrap_or((80, 24));
    Pty {
        term: std::env::var("TERM")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "xterm".into()),
        cols,
        rows,
    }
}

fn size() -> Option<(u32, u32)> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0 && ws.ws_row > 0)
        .then(|| (u32::from(ws.ws_col), u32::from(ws.ws_row)))
}

static RESIZED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    RESIZED.store(true, Ordering::Relaxed);
}

/// The new size after the terminal was resized (once per change).
pub(crate) fn resized() -> Option<(u32, u32)> {
    if RESIZED.swap(false, Ordering::Relaxed) {
        size()
    } else {
        None
    }
}

/// Raw mode on stdin's terminal (every key goes to the remote PTY as typed, Ctrl-C
/// included, no local echo), with SIGWINCH noted; the old settings come back on drop.
/// Input typed ahead is kept.
pub(crate) struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    pub(crate) fn enter() -> io::Result<RawMode> {
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and termios pointers.
        unsafe {
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return Err(io::Error::last_os_error());
            }
            // No SA_RESTART: the wait for the socket wakes up on a resize.
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_winch as extern "C" fn(libc::c_int) as usize;
            libc::sigaction(libc::SIGWINCH, &action, std::ptr::null_mut());
        }
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &self.saved);
        }
    }
}

/// Our stdin, read only when it has something: otherwise `WouldBlock` (the pump tries
/// again later). A closed stdin reads as its end.
pub(crate) struct PollStdin;

impl Read for PollStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut fd = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; no waiting.
        let ready = unsafe { libc::poll(&mut fd, 1, 0) };
        if ready < 0 {
            return Err(io::Error::last_os_error());
        }
        if fd.revents & libc::POLLNVAL != 0 {
            return Ok(0);
        }
        if ready == 0 || fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Err(io::ErrorKind::WouldBlock.into()),
                Some(libc::EIO | libc::EBADF) => Ok(0),
                _ => Err(e),
            };
        }
        Ok(n as usize)
    }
}
