//! indicatif spinners on a terminal: a spinner per open step, a line per service; a step
//! that ends is kept as a ✓/✗ line above the live area.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{suffix, Ending, Reporter, Seal};
use crate::output::sanitize;

/// indicatif spinners: one per open step, one line per service. A step that ends becomes a
/// line printed above the live area, with its services' lines under it, so no later redraw
/// (a note, the next step) can erase it.
pub(crate) struct Spinners {
    multi: MultiProgress,
    open: Mutex<Vec<ProgressBar>>,
    services: Mutex<Vec<Service>>,
    /// One target of several: its kept lines start with its name, and its live bars stay
    /// under its header line.
    prefix: String,
    anchor: Option<ProgressBar>,
}

struct Service {
    name: String,
    bar: ProgressBar,
    ready: bool,
}

impl Spinners {
    /// The spinners of one target of several ([`super::Board`]): its kept lines start with
    /// `prefix`, its live bars stay under `anchor`, its header line.
    pub(super) fn lane(multi: MultiProgress, prefix: String, anchor: ProgressBar) -> Spinners {
        Spinners {
            multi,
            open: Mutex::new(Vec::new()),
            services: Mutex::new(Vec::new()),
            prefix,
            anchor: Some(anchor),
        }
    }

    pub(crate) fn new() -> Self {
        Spinners {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            open: Mutex::new(Vec::new()),
            services: Mutex::new(Vec::new()),
            prefix: String::new(),
            anchor: None,
        }
    }

    /// A new live bar: under the last live bar of this group (a target's header, its open
    /// steps, its services), or at the bottom without a group. `after` is that last bar
    /// when the caller holds the services' lock.
    fn spinner(&self, msg: &str) -> ProgressBar {
        let after = match self.services.lock().unwrap().last() {
            Some(s) => Some(s.bar.clone()),
            None => self.last_step(),
        };
        self.spinner_after(msg, after)
    }

    fn last_step(&self) -> Option<ProgressBar> {
        self.open
            .lock()
            .unwrap()
            .last()
            .cloned()
            .or_else(|| self.anchor.clone())
    }

    fn spinner_after(&self, msg: &str, after: Option<ProgressBar>) -> ProgressBar {
        let bar = match after {
            Some(after) => self.multi.insert_after(&after, ProgressBar::new_spinner()),
            None => self.multi.add(ProgressBar::new_spinner()),
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(sanitize(msg));
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// The live `bar` becomes the line `text`, which stays.
    fn keep(&self, bar: &ProgressBar, text: String) {
        bar.finish_and_clear();
        self.multi.remove(bar);
        let _ = self.multi.println(format!("{}{text}", self.prefix));
    }
}

impl Default for Spinners {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for Spinners {
    fn start(&self, _: Seal, step: &str) {
        let bar = self.spinner(step);
        self.open.lock().unwrap().push(bar);
    }
    fn end(&self, _: Seal, ending: &Ending) {
        let Some(bar) = self.open.lock().unwrap().pop() else {
            return;
        };
        let (mark, detail, missed) = match ending {
            Ending::Done(detail) => ("✓", detail, "·"),
            Ending::Failed(detail) => ("✗", detail, "✗"),
        };
        self.keep(&bar, format!("{mark} {}{}", bar.message(), suffix(detail)));
        for s in self.services.lock().unwrap().drain(..) {
            let mark = if s.ready { "✓" } else { missed };
            self.keep(&s.bar, format!("  {mark} {}", s.bar.message()));
        }
    }
    fn service(&self, name: &str, state: &str) {
        let mut services = self.services.lock().unwrap();
        let msg = sanitize(&format!("{name}: {state}"));
        let ready = state.starts_with("healthy") || state.starts_with("running");
        let bar = match services.iter_mut().find(|s| s.name == name) {
            Some(s) => {
                s.bar.set_message(msg);
                s.ready = ready;
                s.bar.clone()
            }
            None => {
                let after = match services.last() {
                    Some(s) => Some(s.bar.clone()),
                    None => self.last_step(),
                };
                let bar = self.spinner_after(&msg, after);
                services.push(Service {
                    name: name.to_string(),
                    bar: bar.clone(),
                    ready,
                });
                bar
            }
        };
        if passed(state) {
            bar.set_style(ProgressStyle::with_template("  ✓ {msg}").unwrap());
            bar.tick();
        }
    }
    fn note(&self, msg: &str) {
        let _ = self
            .multi
            .println(format!("{}{}", self.prefix, sanitize(msg)));
    }
}

/// A label of a service that passes: `healthy`, `running`, `completed`, `2/2 healthy`.
fn passed(label: &str) -> bool {
    let one = |l: &str| l.starts_with("healthy") || l.starts_with("running") || l == "completed";
    match label.split_once(' ') {
        Some((count, rest)) if count.contains('/') => {
            count.split_once('/').is_some_and(|(a, b)| a == b) && one(rest)
        }
        _ => one(label),
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        for bar in self.open.lock().unwrap().drain(..) {
            bar.finish();
        }
        for s in self.services.lock().unwrap().drain(..) {
            s.bar.finish();
        }
    }
}

#[cfg(test)]
mod label_tests {
    #[test]
    fn passing_labels_get_the_tick() {
        for yes in [
            "healthy",
            "running",
            "completed",
            "2/2 healthy",
            "3/3 running",
        ] {
            assert!(super::passed(yes), "{yes}");
        }
        for no in [
            "starting",
            "exited (0)",
            "1/2 healthy",
            "2/2 starting",
            "missing",
        ] {
            assert!(!super::passed(no), "{no}");
        }
    }
}
