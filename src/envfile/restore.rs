//! The `.env` of a rollback: today's file, with the release's **non-secret** values put
//! back. A secret rotated since the release (a sourced one, a generated one, a key added by
//! hand) keeps today's value; only the keys named as values come back, each as the
//! release's own statement, byte for byte (quoting, `${OTHER}` references and all).

use std::collections::{BTreeMap, BTreeSet};

use super::{parse, Redacted, Statement};
use crate::error::{Error, Result};

/// What [`restore_values`] made.
#[derive(Debug, Clone)]
pub struct Restored {
    pub content: Redacted<String>,
    /// Keys whose value came back from the release (it differed from today's).
    pub restored: Vec<String>,
    /// Keys of today's file that keep today's value (secrets, keys added by hand, values
    /// the release did not change or did not have).
    pub kept: Vec<String>,
}

/// Today's `.env` with each key of `values` that the release's `.env` assigns set back to
/// the release's statement: rewritten in place (the last assignment, the one Compose
/// reads), or appended when today's file lacks it. Every other line stays as it is.
pub fn restore_values(
    today: &Redacted<String>,
    release: &Redacted<String>,
    values: &BTreeSet<String>,
) -> Result<Restored> {
    let unreadable = |which: &str, e: super::ParseError| {
        Error::remote(format!("{which} cannot be read: {e}")).hint(
            "fix that line of the .env in the guest's app folder, or bring the release's .env back as it was: `pxdeploy rollback --with-env`",
        )
    };
    let text = today.expose();
    let now = parse(text).map_err(|e| unreadable("today's .env", e))?;
    let old_text = release.expose();
    let old = parse(old_text).map_err(|e| unreadable("the release's stored .env", e))?;
    let last = |statements: &[Statement]| -> BTreeMap<String, std::ops::Range<usize>> {
        statements
            .iter()
            .map(|s| (s.key.clone(), s.span.clone()))
            .collect()
    };
    let (now_at, old_at) = (last(&now), last(&old));

    let mut replace = Vec::new();
    let mut append = Vec::new();
    let mut restored = Vec::new();
    for key in values {
        let Some(span) = old_at.get(key) else {
            continue;
        };
        let statement = &old_text[span.clone()];
        match now_at.get(key) {
            Some(at) if &text[at.clone()] == statement => {}
            Some(at) => {
                replace.push((at.clone(), statement));
                restored.push(key.clone());
            }
            None => {
                append.push(statement);
                restored.push(key.clone());
            }
        }
    }
    let mut out = text.clone();
    replace.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    for (span, statement) in replace {
        out.replace_range(span, statement);
    }
    if !append.is_empty() && !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for statement in append {
        out.push_str(statement);
        out.push('\n');
    }
    let kept = now_at
        .keys()
        .filter(|k| !restored.contains(k))
        .cloned()
        .collect();
    Ok(Restored {
        content: Redacted::new(out),
        restored,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(today: &str, old: &str, values: &[&str]) -> Restored {
        let values = values.iter().map(|v| v.to_string()).collect();
        restore_values(
            &Redacted::new(today.into()),
            &Redacted::new(old.into()),
            &values,
        )
        .unwrap()
    }

    #[test]
    fn values_come_back_and_secrets_stay_todays() {
        let old =
            "# old\nDB_PASSWORD=old-secret\nDOMAIN=old.lan\nGREETING=\"hi ${NAME}\"\nFLAG=1\n";
        let today =
            "# today\nDB_PASSWORD=new-secret\nHAND=mine\nDOMAIN='new lan' # note\nTOKEN=t2\n";
        let r = run(today, old, &["DOMAIN", "GREETING", "MISSING_IN_OLD"]);
        assert_eq!(
            r.content.expose(),
            "# today\nDB_PASSWORD=new-secret\nHAND=mine\nDOMAIN=old.lan # note\nTOKEN=t2\nGREETING=\"hi ${NAME}\"\n"
        );
        assert_eq!(r.restored, ["DOMAIN", "GREETING"]);
        assert_eq!(r.kept, ["DB_PASSWORD", "HAND", "TOKEN"]);
        // A key not named as a value never comes back, even when the release has it (FLAG).
        assert!(!r.content.expose().contains("FLAG"));
    }

    #[test]
    fn the_last_assignment_is_the_one_rewritten_and_nothing_else_moves() {
        let today = "A=1\nA=2\nexport B=\"x\ny\"\n";
        let old = "B=b\nA=3\nA=9\n";
        let r = run(today, old, &["A", "B"]);
        assert_eq!(r.content.expose(), "A=1\nA=9\nB=b\n");
        assert_eq!(r.restored, ["A", "B"]);
        // Same statements today: nothing to write.
        let same = run("A=9\n", old, &["A"]);
        assert_eq!(same.content.expose(), "A=9\n");
        assert!(same.restored.is_empty());
        // No newline at the end today: the appended line starts on its own.
        assert_eq!(run("S=1", "V=2\n", &["V"]).content.expose(), "S=1\nV=2\n");
    }

    #[test]
    fn an_unreadable_file_names_the_line_never_the_text() {
        let e = restore_values(
            &Redacted::new("OK=1\nBAD KEY=hunter2\n".into()),
            &Redacted::new(String::new()),
            &BTreeSet::new(),
        )
        .unwrap_err();
        let all = format!("{} {:?} {:?}", e.message, e.causes, e.hint);
        assert!(all.contains("line 2"), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
    }
}
