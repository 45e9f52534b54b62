//! The one place that writes to the terminal: data on stdout (text or one JSON document),
//! messages, warnings and progress on stderr; quiet/verbose; colour with NO_COLOR honoured.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

use crate::cli::{ColorChoice, GlobalArgs, OutputFormat};
use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Output {
    pub format: OutputFormat,
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
    /// stderr is a terminal: spinners and prompts are allowed.
    pub interactive: bool,
}

impl Output {
    pub fn new(global: &GlobalArgs) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stderr_tty && !no_color,
        };
        Output {
            format: global.output,
            quiet: global.quiet,
            verbose: global.verbose,
            color,
            interactive: stderr_tty,
        }
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
            eprintln!("{}", msg.as_ref());
        }
    }

    /// A warning on stderr (shown even with `--quiet`).
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("{} {}", self.yellow("warning:"), msg.as_ref());
    }

    /// Human data: on stdout in text mode, nothing in JSON mode (the JSON document carries it).
    pub fn data(&self, text: impl AsRef<str>) {
        if !self.json() {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`pxdeploy status | head -1`) is not an error.
            let _ = writeln!(out, "{}", text.as_ref());
        }
    }

    /// Raw bytes to stdout (logs); a closed pipe is not an error.
    pub fn raw_stdout(&self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// The one JSON document of a successful command: `{"ok": true, ...facts}`.
    pub fn success_json(&self, facts: serde_json::Value) {
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
        if self.json() {
            let mut doc = serde_json::json!({ "ok": false, "error": err.to_json() });
            if let (Some(map), Some(serde_json::Value::Object(facts))) = (doc.as_object_mut(), facts) {
                for (k, v) in facts {
                    map.entry(k).or_insert(v);
                }
            }
            self.print_json(&doc);
        }
        let text = err.render();
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            let first = first.strip_prefix("error:").map_or(first.to_string(), |rest| {
                format!("{}{}", self.red("error:"), rest)
            });
            eprintln!("{first}");
        }
        for line in lines {
            eprintln!("{line}");
        }
    }

    fn print_json(&self, doc: &serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(doc).unwrap_or_default());
    }
}

/// Remote text escaped before it reaches a terminal: control characters (other than
/// newline and tab) become visible `\x..` escapes, so a hostile remote cannot move the cursor.
pub fn sanitize(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_control_characters() {
        assert_eq!(sanitize("ok\x1b[2Jdone\n"), "ok\\x1b[2Jdone\n");
        assert_eq!(sanitize("tab\there"), "tab\there");
    }
}
