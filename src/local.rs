//! Local commands (`sh -c`): secret sources and hooks. Each runs in its own process group so
//! that a timeout stops the command and everything it started, not only the shell.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a local command did.
#[derive(Debug)]
pub(crate) struct Finished {
    /// `None` when it was stopped at the timeout.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub(crate) fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// How it ended, in words: `exited with status 3`, `was killed by signal 9`, `did not
    /// finish within 30 s and was stopped`.
    pub(crate) fn ending(&self, timeout: Option<Duration>) -> String {
        match (self.status, timeout) {
            (Some(s), _) if s.code().is_some() => {
                format!("exited with status {}", s.code().unwrap_or_default())
            }
            (Some(s), _) => format!("was killed by signal {}", s.signal().unwrap_or_default()),
            (None, Some(t)) => format!("did not finish within {} s and was stopped", t.as_secs()),
            (None, None) => "was stopped".to_string(),
        }
    }
}

/// Runs `sh -c command` in `dir` with `env` added, stdin closed, stdout and stderr captured.
/// With a timeout, the command's process group is killed when it runs out.
pub(crate) fn run(
    command: &str,
    dir: &Path,
    env: &[(&str, String)],
    timeout: Option<Duration>,
) -> std::io::Result<Finished> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut out_pipe = child.stdout.take().expect("piped");
    let mut err_pipe = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = timeout.map(|t| Instant::now() + t);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The whole group: what the shell started may still hold the pipes open.
    // SAFETY: kill(2) with a negative pid signals the process group we created above.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    if status.is_none() {
        let _ = child.wait();
    }
    Ok(Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_status_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let done = run(
            "pwd; echo \"$X\" >&2; exit 3",
            dir.path(),
            &[("X", "from env".into())],
            None,
        )
        .unwrap();
        let pwd = String::from_utf8(done.stdout.clone()).unwrap();
        assert_eq!(
            Path::new(pwd.trim()).canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
        assert_eq!(done.stderr, b"from env\n");
        assert!(!done.success());
        assert_eq!(done.ending(None), "exited with status 3");
    }

    #[test]
    fn a_hanging_command_and_its_children_are_stopped_at_the_timeout() {
        let started = Instant::now();
        let done = run(
            "echo partial; sleep 60 & sleep 60",
            Path::new("/"),
            &[],
            Some(Duration::from_millis(500)),
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(done.status.is_none());
        assert_eq!(done.stdout, b"partial\n");
        assert_eq!(
            done.ending(Some(Duration::from_secs(30))),
            "did not finish within 30 s and was stopped"
        );
    }
}
