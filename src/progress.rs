//! Progress behind a small reporter trait. Only this module knows indicatif: on a terminal a
//! spinner per step; without one (CI), plain timestamped lines with no control characters.

#![allow(clippy::print_stderr)]

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Output;

/// What the engine reports; the engine never imports indicatif.
pub trait Reporter: Send + Sync {
    /// A step starts ("Creating container 210").
    fn start(&self, step: &str);
    /// The current step finished well, with an optional detail.
    fn done(&self, detail: &str);
    /// The current step failed.
    fn failed(&self, detail: &str);
    /// A line about one service whose state changed (health wait).
    fn service(&self, name: &str, state: &str);
    /// Free-form progress note.
    fn note(&self, msg: &str);
}

/// Picks the reporter for this run: spinners on a terminal, plain lines otherwise, nothing
/// with `--quiet` or JSON output; progress is hidden when verbose logging is on.
pub fn reporter(out: &Output) -> Box<dyn Reporter> {
    if out.quiet {
        Box::new(Silent)
    } else if out.interactive && out.verbose == 0 {
        Box::new(Spinners::new())
    } else {
        Box::new(Plain::new())
    }
}

pub struct Silent;

impl Reporter for Silent {
    fn start(&self, _: &str) {}
    fn done(&self, _: &str) {}
    fn failed(&self, _: &str) {}
    fn service(&self, _: &str, _: &str) {}
    fn note(&self, _: &str) {}
}

/// Plain timestamped lines for CI logs.
pub struct Plain {
    current: Mutex<Option<(String, Instant)>>,
}

impl Plain {
    pub fn new() -> Self {
        Plain {
            current: Mutex::new(None),
        }
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
    eprintln!("[{}] {}", timestamp(), crate::output::sanitize(msg));
}

impl Reporter for Plain {
    fn start(&self, step: &str) {
        line(&format!("{step} ..."));
        *self.current.lock().unwrap() = Some((step.to_string(), Instant::now()));
    }
    fn done(&self, detail: &str) {
        if let Some((step, t)) = self.current.lock().unwrap().take() {
            let sep = if detail.is_empty() { "" } else { ": " };
            line(&format!(
                "{step}: done{sep}{detail} ({:.1}s)",
                t.elapsed().as_secs_f64()
            ));
        }
    }
    fn failed(&self, detail: &str) {
        if let Some((step, _)) = self.current.lock().unwrap().take() {
            line(&format!("{step}: failed: {detail}"));
        }
    }
    fn service(&self, name: &str, state: &str) {
        line(&format!("service {name}: {state}"));
    }
    fn note(&self, msg: &str) {
        line(msg);
    }
}

/// indicatif spinners: one per step, one line per service.
pub struct Spinners {
    multi: MultiProgress,
    current: Mutex<Option<ProgressBar>>,
    services: Mutex<Vec<(String, ProgressBar)>>,
}

impl Spinners {
    pub fn new() -> Self {
        Spinners {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            current: Mutex::new(None),
            services: Mutex::new(Vec::new()),
        }
    }

    fn spinner(&self, msg: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(crate::output::sanitize(msg));
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// The step that showed the services ended: their lines stop moving and stay.
    fn finish_services(&self) {
        for (_, bar) in self.services.lock().unwrap().drain(..) {
            bar.finish();
        }
    }
}

impl Default for Spinners {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for Spinners {
    fn start(&self, step: &str) {
        let bar = self.spinner(step);
        if let Some(old) = self.current.lock().unwrap().replace(bar) {
            old.finish();
        }
    }
    fn done(&self, detail: &str) {
        self.finish_services();
        if let Some(bar) = self.current.lock().unwrap().take() {
            let sep = if detail.is_empty() { "" } else { ": " };
            bar.set_style(ProgressStyle::with_template("✓ {msg}").unwrap());
            bar.finish_with_message(format!(
                "{}{sep}{}",
                bar.message(),
                crate::output::sanitize(detail)
            ));
        }
    }
    fn failed(&self, detail: &str) {
        self.finish_services();
        if let Some(bar) = self.current.lock().unwrap().take() {
            bar.set_style(ProgressStyle::with_template("✗ {msg}").unwrap());
            bar.finish_with_message(format!(
                "{}: {}",
                bar.message(),
                crate::output::sanitize(detail)
            ));
        }
    }
    fn service(&self, name: &str, state: &str) {
        let mut services = self.services.lock().unwrap();
        let msg = format!("{name}: {}", crate::output::sanitize(state));
        let bar = match services.iter().find(|(n, _)| n == name) {
            Some((_, bar)) => {
                bar.set_message(msg);
                bar.clone()
            }
            None => {
                let bar = self.spinner(&msg);
                services.push((name.to_string(), bar.clone()));
                bar
            }
        };
        if passed(state) {
            bar.set_style(ProgressStyle::with_template("  ✓ {msg}").unwrap());
            bar.tick();
        }
    }
    fn note(&self, msg: &str) {
        let _ = self.multi.println(crate::output::sanitize(msg));
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
        if let Some(bar) = self.current.lock().unwrap().take() {
            bar.finish();
        }
        self.finish_services();
    }
}

#[cfg(test)]
mod tests {
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
