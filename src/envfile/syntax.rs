//! Compose's `.env` syntax: parse a `.env` with Compose's own rules (compose-go's dotenv
//! parser), and render a value so that Compose reads it back verbatim.

use std::fmt;

use super::Redacted;

/// One `KEY=value` (or bare `KEY`) statement of a `.env` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub key: String,
    /// The value as Compose reads it (`None` for a bare `KEY`, which Compose takes from its
    /// own environment). Variable references (`${OTHER}`) are left as written.
    pub value: Option<Redacted<String>>,
    /// Byte range of the statement in the file (from the key, or `export`, to the end of the value).
    pub span: std::ops::Range<usize>,
    /// 1-based line of the statement.
    pub line: usize,
}

/// Why an existing `.env` cannot be read. Names the line, never the text (it may hold a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub what: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// Compose's whitespace inside a line (`isSpace` of compose-go's dotenv parser: no newline).
fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{85}' | '\u{a0}')
}

fn is_key_char(c: char) -> bool {
    matches!(c, '_' | '.' | '-' | '[' | ']') || c.is_alphanumeric()
}

/// Parses a `.env` the way Compose does (compose-go `dotenv/parser.go`): blank lines and
/// `#` comment lines skipped, optional `export `, `KEY=value` or `KEY: value`, unquoted
/// values end at a newline or ` #` and lose trailing spaces, `'…'` is literal (only `\'`
/// is an escape), `"…"` knows `\n \r \t \\ \" \$` and octal escapes; `$$` is a literal `$`.
pub fn parse(text: &str) -> std::result::Result<Vec<Statement>, ParseError> {
    let src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let offset = text.len() - src.len();
    let line_at = |pos: usize| src[..pos].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut pos = 0;
    // start of each statement: skip whitespace and comment lines
    while let Some(skip) = src[pos..].find(|c: char| !c.is_whitespace()) {
        pos += skip;
        if src[pos..].starts_with('#') {
            match src[pos..].find('\n') {
                Some(nl) => {
                    pos += nl;
                    continue;
                }
                None => break,
            }
        }
        let start = pos;
        let line = line_at(pos);
        let err = |what| ParseError { line, what };

        let rest = &src[pos..];
        if let Some(after) = rest.strip_prefix("export") {
            if after.starts_with(char::is_whitespace) {
                let trimmed = after.trim_start_matches(is_space);
                pos += rest.len() - trimmed.len();
            }
        }

        // the key: up to `=`, `:` or a newline (a bare `KEY`)
        let mut key_end = None;
        for (i, c) in src[pos..].char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    key_end = Some((pos + i, c));
                    break;
                }
                c if is_key_char(c) => {}
                _ => return Err(err("unexpected character in a variable name")),
            }
        }
        let (key_end, terminator) = match key_end {
            Some(k) => k,
            // a last line without `=`: a bare key
            None => (src.len(), '\n'),
        };
        let key = src[pos..key_end]
            .trim_end_matches(char::is_whitespace)
            .to_string();
        if key.contains(' ') {
            return Err(err("a variable name cannot contain a space"));
        }
        if key.is_empty() {
            return Err(err("a value without a variable name"));
        }
        if terminator == '\n' {
            out.push(Statement {
                key,
                value: None,
                span: offset + start..offset + key_end,
                line,
            });
            pos = (key_end + 1).min(src.len());
            continue;
        }

        // the value
        pos = key_end + 1;
        pos += src[pos..].len() - src[pos..].trim_start_matches(is_space).len();
        let (value, end) = match src[pos..].chars().next() {
            Some(q @ ('\'' | '"')) => {
                let (raw, len) =
                    quoted(&src[pos..], q).ok_or_else(|| err("unterminated quoted value"))?;
                let value = if q == '"' {
                    literal_dollars(&expand_escapes(&raw))
                } else {
                    raw
                };
                (value, pos + len)
            }
            _ => {
                let end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
                let mut value = &src[pos..end];
                if let Some(i) = value.find(" #") {
                    value = &value[..i];
                }
                (literal_dollars(value.trim_end()), end)
            }
        };
        out.push(Statement {
            key,
            value: Some(Redacted(value)),
            span: offset + start..offset + end,
            line,
        });
        pos = end;
    }
    Ok(out)
}

/// A quoted value starting at `src[0]` (the quote): its characters with `\<quote>` unescaped
/// (any other backslash kept), and the length including both quotes.
fn quoted(src: &str, q: char) -> Option<(String, usize)> {
    let mut chars = String::new();
    let mut escaped = false;
    for (i, c) in src.char_indices().skip(1) {
        if escaped {
            escaped = false;
            if c != q {
                chars.push('\\');
            }
            chars.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            c if c == q => return Some((chars, i + c.len_utf8())),
            c => chars.push(c),
        }
    }
    None
}

/// The escapes Compose expands in a double-quoted value. `\$` becomes `$$` (a literal `$`
/// after interpolation), unknown escapes stay as written.
fn expand_escapes(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(e @ ('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '"' | '\\' | '$')) => {
                chars.next();
                out.push_str(match e {
                    'a' => "\x07",
                    'b' => "\x08",
                    'f' => "\x0c",
                    'n' => "\n",
                    'r' => "\r",
                    't' => "\t",
                    'v' => "\x0b",
                    '"' => "\"",
                    '\\' => "\\",
                    _ => "$$",
                });
            }
            Some('0') => {
                chars.next();
                let mut digits = String::new();
                while digits.len() < 3 && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    digits.push(chars.next().unwrap_or('0'));
                }
                match u32::from_str_radix(if digits.is_empty() { "0" } else { &digits }, 8)
                    .ok()
                    .filter(|n| *n <= 0o377)
                    .and_then(char::from_u32)
                {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\0");
                        out.push_str(&digits);
                    }
                }
            }
            _ => out.push('\\'),
        }
    }
    out
}

/// Interpolation turns `$$` into `$`; other `$` references are left as written.
fn literal_dollars(value: &str) -> String {
    value.replace("$$", "$")
}

/// Why a value cannot be written to `.env`, if it cannot.
pub fn unrepresentable(value: &str) -> Option<&'static str> {
    value
        .contains('\0')
        .then_some("it contains a NUL character, which no environment variable can hold")
}

/// Renders one value so that Compose (2.x and 5.x) reads it back verbatim: letters, digits
/// and `_-./:@%+,=` as they are; otherwise in single quotes (literal, no interpolation) when
/// it has no `'` and no `\`; otherwise in double quotes with `\\`, `\"`, `$$`, `\n`, `\r`.
/// Checked against the real Compose 2.20.3 and 2.40.3 (docs/deploy.md).
pub fn render_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:@%+,=".contains(&b));
    if plain {
        return value.to_string();
    }
    if !value.contains(['\'', '\\']) {
        return format!("'{value}'");
    }
    let mut out = String::with_capacity(value.len() + 8);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A name Compose can interpolate: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, Option<String>)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|s| (s.key, s.value.map(|v| v.expose().clone())))
            .collect()
    }

    fn one(text: &str) -> String {
        let v = kv(text);
        assert_eq!(v.len(), 1, "{text:?}: {v:?}");
        v[0].1.clone().unwrap()
    }

    #[test]
    fn parses_compose_syntax() {
        assert_eq!(one("A=plain\n"), "plain");
        assert_eq!(one("export A=x"), "x");
        assert_eq!(one("  A = spaced  \n"), "spaced");
        assert_eq!(one("A: yaml\n"), "yaml");
        assert_eq!(one("A=v # comment\n"), "v");
        assert_eq!(one("A=v#not-a-comment\n"), "v#not-a-comment");
        assert_eq!(one("A='single $x \"q\"' # c\n"), "single $x \"q\"");
        assert_eq!(one("A='it\\'s'"), "it's");
        assert_eq!(one("A='back\\slash'"), "back\\slash");
        assert_eq!(
            one("A=\"dq \\\"x\\\" \\\\ \\n $$ \\$\"\n"),
            "dq \"x\" \\ \n $ $"
        );
        assert_eq!(one("A=\"multi\nline\""), "multi\nline");
        assert_eq!(one("A=\"\\0101\\c\""), "A\\c");
        assert_eq!(one("A="), "");
        assert_eq!(one("A=''"), "");
        assert_eq!(one("\u{feff}A=bom\r\n"), "bom");
        assert_eq!(
            kv("# c\n\nA=1\nB\nA=2\n  # x\nC='x' D=y\n"),
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), None),
                ("A".into(), Some("2".into())),
                ("C".into(), Some("x".into())),
                ("D".into(), Some("y".into())),
            ]
        );
    }

    #[test]
    fn parse_errors_name_the_line_not_the_value() {
        let e = parse("A=1\nB='secret-value\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("secret"), "{e}");
        assert_eq!(parse("A=1\n$B=2").unwrap_err().line, 2);
        assert!(parse("A B=1").is_err());
    }

    /// Every rendering parses back to the value (the real Compose round trip is in the
    /// integration tests and docs/deploy.md).
    #[test]
    fn render_round_trips() {
        let values = [
            "plain",
            "a b",
            "it's",
            "'lead",
            "trail'",
            "\"dq\"",
            "end\"",
            "back\\slash",
            "endback\\",
            "\\",
            "$x",
            "$$",
            "${X}",
            "$(touch /tmp/x)",
            "`id`",
            "a#b",
            "a #b",
            "#lead",
            " lead",
            "trail ",
            "multi\nline",
            "cr\rx",
            "tab\tx",
            "mix'\"$`\\",
            "\\n",
            "\\\"",
            "\\'",
            "ünï",
            "=eq",
            "a\\$b",
            "",
            "\x1b[31m",
            "x\u{85}",
            "\\0101",
        ];
        for v in values {
            let line = format!("K={}\n", render_value(v));
            assert_eq!(one(&line), v, "{line:?}");
        }
        assert_eq!(render_value("abc123"), "abc123");
        assert_eq!(render_value("a b$c"), "'a b$c'");
        assert_eq!(render_value("it's $x"), "\"it's $$x\"");
    }
}
