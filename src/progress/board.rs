//! Progress of several targets at once: one `MultiProgress` with a group of lines per
//! target (uv's reporter), or plain lines prefixed `[name]`.

use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{line, suffix, Ending, Plain, Reporter, Silent, Spinners};
use crate::output::Output;

/// Progress of several targets run together (uv's reporter: one `MultiProgress`, a group
/// of lines per job, finished lines kept): on a terminal one header line per target with
/// its live steps under it; otherwise plain lines prefixed `[name]`; nothing with `--quiet`.
pub(crate) struct Board {
    multi: Option<MultiProgress>,
    quiet: bool,
}

/// One target's place on the [`Board`]: closed by [`Lane::finish`].
pub(crate) struct Lane {
    name: String,
    header: Option<ProgressBar>,
    quiet: bool,
    started: Mutex<Instant>,
}

impl Board {
    pub(crate) fn new(out: &Output) -> Board {
        let live = !out.quiet
            && out.interactive
            && out.verbose == 0
            && !ProgressDrawTarget::stderr().is_hidden();
        Board {
            multi: live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            quiet: out.quiet,
        }
    }

    /// Where a target's message lines go: above the live display, or `None` (plain stderr).
    pub(crate) fn printer(&self) -> Option<crate::output::Printer> {
        let multi = self.multi.clone()?;
        Some(std::sync::Arc::new(move |line: &str| {
            let _ = multi.println(line);
        }))
    }

    /// A lane per target, in the order given (their header lines appear in that order).
    pub(crate) fn lane(&self, name: &str) -> Lane {
        let header = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{prefix:.bold} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(name.to_string());
            bar.set_message("waiting");
            bar.tick();
            bar
        });
        Lane {
            name: name.to_string(),
            header,
            quiet: self.quiet,
            started: Mutex::new(Instant::now()),
        }
    }

    /// The reporter for the work of `lane`, which starts now.
    pub(crate) fn reporter(&self, lane: &Lane) -> Box<dyn Reporter> {
        *lane.started.lock().unwrap() = Instant::now();
        if self.quiet {
            return Box::new(Silent);
        }
        match (&self.multi, &lane.header) {
            (Some(multi), Some(header)) => {
                header.set_message("running");
                Box::new(Spinners::lane(
                    multi.clone(),
                    format!("{} ", lane.name),
                    header.clone(),
                ))
            }
            _ => Box::new(Plain::prefixed(format!("[{}] ", lane.name))),
        }
    }
}

impl Lane {
    /// The target's work ended: its header line (or a plain line) says how, and how long it took.
    pub(crate) fn finish(&self, ending: &Ending) {
        let secs = self.started.lock().unwrap().elapsed().as_secs_f64();
        let text = match ending {
            Ending::Done(detail) => format!("✓ done{} ({secs:.1}s)", suffix(detail)),
            Ending::Failed(detail) => format!("✗ failed{} ({secs:.1}s)", suffix(detail)),
        };
        match &self.header {
            Some(header) => header.finish_with_message(text),
            None if !self.quiet => line(&format!("[{}] {text}", self.name)),
            None => {}
        }
    }
}
