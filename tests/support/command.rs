//! The `pxdeploy` binary under test, run through one builder with a scrubbed environment
//! and a hard timeout (the process runner is `process.rs`).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{Run, Running};

/// Default bound on one `pxdeploy` run; `PXTEST_TIMEOUT_SECS` in the test's environment
/// changes it, `.timeout()` per command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

pub fn default_timeout() -> Duration {
    std::env::var("PXTEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// `pxdeploy` with a scrubbed environment. Start with [`pxdeploy()`].
#[must_use]
pub struct Pxdeploy {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
    home: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    on_pty: bool,
}

/// The `pxdeploy` binary under test, like casey/just's `Test`: the environment holds only
/// `PATH` and a fresh empty `HOME` (so no ~/.ssh, ssh-agent, `PROXMOX_*`, `NO_COLOR` or
/// `RUST_LOG` of the developer leaks in), stdin is empty, and the run is killed (failing
/// the test) after [`default_timeout()`].
pub fn pxdeploy() -> Pxdeploy {
    Pxdeploy {
        program: PathBuf::from(env!("CARGO_BIN_EXE_pxdeploy")),
        args: Vec::new(),
        envs: Vec::new(),
        current_dir: None,
        home: None,
        stdin: None,
        timeout: default_timeout(),
        on_pty: false,
    }
}

impl Pxdeploy {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }

    pub fn current_dir(mut self, d: impl AsRef<Path>) -> Self {
        self.current_dir = Some(d.as_ref().to_owned());
        self
    }

    /// Use this folder as HOME instead of a fresh empty one (e.g. one with .ssh/config).
    pub fn home(mut self, d: impl AsRef<Path>) -> Self {
        self.home = Some(d.as_ref().to_owned());
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Runs another program the same way (the harness's own tests use `/usr/bin/env`).
    pub fn program(mut self, p: impl AsRef<Path>) -> Self {
        self.program = p.as_ref().to_owned();
        self
    }

    /// Runs it on a pseudo-terminal of 100 columns and 40 rows (util-linux `script`), as a
    /// person at a terminal would: stdin is what they type, stdout everything the terminal
    /// showed (see [`crate::support::screen::render`]).
    pub fn on_pty(mut self) -> Self {
        self.on_pty = true;
        self
    }

    fn describe(&self) -> String {
        let mut s = self
            .program
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Starts it in the background (for lock, interrupt and concurrency tests).
    pub fn spawn(self) -> Running {
        let what = self.describe();
        let mut cmd = if self.on_pty {
            let mut line = format!("stty cols 100 rows 40; {}", sh_quote(&self.program));
            for a in &self.args {
                line.push(' ');
                line.push_str(&sh_quote(a));
            }
            let mut c = Command::new("/usr/bin/script");
            c.args(["-qec", &line, "/dev/null"]);
            c
        } else {
            let mut c = Command::new(&self.program);
            c.args(&self.args);
            c
        };
        cmd.env_clear();
        cmd.env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        );
        let tmp_home = match &self.home {
            Some(h) => {
                cmd.env("HOME", h);
                None
            }
            None => {
                let h = tempfile::Builder::new()
                    .prefix("pxtest-home-")
                    .tempdir()
                    .expect("temporary HOME");
                cmd.env("HOME", h.path());
                Some(h)
            }
        };
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        if let Some(d) = &self.current_dir {
            cmd.current_dir(d);
        }
        let mut r = Running::spawn(cmd, what, self.stdin, self.timeout);
        r.home = tmp_home;
        r
    }

    /// Runs it to completion.
    #[track_caller]
    pub fn run(self) -> Run {
        self.spawn().wait()
    }
}

/// `s` as one word for `sh`.
fn sh_quote(s: impl AsRef<OsStr>) -> String {
    let s = s.as_ref().to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
