//! Ctrl-C. SIGINT's handler writes one byte to a pipe (all a handler may safely do); a
//! thread waiting on the pipe's other end calls the caller's function. The main thread
//! waits for either that or the command's result (`crate::main`), so an interrupted run
//! exits 130 at once, even while the command is blocked in a remote call.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// The pipe's write end, for the handler (-1: none yet).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigint(_: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) and errno are async-signal-safe; errno is restored so that the
        // interrupted thread does not see the handler's.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, [1u8].as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Calls `then`, on a thread of its own, the first time SIGINT arrives. Blocking calls in
/// other threads are restarted, not failed with `EINTR` (`SA_RESTART`); programs started
/// afterwards get SIGINT's default back when they exec, as with any handler.
pub(crate) fn on_ctrl_c(then: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: `fds` holds the two descriptors pipe2 fills. The write end does not block: a
    // handler must never wait; a full pipe already says "interrupted".
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_fd, write_fd] = fds;
    // SAFETY: `write_fd` is the descriptor just made.
    unsafe {
        let flags = libc::fcntl(write_fd, libc::F_GETFL);
        libc::fcntl(write_fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    WRITE_FD.store(write_fd, Ordering::Relaxed);

    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let mut byte = 0u8;
            loop {
                // SAFETY: reads one byte into `byte`. Both ends stay open for the life of
                // the process, so a later SIGINT never writes to a closed pipe.
                let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
                if n == 1 {
                    then();
                    return;
                }
                if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
        })?;

    // SAFETY: a zeroed sigaction with our handler, SA_RESTART and an empty mask.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn sigint_calls_the_function_once() {
        let (tx, rx) = mpsc::channel();
        super::on_ctrl_c(move || tx.send("interrupted").unwrap()).unwrap();
        // SAFETY: SIGINT to this process, whose handler is now ours.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok("interrupted"));
        // A second Ctrl-C does not end the process; the function ran once and is gone.
        // SAFETY: as above.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
        assert_eq!(rx.recv(), Err(mpsc::RecvError));
    }
}
