//! Pure builders for the `pct`, `pveam`, `vzdump`, `pvesm` and `pvesh` command lines, and
//! parsers of their output. Nothing here talks to a host: every function takes and returns
//! strings, and is unit-tested against the exact texts Proxmox VE prints.
//!
//! Every builder returns a complete command line with each value quoted by
//! [`crate::remote::quote`], ready for `Host::probe`/`Host::change`.

pub(crate) mod backup_job;
pub(crate) mod calendar;
pub(crate) mod node;
pub(crate) mod pct;
pub(crate) mod purge;
pub(crate) mod pveam;
pub(crate) mod pvesm;
pub(crate) mod qm;
pub(crate) mod vzdump;

use std::cmp::Ordering;

/// What a foreground task reported besides success: the `WARN: …` lines of its output and
/// the `Task finished with N warning(s)!` line on stderr. Such a task still exits 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TaskWarnings {
    /// N of `Task finished with N warning(s)!`, or the number of `WARN:` lines.
    pub count: u32,
    /// The `WARN:` lines, without the prefix.
    pub lines: Vec<String>,
}

/// Reads the warnings of a task from its stdout (task output) and stderr.
pub(crate) fn task_warnings(stdout: &str, stderr: &str) -> TaskWarnings {
    let lines: Vec<String> = stdout
        .lines()
        .chain(stderr.lines())
        .filter_map(|l| l.trim_start().strip_prefix("WARN:"))
        .map(|l| l.trim().to_string())
        .collect();
    let count = stderr
        .lines()
        .rev()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Task finished with ")?
                .strip_suffix(" warning(s)!")?
                .parse::<u32>()
                .ok()
        })
        .unwrap_or(lines.len() as u32);
    TaskWarnings { count, lines }
}

/// Compares two version strings the way a person reads them: runs of digits numerically,
/// everything else as text. `12.12-1` > `12.7-1` > `12.2-1`.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (version_tokens(a), version_tokens(b));
    for (x, y) in ta.iter().zip(tb.iter()) {
        let ord = match (x, y) {
            (Token::Num(x), Token::Num(y)) => x.cmp(y),
            (Token::Text(x), Token::Text(y)) => x.cmp(y),
            (Token::Num(_), Token::Text(_)) => Ordering::Greater,
            (Token::Text(_), Token::Num(_)) => Ordering::Less,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ta.len().cmp(&tb.len())
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Num(u128),
    Text(&'a str),
}

fn version_tokens(s: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let digit = bytes[i].is_ascii_digit();
        while i < bytes.len() && bytes[i].is_ascii_digit() == digit {
            i += 1;
        }
        let part = &s[start..i];
        tokens.push(if digit {
            Token::Num(part.parse().unwrap_or(u128::MAX))
        } else {
            Token::Text(part)
        });
    }
    tokens
}

/// Parses a Proxmox size (`format_size`: `512`, `300K`, `8G`, `1.5T`) into bytes.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (num, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let factor: u64 = match unit {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        "T" | "TB" => 1 << 40,
        _ => return None,
    };
    let value: f64 = num.parse().ok()?;
    (value >= 0.0).then(|| (value * factor as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_warnings_from_create() {
        let stdout = "extracting archive '/var/lib/vz/template/cache/debian-12-standard_12.7-1_amd64.tar.zst'\nWARN: Systemd 252 detected. You may need to enable nesting.\n";
        let stderr = "Task finished with 1 warning(s)!\n";
        let w = task_warnings(stdout, stderr);
        assert_eq!(w.count, 1);
        assert_eq!(
            w.lines,
            vec!["Systemd 252 detected. You may need to enable nesting."]
        );
        assert_eq!(
            task_warnings("Total bytes read: 1\n", ""),
            TaskWarnings::default()
        );
    }

    #[test]
    fn task_warnings_count_without_lines() {
        let w = task_warnings("", "Task finished with 2 warning(s)!\n");
        assert_eq!(w.count, 2);
        assert!(w.lines.is_empty());
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("12.12-1", "12.7-1"), Ordering::Greater);
        assert_eq!(compare_versions("12.7-1", "12.2-1"), Ordering::Greater);
        assert_eq!(compare_versions("13.1-2", "13.1-10"), Ordering::Less);
        assert_eq!(compare_versions("12.7-1", "12.7-1"), Ordering::Equal);
        assert_eq!(compare_versions("12.7", "12.7-1"), Ordering::Less);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16G"), Some(16 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1.5T"), Some(3 << 39));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("12X"), None);
    }
}
