//! The small process runner the fixture shares: a process started in its own process group,
//! its output collected as it comes ([`Running`]), bounded by a deadline past which the whole
//! group is killed and the test fails, and what it left ([`Run`]).

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The outcome of a finished process.
#[derive(Debug, Clone)]
pub struct Run {
    /// What ran, for messages.
    pub what: String,
    /// Exit code; 128 + N when killed by signal N.
    pub status: i32,
    /// The signal that ended the process, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl Run {
    fn from_parts(
        what: String,
        st: ExitStatus,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        d: Duration,
    ) -> Run {
        let signal = st.signal();
        Run {
            what,
            status: st.code().unwrap_or_else(|| 128 + signal.unwrap_or(0)),
            signal,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            duration: d,
        }
    }

    /// Panics, showing stdout and stderr, unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        if self.status != code {
            panic!(
                "`{}` exited {}, expected {code}\n{}",
                self.what,
                self.status,
                self.dump()
            );
        }
        self
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Run {
        self.assert_code(0)
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Run {
        if !self.stdout.contains(needle) {
            panic!(
                "stdout of `{}` lacks {needle:?}\n{}",
                self.what,
                self.dump()
            );
        }
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Run {
        if !self.stderr.contains(needle) {
            panic!(
                "stderr of `{}` lacks {needle:?}\n{}",
                self.what,
                self.dump()
            );
        }
        self
    }

    #[track_caller]
    pub fn assert_stderr_lacks(&self, needle: &str) -> &Run {
        if self.stderr.contains(needle) || self.stdout.contains(needle) {
            panic!(
                "output of `{}` contains {needle:?}\n{}",
                self.what,
                self.dump()
            );
        }
        self
    }

    /// stdout parsed as one JSON document (panics with the output when it is not).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!(
                "stdout of `{}` is not one JSON document: {e}\n{}",
                self.what,
                self.dump()
            ),
        }
    }

    /// stdout and stderr, labelled, for panic messages.
    pub fn dump(&self) -> String {
        format!(
            "--- exit: {}{}\n--- stdout:\n{}\n--- stderr:\n{}\n---",
            self.status,
            self.signal
                .map(|s| format!(" (signal {s})"))
                .unwrap_or_default(),
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// A process running in the background, its output collected as it comes.
pub struct Running {
    what: String,
    child: Child,
    started: Instant,
    deadline: Instant,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    /// Keeps a temporary HOME alive while the process runs.
    pub(crate) home: Option<tempfile::TempDir>,
}

fn collect(mut r: impl Read + Send + 'static, buf: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    })
}

impl Running {
    /// Spawns `cmd` in its own process group with piped output; `stdin` is written then closed.
    #[track_caller]
    pub fn spawn(cmd: Command, what: String, stdin: Option<Vec<u8>>, timeout: Duration) -> Running {
        Running::try_spawn(cmd, what, stdin, timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Running::spawn`] that reports a failure to start as `Err`.
    pub fn try_spawn(
        mut cmd: Command,
        what: String,
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Running, String> {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start `{what}`: {e}"))?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        let started = Instant::now();
        Ok(Running {
            what,
            child,
            started,
            deadline: started + timeout,
            stdout,
            stderr,
            readers,
            home: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (e.g. `libc::SIGINT`) to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// Output so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Has the process exited?
    pub fn finished(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits until stderr contains `needle`; panics (with the output) after `timeout` or
    /// when the process exits without printing it.
    #[track_caller]
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        loop {
            if self.stderr_so_far().contains(needle) {
                return;
            }
            let exited = self.finished();
            if exited || Instant::now() > end {
                let why = if exited {
                    "exited".to_string()
                } else {
                    format!("did not print it within {timeout:?}")
                };
                panic!(
                    "waiting for {needle:?} on stderr of `{}`: it {why}\n--- stdout:\n{}\n--- stderr:\n{}",
                    self.what,
                    self.stdout_so_far(),
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit. Past the deadline the whole process group is killed and the test
    /// fails, showing what the process printed.
    #[track_caller]
    pub fn wait(self) -> Run {
        match self.try_wait() {
            Ok(r) => r,
            Err(msg) => panic!("{msg}"),
        }
    }

    /// [`Running::wait`] that reports a timeout as `Err` instead of panicking (for `Drop`).
    pub fn try_wait(mut self) -> Result<Run, String> {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {}
                Err(e) => return Err(format!("waiting for `{}`: {e}", self.what)),
            }
            if Instant::now() > self.deadline {
                self.kill_group();
                return Err(format!(
                    "`{}` did not finish within {:?}: killed\n--- stdout:\n{}\n--- stderr:\n{}",
                    self.what,
                    self.deadline - self.started,
                    self.stdout_so_far(),
                    self.stderr_so_far()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Children that inherited the pipes could keep the readers blocked: bound the join.
        let end = Instant::now() + Duration::from_secs(5);
        for r in std::mem::take(&mut self.readers) {
            while !r.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            if r.is_finished() {
                let _ = r.join();
            }
        }
        let stdout = std::mem::take(&mut *self.stdout.lock().unwrap());
        let stderr = std::mem::take(&mut *self.stderr.lock().unwrap());
        if std::env::var_os("PXTEST_TRACE").is_some() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "[trace] {:>6.1}s {}",
                    self.started.elapsed().as_secs_f64(),
                    self.what
                );
            }
        }
        Ok(Run::from_parts(
            self.what.clone(),
            status,
            stdout,
            stderr,
            self.started.elapsed(),
        ))
    }

    fn kill_group(&mut self) {
        // SAFETY: kill(2) on the process group created for the child (process_group(0)).
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked while a process was still running must not leave it behind.
        if let Ok(None) = self.child.try_wait() {
            self.kill_group();
        }
    }
}

/// Runs `cmd` to completion with a bound (a hang fails the test instead of blocking CI).
#[track_caller]
pub fn run_bounded(cmd: Command, what: String, stdin: Option<Vec<u8>>, timeout: Duration) -> Run {
    Running::spawn(cmd, what, stdin, timeout).wait()
}

/// [`run_bounded`] that never panics.
pub fn try_run_bounded(
    cmd: Command,
    what: String,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Run, String> {
    Running::try_spawn(cmd, what, stdin, timeout)?.try_wait()
}
