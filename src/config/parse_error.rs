//! A TOML syntax or type error as the user reads it: `file:line:column: key: message`,
//! with a did-you-mean for a typo, and never a value under `env` (nor the parser's quote of
//! such a line).

use super::env_table;
use crate::error::Error;

/// A TOML syntax or type error: `file:line:column: message`, plus a did-you-mean hint for
/// an unknown key. Under `env`, where a value may be a secret, see [`shown_message`].
pub(super) fn parse_error(shown: &str, text: &str, e: &toml::de::Error) -> Error {
    let mut message = e
        .message()
        .trim_end()
        .replacen('\n', ": ", 1)
        .replace('\n', "; ");
    for number in ["u16", "u32", "u64", "usize"] {
        message = message.replace(
            &format!("expected {number}"),
            "expected a whole number (0 or more)",
        );
    }
    let Some(span) = e.span() else {
        return Error::config(format!("{shown}: {}", shown_message(&message, true)));
    };
    let (mut line, mut column) = line_col(text, span.start);
    // Serde reports an `[env]` reader's error at its table: point at the key instead.
    if let Some(at) = own_key(&message).and_then(|field| key_line(text, &field)) {
        (line, column) = (at, 1);
    }
    let (section, in_multiline) = section_at(text, span.start);
    let key = (!in_multiline)
        .then(|| key_at_line(text, line, &section))
        .flatten();
    // A value under `env` may be a secret: show the parser's words only when the line is
    // surely outside it.
    let sensitive = in_multiline
        || is_env(&section)
        || key.as_deref().map_or(true, is_env) && header_of_line(text, line).is_none();
    message = shown_message(&message, sensitive);
    let mut hint = None;
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((key, tail)) = rest.split_once('`') {
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            hint = did_you_mean(key, &expected).map(|s| format!("did you mean `{s}`?"));
            if !section.is_empty() {
                message = format!("unknown field `{key}` in [{section}]{tail}");
            }
        }
    } else if message.starts_with("missing field `") && !section.is_empty() {
        message = format!("{message} in [{section}]");
    } else if let Some(key) = key.filter(|_| !message.starts_with(env_table::OWN_PREFIX)) {
        // A wrong type or value: say whose.
        message = format!("{key}: {message}");
    }
    let err = Error::config(format!("{shown}:{line}:{column}: {message}"));
    match hint {
        Some(hint) => err.hint(hint),
        None => err,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// `[env.secrets] NAME: …` (a message of [`env_table`]) → `env.secrets.NAME`.
fn own_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix(env_table::OWN_PREFIX)?;
    let (table, rest) = rest.split_once("] ")?;
    let (name, _) = rest.split_once(':')?;
    Some(format!("env.{table}.{name}"))
}

/// `env` or a key or table under it.
fn is_env(key: &str) -> bool {
    key == "env" || key.starts_with("env.") || key == "monitor" || key.starts_with("monitor.")
}

/// What of a parser message may be shown. Outside `env`, all of it. Under `env` (or where
/// that cannot be told), a message of pxdeploy's own (which names keys and types only), or
/// serde's `unknown field`/`missing field` (key names), or else the parser's first clause
/// when it quotes nothing ("invalid basic string"); otherwise a plain sentence.
pub(super) fn shown_message(message: &str, sensitive: bool) -> String {
    if !sensitive
        || message.starts_with(env_table::OWN_PREFIX)
        || message.starts_with(super::monitor::OWN_PREFIX)
        || message.starts_with("unknown field `")
        || message.starts_with("missing field `")
    {
        return message.to_string();
    }
    let clause = message.split([':', ',', '\n']).next().unwrap_or("").trim();
    if !clause.is_empty()
        && !clause.contains(['"', '\'', '`', '\\'])
        && !clause.contains("invalid type")
        && !clause.contains("invalid value")
    {
        format!(
            "{clause} (the rest of the parser's message is not shown: the line may hold a secret)"
        )
    } else {
        "not valid here (the parser's message is not shown: the line may hold a secret)".to_string()
    }
}

/// The `[table]` in force at a byte offset ("" before any header), and whether the offset
/// is inside a multi-line string (where no header or key can be told). On a header line
/// itself that is the header's parent: an unknown `[backups]` is unknown in the root.
fn section_at(text: &str, offset: usize) -> (String, bool) {
    let offset = offset.min(text.len());
    let mut section = String::new();
    let mut pos = 0;
    let mut in_multiline = false;
    for line in text.split_inclusive('\n') {
        let end = pos + line.len();
        let starts_inside = in_multiline;
        in_multiline ^= toggles_multiline(line);
        if starts_inside {
            if offset < end {
                return (section, true);
            }
        } else if let Some(header) = header_of(line) {
            if offset < end {
                // The offset is on this header line.
                let parent = header
                    .rsplit_once('.')
                    .map(|(parent, _)| parent.to_string())
                    .unwrap_or_default();
                return (parent, false);
            }
            section = header;
        } else if offset < end {
            break;
        }
        pos = end;
    }
    (section, in_multiline && offset >= pos)
}

/// Whether a line opens or closes a multi-line string: an odd number of `"""` or `'''`.
fn toggles_multiline(line: &str) -> bool {
    (line.matches("\"\"\"").count() + line.matches("\'\'\'").count()) % 2 == 1
}

/// The header on `line` (1-based), if that line is one.
fn header_of_line(text: &str, line: usize) -> Option<String> {
    header_of(text.lines().nth(line.checked_sub(1)?)?)
}

/// `[a.b]` or `[[a.b]]` → `a.b` (quotes and spaces removed).
fn header_of(line: &str) -> Option<String> {
    let line = line.trim();
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(dotted(&inner[..end]))
}

fn dotted(key: &str) -> String {
    key.split('.')
        .map(|part| part.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

/// The dotted key set on `line` (1-based), if that line is `key = …`.
fn key_at_line(text: &str, line: usize, section: &str) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?.trim_start();
    if l.starts_with('#') || l.starts_with('[') {
        return None;
    }
    let (key, _) = l.split_once('=')?;
    let key = dotted(key);
    Some(if section.is_empty() {
        key
    } else {
        format!("{section}.{key}")
    })
}

/// The 1-based line where the dotted `field` is set, when it is written as `key = …`.
pub(crate) fn key_line(text: &str, field: &str) -> Option<usize> {
    let mut section = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(header) = header_of(line) {
            section = header;
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        let Some((key, _)) = trimmed.split_once('=') else {
            continue;
        };
        let key = dotted(key);
        let full = if section.is_empty() {
            key
        } else {
            format!("{section}.{key}")
        };
        if full == field {
            return Some(i + 1);
        }
    }
    None
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub(super) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    // `memroy` is a typo of `memory_mb`: compare without the unit too.
    let distance = |c: &str| {
        let bare = ["_mb", "_gb", "_secs"]
            .iter()
            .find_map(|unit| c.strip_suffix(unit))
            .unwrap_or(c);
        levenshtein(word, c).min(levenshtein(word, bare))
    };
    candidates
        .iter()
        .map(|c| (distance(c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
