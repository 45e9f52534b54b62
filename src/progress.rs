//! Progress behind a small reporter trait. Only this module (its `spinners` for one target,
//! its `board` for several) knows indicatif: on a terminal a spinner per step, each ending as a ✓/✗ line
//! that stays; otherwise (CI, a dumb terminal, or `-v`, where the lines interleave with the
//! log) plain timestamped lines with no control characters; nothing with `--quiet`. JSON output does not change it: progress is on
//! stderr, the document on stdout.
//!
//! A step is run by [`Reporter::step`] (or [`Reporter::step_with`]) and nothing else: the
//! step's line opens before the work and closes after it, whatever the work returned, so no
//! error can leave a step open.

#![allow(clippy::print_stderr)]

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use indicatif::ProgressDrawTarget;

use crate::error::Result;
use crate::output::{sanitize, Output};

mod board;
mod spinners;

pub(crate) use board::Board;
pub(crate) use spinners::Spinners;

/// Only this module can open or close a step: the trait's step methods take a `Seal`.
pub(crate) struct Seal(());

/// How a step that returned a value ended: ✓ with a detail, or ✗ with a reason (a step that
/// did not reach its goal but let the command go on, e.g. a shutdown that timed out before
/// `pct stop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    Done(String),
    Failed(String),
}

/// What the engine reports; the engine never imports indicatif.
pub(crate) trait Reporter: Send + Sync {
    /// A step starts ("Creating container 210"). Called by [`Reporter::step`] only.
    fn start(&self, seal: Seal, step: &str);
    /// The innermost open step ends. Called by [`Reporter::step`] only.
    fn end(&self, seal: Seal, ending: &Ending);
    /// A line about one service whose state changed (health wait).
    fn service(&self, name: &str, state: &str);
    /// Free-form progress note.
    fn note(&self, msg: &str);
}

impl dyn Reporter + '_ {
    /// Runs one step: ✓ when `run` succeeds, ✗ with the error's message when it fails.
    pub(crate) fn step<T>(&self, title: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        self.step_with(title, |_| Ending::Done(String::new()), run)
    }

    /// Runs one step whose ending depends on its result (`Ending::Done(detail)` shows
    /// `✓ title: detail`); an error ends it ✗ with the error's message.
    pub(crate) fn step_with<T>(
        &self,
        title: &str,
        ending: impl FnOnce(&T) -> Ending,
        run: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.start(Seal(()), title);
        // `-v` lines logged inside carry `step=<title>` (and `target=<name>` in a run of
        // several targets), so the interleaved lines of parallel targets can be told apart.
        let result = tracing::info_span!("step", step = title).in_scope(run);
        let end = match &result {
            Ok(value) => ending(value),
            Err(e) => Ending::Failed(e.message.clone()),
        };
        self.end(Seal(()), &end);
        result
    }
}

/// `✓ detail` for [`Reporter::step_with`].
pub(crate) fn done(detail: impl Into<String>) -> Ending {
    Ending::Done(detail.into())
}

/// Picks the reporter for this run: spinners on a terminal that can show them, plain lines
/// otherwise and under `-v`, nothing with `--quiet`.
pub(crate) fn reporter(out: &Output) -> Box<dyn Reporter> {
    if out.quiet {
        Box::new(Silent)
    } else if out.interactive && out.verbose == 0 && !ProgressDrawTarget::stderr().is_hidden() {
        Box::new(Spinners::new())
    } else {
        Box::new(Plain::new())
    }
}

pub(crate) struct Silent;

impl Reporter for Silent {
    fn start(&self, _: Seal, _: &str) {}
    fn end(&self, _: Seal, _: &Ending) {}
    fn service(&self, _: &str, _: &str) {}
    fn note(&self, _: &str) {}
}

/// Plain timestamped lines for CI logs.
pub(crate) struct Plain {
    open: Mutex<Vec<(String, Instant)>>,
    /// `[name] ` for one target of several, else empty.
    prefix: String,
}

impl Plain {
    pub(crate) fn new() -> Self {
        Self::prefixed(String::new())
    }

    fn prefixed(prefix: String) -> Self {
        Plain {
            open: Mutex::new(Vec::new()),
            prefix,
        }
    }

    fn line(&self, msg: &str) {
        line(&format!("{}{msg}", self.prefix));
    }
}

impl Default for Plain {
    fn default() -> Self {
        Self::new()
    }
}

fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02}")
}

fn line(msg: &str) {
    eprintln!("[{}] {}", timestamp(), sanitize(msg));
}

/// `: detail`, or nothing for an empty detail.
fn suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {}", sanitize(detail))
    }
}

impl Reporter for Plain {
    fn start(&self, _: Seal, step: &str) {
        self.line(&format!("{step} ..."));
        self.open
            .lock()
            .unwrap()
            .push((step.to_string(), Instant::now()));
    }
    fn end(&self, _: Seal, ending: &Ending) {
        let Some((step, t)) = self.open.lock().unwrap().pop() else {
            return;
        };
        match ending {
            Ending::Done(detail) => {
                let sep = if detail.is_empty() { "" } else { ": " };
                self.line(&format!(
                    "{step}: done{sep}{detail} ({:.1}s)",
                    t.elapsed().as_secs_f64()
                ));
            }
            Ending::Failed(detail) => self.line(&format!("{step}: failed: {detail}")),
        }
    }
    fn service(&self, name: &str, state: &str) {
        self.line(&format!("service {name}: {state}"));
    }
    fn note(&self, msg: &str) {
        self.line(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// Records the calls, to check that a step always closes.
    #[derive(Default)]
    struct Record(Mutex<Vec<String>>);

    impl Reporter for Record {
        fn start(&self, _: Seal, step: &str) {
            self.0.lock().unwrap().push(format!("start {step}"));
        }
        fn end(&self, _: Seal, ending: &Ending) {
            self.0.lock().unwrap().push(format!("end {ending:?}"));
        }
        fn service(&self, _: &str, _: &str) {}
        fn note(&self, _: &str) {}
    }

    #[test]
    fn a_step_closes_on_success_and_on_error() {
        let record = Record::default();
        let r: &dyn Reporter = &record;
        assert_eq!(r.step("One", || Ok(1)).unwrap(), 1);
        let failed: Result<()> = r.step("Two", || Err(Error::remote("cut off")));
        assert!(failed.is_err());
        let kept = r.step_with("Three", |n: &u32| done(format!("{n} files")), || Ok(3));
        assert_eq!(kept.unwrap(), 3);
        assert_eq!(
            *record.0.lock().unwrap(),
            [
                "start One",
                "end Done(\"\")",
                "start Two",
                "end Failed(\"cut off\")",
                "start Three",
                "end Done(\"3 files\")",
            ]
        );
    }
}
