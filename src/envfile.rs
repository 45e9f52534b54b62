//! The `.env` beside the compose file inside the container: parse the existing one with
//! Compose's own rules, merge the configuration in (keep every existing key and value, set
//! every `[env.values]` key, generate every missing `[env.secrets]` key with the operating
//! system's CSPRNG), render it so that Compose reads every value back verbatim, and the
//! remote commands that read it and replace it atomically (temporary file, then rename, 0600).
//!
//! Secret values live in [`Redacted`], which never prints its content: reports carry names only.

use std::collections::BTreeMap;
use std::fmt;

use rand::distr::{Alphanumeric, Distribution};
use rand::TryRngCore;

use crate::error::{Error, Result};
use crate::proxmox::pct::exec as pct_exec;

/// A value that must not be printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Self {
        Redacted(value)
    }
    /// The value itself, for the one place that sends it (the upload's stdin).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

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

/// What a deploy does to each key of `.env`. Names only.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// `[env.secrets]` keys that were missing: generated now.
    pub generated: Vec<String>,
    /// Keys already in the file that keep their value (secrets, unchanged values, keys added by hand).
    pub kept: Vec<String>,
    /// `[env.values]` keys whose value changed.
    pub updated: Vec<String>,
    /// `[env.values]` keys that were not in the file.
    pub added: Vec<String>,
}

impl Report {
    /// Something to write: a key generated, updated or added.
    pub fn changes(&self) -> bool {
        !(self.generated.is_empty() && self.updated.is_empty() && self.added.is_empty())
    }

    /// One line for people: `generated A; updated B; kept C, D`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (what, names) in [
            ("generated", &self.generated),
            ("added", &self.added),
            ("updated", &self.updated),
            ("kept", &self.kept),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        }
        if parts.is_empty() {
            "no keys".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// The new `.env`: its full text (redacted) and what happened to each key.
#[derive(Debug, Clone)]
pub struct Merged {
    pub content: Redacted<String>,
    pub report: Report,
}

const HEADER: &str = "# Written by pxdeploy. Keys from [env.values] are set on every deploy;\n\
# every other key (generated secrets, keys added by hand) keeps its value.\n";

/// Merges the configuration into the existing `.env` text (empty when there is none).
/// Existing statements are kept byte for byte (comments and formatting too); a changed
/// `[env.values]` key is rewritten in place; new keys are appended.
pub fn merge(
    existing: &Redacted<String>,
    secrets: &BTreeMap<String, usize>,
    values: &BTreeMap<String, String>,
    generate: &mut dyn FnMut(usize) -> Result<String>,
) -> Result<Merged> {
    for (key, value) in values {
        check_key(key, "env.values")?;
        if secrets.contains_key(key) {
            return Err(Error::config(format!(
                "`{key}` is in both [env.secrets] and [env.values]"
            ))
            .hint("keep it in one of the two tables"));
        }
        if let Some(why) = unrepresentable(value) {
            return Err(Error::config(format!(
                "[env.values] {key} cannot be written to .env: {why}"
            )));
        }
    }
    for (key, len) in secrets {
        check_key(key, "env.secrets")?;
        if *len == 0 {
            return Err(Error::config(format!("[env.secrets] {key} has length 0"))
                .hint("give the number of characters to generate, e.g. 32"));
        }
    }

    let text = existing.expose();
    let statements = parse(text).map_err(|e| {
        Error::remote(format!("the existing .env cannot be read: {e}"))
            .hint("fix that line of .env inside the container (Compose cannot read it either), then deploy again")
    })?;
    // Compose keeps the last assignment of a key.
    let mut last: BTreeMap<&str, &Statement> = BTreeMap::new();
    for s in statements.iter().filter(|s| s.value.is_some()) {
        last.insert(&s.key, s);
    }

    let mut report = Report::default();
    let mut replace: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut append: Vec<String> = Vec::new();

    for (key, value) in values {
        let line = format!("{key}={}", render_value(value));
        match last.get(key.as_str()) {
            Some(s) if s.value.as_ref().map(|v| v.expose()) == Some(value) => {
                report.kept.push(key.clone())
            }
            Some(s) => {
                replace.push((s.span.clone(), line));
                report.updated.push(key.clone());
            }
            None => {
                append.push(line);
                report.added.push(key.clone());
            }
        }
    }
    for (key, len) in secrets {
        if last.contains_key(key.as_str()) {
            report.kept.push(key.clone());
        } else {
            let secret = generate(*len)?;
            append.push(format!("{key}={}", render_value(&secret)));
            report.generated.push(key.clone());
        }
    }
    for s in &statements {
        let configured = values.contains_key(&s.key) || secrets.contains_key(&s.key);
        if s.value.is_some() && !configured && !report.kept.contains(&s.key) {
            report.kept.push(s.key.clone());
        }
    }

    let mut out = text.strip_prefix('\u{feff}').unwrap_or(text).to_string();
    let shift = text.len() - out.len();
    replace.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    for (span, line) in replace {
        out.replace_range(span.start - shift..span.end - shift, &line);
    }
    if out.trim().is_empty() {
        out = HEADER.to_string();
    }
    if !append.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for line in append {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(Merged {
        content: Redacted(out),
        report,
    })
}

fn check_key(key: &str, table: &str) -> Result<()> {
    if valid_key(key) {
        Ok(())
    } else {
        Err(Error::config(format!(
            "[{table}] `{key}` is not a variable name Compose can use"
        ))
        .hint("use letters, digits and `_`, not starting with a digit"))
    }
}

/// A secret of `len` letters and digits from the operating system's CSPRNG (`getrandom`).
pub fn generate_secret(len: usize) -> Result<String> {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    Ok(Alphanumeric
        .sample_iter(&mut rng)
        .take(len)
        .map(char::from)
        .collect())
}

/// `pct exec <vmid> -- sh -c '…' sh <dir>/.env`: prints the file, or nothing when there is none.
pub fn read_command(vmid: u32, dir: &str) -> String {
    pct_exec(
        vmid,
        &[
            "sh",
            "-c",
            "if [ -e \"$1\" ]; then cat -- \"$1\"; fi",
            "sh",
            &crate::compose::remote_path(dir, ".env"),
        ],
    )
}

/// The script that replaces `.env` from stdin: a temporary file in the same folder
/// (created 0600 under `umask 077`), its size checked against what was sent (a dropped
/// connection ends stdin early), then renamed over `.env`. `$1` = folder, `$2` = size.
pub const WRITE_SCRIPT: &str = "umask 077; mkdir -p -- \"$1\" && cd -- \"$1\" || exit 1; \
rm -f -- .env.tmp.??????; \
t=$(mktemp .env.tmp.XXXXXX) || exit 1; trap 'rm -f -- \"$t\"' EXIT; \
cat > \"$t\" || exit 1; n=$(wc -c < \"$t\"); \
[ \"$n\" -eq \"$2\" ] || { echo \"pxdeploy: received $n of $2 bytes of .env, kept the old one\" >&2; exit 1; }; \
chmod 600 \"$t\" && mv -f -- \"$t\" .env";

/// `pct exec <vmid> -- sh -c '<WRITE_SCRIPT>' sh <dir> <size>`: the content goes over stdin,
/// never on a command line.
pub fn write_command(vmid: u32, dir: &str, size: usize) -> String {
    pct_exec(
        vmid,
        &["sh", "-c", WRITE_SCRIPT, "sh", dir, &size.to_string()],
    )
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

    #[test]
    fn redacted_never_prints() {
        let r = Redacted::new("hunter2".to_string());
        assert_eq!(format!("{r} {r:?}"), "<redacted> <redacted>");
        let m = Merged {
            content: r,
            report: Report::default(),
        };
        assert!(!format!("{m:?}").contains("hunter2"));
    }

    fn gen(seq: &mut u32) -> impl FnMut(usize) -> Result<String> + '_ {
        move |len| {
            *seq += 1;
            Ok(format!("{}", seq).repeat(len))
        }
    }

    fn map<V: Clone>(items: &[(&str, V)]) -> BTreeMap<String, V> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn first_deploy_writes_everything() {
        let mut n = 0;
        let m = merge(
            &Redacted::new(String::new()),
            &map(&[("DB_PASSWORD", 4), ("SECRET_KEY", 2)]),
            &map(&[("DOMAIN", "app.lan".to_string())]),
            &mut gen(&mut n),
        )
        .unwrap();
        assert_eq!(m.report.generated, ["DB_PASSWORD", "SECRET_KEY"]);
        assert_eq!(m.report.added, ["DOMAIN"]);
        assert!(m.report.kept.is_empty() && m.report.updated.is_empty());
        let text = m.content.expose();
        assert!(text.starts_with("# Written by pxdeploy"));
        assert!(
            text.ends_with("DOMAIN=app.lan\nDB_PASSWORD=1111\nSECRET_KEY=22\n"),
            "{text}"
        );
    }

    #[test]
    fn redeploy_keeps_secrets_and_hand_added_keys() {
        let existing =
            "# mine\nDB_PASSWORD='old $ecret'\nexport HAND=made # note\nDOMAIN=old.lan\n";
        let mut n = 0;
        let m = merge(
            &Redacted::new(existing.to_string()),
            &map(&[("DB_PASSWORD", 4), ("NEW_SECRET", 3)]),
            &map(&[("DOMAIN", "new lan".to_string())]),
            &mut gen(&mut n),
        )
        .unwrap();
        assert_eq!(m.report.generated, ["NEW_SECRET"]);
        assert_eq!(m.report.updated, ["DOMAIN"]);
        assert_eq!(m.report.kept, ["DB_PASSWORD", "HAND"]);
        assert_eq!(
            m.content.expose(),
            "# mine\nDB_PASSWORD='old $ecret'\nexport HAND=made # note\nDOMAIN='new lan'\nNEW_SECRET=111\n"
        );
        // and again: nothing changes
        let again = merge(
            &m.content,
            &map(&[("DB_PASSWORD", 4), ("NEW_SECRET", 3)]),
            &map(&[("DOMAIN", "new lan".to_string())]),
            &mut gen(&mut n),
        )
        .unwrap();
        assert_eq!(again.content, m.content);
        assert!(!again.report.changes());
        assert_eq!(
            again.report.kept,
            ["DOMAIN", "DB_PASSWORD", "NEW_SECRET", "HAND"]
        );
    }

    #[test]
    fn last_assignment_wins_and_no_trailing_newline() {
        let mut n = 0;
        let m = merge(
            &Redacted::new("A=1\nA=2".to_string()),
            &BTreeMap::new(),
            &map(&[("A", "3".to_string()), ("B", "x".to_string())]),
            &mut gen(&mut n),
        )
        .unwrap();
        assert_eq!(m.content.expose(), "A=1\nA=3\nB=x\n");
    }

    #[test]
    fn config_problems_are_config_errors() {
        let mut n = 0;
        let empty = Redacted::new(String::new());
        let e = merge(
            &empty,
            &map(&[("A", 3)]),
            &map(&[("A", "x".to_string())]),
            &mut gen(&mut n),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 3);
        let e = merge(
            &empty,
            &BTreeMap::new(),
            &map(&[("A", "x\0y".to_string())]),
            &mut gen(&mut n),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(!e.to_string().contains('y'), "{e}");
        let e = merge(
            &empty,
            &map(&[("1A", 3)]),
            &BTreeMap::new(),
            &mut gen(&mut n),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 3);
        let e = merge(
            &empty,
            &map(&[("A", 0)]),
            &BTreeMap::new(),
            &mut gen(&mut n),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn unreadable_existing_file_is_refused_without_its_content() {
        let mut n = 0;
        let e = merge(
            &Redacted::new("OK=1\nBAD='hunter2\n".to_string()),
            &BTreeMap::new(),
            &BTreeMap::new(),
            &mut gen(&mut n),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 5);
        assert!(e.to_string().contains("line 2"));
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn secrets_come_from_the_os_and_are_alphanumeric() {
        let a = generate_secret(64).unwrap();
        let b = generate_secret(64).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn remote_commands() {
        assert_eq!(
            read_command(210, "/opt/app"),
            "pct exec 210 -- sh -c 'if [ -e \"$1\" ]; then cat -- \"$1\"; fi' sh /opt/app/.env"
        );
        let w = write_command(210, "/opt/my app", 123);
        assert!(w.starts_with("pct exec 210 -- sh -c 'umask 077; "), "{w}");
        assert!(w.ends_with(" sh '/opt/my app' 123"), "{w}");
    }

    /// The write script, run by a real shell: the new file replaces the old one with mode
    /// 0600; a short upload (a dropped connection) leaves the old one.
    #[test]
    fn write_script_is_atomic_and_private() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub dir");
        let run = |content: &[u8], size: usize| {
            let mut child = std::process::Command::new("sh")
                .args(["-c", WRITE_SCRIPT, "sh"])
                .arg(&target)
                .arg(size.to_string())
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(content).unwrap();
            child.wait_with_output().unwrap()
        };
        let out = run(b"A=1\n", 4);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = target.join(".env");
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "A=1\n");
        assert_eq!(
            std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let out = run(b"A=2\nB=", 10);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("received 6 of 10 bytes"));
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "A=1\n");
        let leftovers: Vec<_> = std::fs::read_dir(&target).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }
}
