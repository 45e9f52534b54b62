//! The one place that writes to the terminal: data on stdout (text or one JSON document),
//! messages, warnings and progress on stderr; quiet/verbose; colour with NO_COLOR honoured.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use clap::ValueEnum;

use crate::error::Error;

/// `-o/--output` (a clap value enum, defined here so that `cli` is the only user of `cli`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable text
    #[default]
    Text,
    /// Exactly one JSON document on stdout
    Json,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is unset
    #[default]
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub format: OutputFormat,
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
    /// stderr is a terminal: spinners and prompts are allowed.
    pub interactive: bool,
    /// Set when this output belongs to one of several targets run together: its lines are
    /// prefixed `[name]` and its JSON facts are kept for the one document of the run.
    pub target: Option<Arc<TargetSink>>,
}

/// What one target of several leaves behind for the summary: its name and its JSON facts;
/// and where its stderr lines go while a live progress display owns the terminal.
#[derive(Default)]
pub struct TargetSink {
    pub name: String,
    pub facts: Mutex<Option<serde_json::Value>>,
    pub printer: Option<Printer>,
}

/// Prints one line above a live progress display.
pub(crate) type Printer = Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for TargetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetSink")
            .field("name", &self.name)
            .finish()
    }
}

impl Output {
    /// The output of `-o`, `--color`, `-q` and `-v` (`cli::GlobalArgs::output`).
    pub fn new(format: OutputFormat, color: ColorChoice, quiet: bool, verbose: u8) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stderr_tty && !no_color,
        };
        Output {
            format,
            quiet,
            verbose,
            color,
            interactive: stderr_tty,
            target: None,
        }
    }

    /// This output for one target of several: lines prefixed `[name]`, JSON facts kept.
    pub fn for_target(&self, name: &str, printer: Option<Printer>) -> Output {
        Output {
            target: Some(Arc::new(TargetSink {
                name: name.to_string(),
                facts: Mutex::new(None),
                printer,
            })),
            ..self.clone()
        }
    }

    /// One line on stderr, above the live progress display when there is one. Every message,
    /// warning and error passes here, [`sanitize`]d: remote text that a caller forgot to
    /// escape still cannot move the cursor, clear the screen or set the title.
    fn line(&self, text: &str) {
        let text = self.terminal_safe(text);
        match self.target.as_ref().and_then(|t| t.printer.as_ref()) {
            Some(print) => print(&text),
            None => eprintln!("{text}"),
        }
    }

    /// `text` [`sanitize`]d, except for pxdeploy's own colours when colour is on.
    fn terminal_safe(&self, text: &str) -> String {
        sanitize_keeping_paint(text, self.color)
    }

    /// `[name] ` for a target of several, else nothing.
    fn prefix(&self) -> String {
        self.target
            .as_ref()
            .map_or(String::new(), |t| format!("[{}] ", t.name))
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// A human line on stderr (suppressed by `--quiet`).
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            self.line(&format!("{}{}", self.prefix(), msg.as_ref()));
        }
    }

    /// A warning on stderr (shown even with `--quiet`).
    pub fn warn(&self, msg: impl AsRef<str>) {
        self.line(&format!(
            "{}{} {}",
            self.prefix(),
            self.yellow("warning:"),
            msg.as_ref()
        ));
    }

    /// Human data: on stdout in text mode, nothing in JSON mode (the JSON document carries it).
    pub fn data(&self, text: impl AsRef<str>) {
        if !self.json() {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`pxdeploy status | head -1`) is not an error.
            let prefix = self.prefix();
            for line in text.as_ref().lines() {
                let _ = writeln!(out, "{prefix}{}", self.terminal_safe(line));
            }
        }
    }

    /// Raw bytes to stdout (logs); a closed pipe is not an error. For a target of several,
    /// each line gets the `[name]` prefix.
    pub fn raw_stdout(&self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        if self.target.is_some() {
            let prefix = self.prefix();
            for line in String::from_utf8_lossy(bytes).lines() {
                let _ = writeln!(out, "{prefix}{line}");
            }
            let _ = out.flush();
            return;
        }
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// The one JSON document of a successful command: `{"ok": true, ...facts}`.
    pub fn success_json(&self, facts: serde_json::Value) {
        if let Some(target) = &self.target {
            *target.facts.lock().unwrap() = Some(facts);
            return;
        }
        if self.json() {
            let mut doc = serde_json::json!({ "ok": true });
            if let (Some(map), serde_json::Value::Object(facts)) = (doc.as_object_mut(), facts) {
                map.extend(facts);
            }
            self.print_json(&doc);
        }
    }

    /// Renders a failure: the JSON document on stdout with `-o json`, and always the human text on stderr.
    pub fn failure(&self, err: &Error, facts: Option<serde_json::Value>) {
        if err.reported {
            return;
        }
        if self.json() {
            let mut doc = serde_json::json!({ "ok": false, "error": err.to_json() });
            if let (Some(map), Some(serde_json::Value::Object(facts))) =
                (doc.as_object_mut(), facts)
            {
                for (k, v) in facts {
                    map.entry(k).or_insert(v);
                }
            }
            self.print_json(&doc);
        }
        self.error_text(err);
    }

    /// The human text of an error on stderr (`[name]`-prefixed for a target of several).
    pub fn error_text(&self, err: &Error) {
        let text = err.render();
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            let first = first
                .strip_prefix("error:")
                .map_or(first.to_string(), |rest| {
                    format!("{}{}", self.red("error:"), rest)
                });
            self.line(&format!("{}{first}", self.prefix()));
        }
        for line in lines {
            self.line(&format!("{}{line}", self.prefix()));
        }
    }

    /// Prints the one JSON document of the run (`-o json` only).
    pub fn print_json(&self, doc: &serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(doc).unwrap_or_default()
        );
    }
}

/// Remote text escaped before it reaches a terminal: control characters (other than
/// newline and tab) become visible `\x..` escapes, so a hostile remote cannot move the cursor.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The sequences [`Output::paint`] writes: bold, red, green, yellow, and the reset.
const PAINTS: [&str; 5] = ["\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m"];

/// [`sanitize`], except that with `keep_paint` the colour sequences of [`PAINTS`] pass (no
/// other sequence does: nothing that moves the cursor, erases, or sets a title).
fn sanitize_keeping_paint(text: &str, keep_paint: bool) -> String {
    if !keep_paint {
        return sanitize(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&sanitize(&rest[..at]));
        let from = &rest[at..];
        let paint = PAINTS.iter().find(|p| from.starts_with(**p));
        let taken = paint.map_or(1, |p| p.len());
        out.push_str(paint.copied().unwrap_or("\\x1b"));
        rest = &from[taken..];
    }
    out.push_str(&sanitize(rest));
    out
}

/// Where the log (`-v`, `tracing`) goes: stderr, each event [`sanitize`]d on its way (the
/// formatter escapes only some fields; a remote command's stdout and stderr, logged at
/// `-vvv`, are fields like any other).
pub(crate) struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter writes one whole event per call.
        let text = sanitize(&String::from_utf8_lossy(buf));
        std::io::stderr().lock().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Removes ANSI escape sequences (Compose 2.26.1 prints a stray `ESC[2K` even without a TTY).
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // parameters and intermediates, then one final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The last `n` non-empty lines of a remote command's output, for a message: colours
/// removed, then [`sanitize`]d.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    sanitize(&strip_ansi(
        &lines[lines.len().saturating_sub(n)..].join("\n"),
    ))
}

/// [`tail`] of stderr, or of stdout when stderr says nothing.
pub(crate) fn tail_of(stderr: &str, stdout: &str, n: usize) -> String {
    tail(
        if stderr.trim().is_empty() {
            stdout
        } else {
            stderr
        },
        n,
    )
}

/// A byte count for people, in binary units as Proxmox counts them: `512.0 MiB`, `1.6 GiB`,
/// `100 B`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Set while a live display (`status --watch`) has hidden the cursor of stdout's terminal.
static CURSOR_HIDDEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Hides the cursor of stdout's terminal until [`show_cursor`] (called at Ctrl-C too).
pub(crate) fn hide_cursor() {
    CURSOR_HIDDEN.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(b"\x1b[?25l");
    let _ = out.flush();
}

/// Shows the cursor again if [`hide_cursor`] hid it.
pub(crate) fn show_cursor() {
    if CURSOR_HIDDEN.swap(false, std::sync::atomic::Ordering::SeqCst) {
        // Not through the stdout lock: the command's thread may hold it mid-frame.
        // SAFETY: write(2) of a static buffer to fd 1.
        unsafe {
            libc::write(1, b"\x1b[?25h".as_ptr().cast(), 6);
        }
    }
}

/// The width of stdout's terminal in columns (`None` when it is not one).
pub(crate) fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills the `winsize` it is given.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// A local path as people read it: relative to the working folder when it is inside it,
/// else `~/…` under the home folder, else as it is.
pub(crate) fn display_path(path: &std::path::Path) -> String {
    if path.is_absolute() {
        if let Ok(cwd) = std::env::current_dir() {
            if let Ok(rel) = path.strip_prefix(&cwd) {
                if !rel.as_os_str().is_empty() {
                    return rel.display().to_string();
                }
            }
        }
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from);
    match home.as_deref().map(|h| (h, path.strip_prefix(h))) {
        Some((h, Ok(rest))) if h != std::path::Path::new("/") => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_control_characters() {
        assert_eq!(sanitize("ok\x1b[2Jdone\n"), "ok\\x1b[2Jdone\n");
        assert_eq!(sanitize("tab\there"), "tab\there");
    }

    #[test]
    fn only_our_own_colours_pass_and_only_when_colour_is_on() {
        let hostile = "\x1b[32mok\x1b[0m \x1b]0;pwned\x07\x1b[2J\u{9b}2J";
        assert_eq!(
            sanitize_keeping_paint(hostile, true),
            "\x1b[32mok\x1b[0m \\x1b]0;pwned\\x07\\x1b[2J\\x9b2J"
        );
        assert_eq!(
            sanitize_keeping_paint(hostile, false),
            "\\x1b[32mok\\x1b[0m \\x1b]0;pwned\\x07\\x1b[2J\\x9b2J"
        );
    }

    #[test]
    fn paths() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(display_path(&cwd.join("pxdeploy.toml")), "pxdeploy.toml");
        assert_eq!(display_path(std::path::Path::new("rel/x")), "rel/x");
        // Under the home folder (and not under the working folder): `~/…`.
        let home = std::path::PathBuf::from(std::env::var_os("HOME").unwrap());
        let key = home.join(".pxdeploy-never-there/id");
        let shown = display_path(&key);
        assert!(shown.ends_with(".pxdeploy-never-there/id"), "{shown}");
        assert!(!shown.starts_with('/'), "{shown}");
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("\x1b[2Ka\n", 5), "a");
        assert_eq!(tail("moved\x07\n", 5), "moved\\x07");
        assert_eq!(tail_of("a\n\nb\nc\n", "x", 2), "b\nc");
        assert_eq!(tail_of("  \n", "x\ny\n", 5), "x\ny");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(536870912), "512.0 MiB");
        assert_eq!(size(1683906560), "1.6 GiB");
        assert_eq!(size(3686), "3.6 KiB");
        assert_eq!(size(100), "100 B");
    }
}
