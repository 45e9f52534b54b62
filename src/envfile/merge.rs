//! Merging the configuration into the container's `.env`: every existing statement kept byte
//! for byte, `[env.values]` set, missing `[env.secrets]` generated; a [`Report`] of names.

use std::collections::BTreeMap;

use super::{parse, render_value, unrepresentable, valid_key, Redacted, Statement};
use crate::error::{Error, Result};

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
            .hint("fix that line of the .env in the guest's app folder (Compose cannot read it either), then deploy again")
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
        content: Redacted::new(out),
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let cases = [
            (map(&[("A", 3)]), map(&[("A", "x".to_string())])),
            (BTreeMap::new(), map(&[("A", "x\0y".to_string())])),
            (map(&[("1A", 3)]), BTreeMap::new()),
            (map(&[("A", 0)]), BTreeMap::new()),
        ];
        for (secrets, values) in cases {
            let e = merge(&empty, &secrets, &values, &mut gen(&mut n)).unwrap_err();
            assert_eq!(e.exit_code(), 3, "{secrets:?} {values:?}");
            if values.values().any(|v| v.contains('\0')) {
                assert!(!e.to_string().contains('y'), "the value is shown: {e}");
            }
        }
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
}
