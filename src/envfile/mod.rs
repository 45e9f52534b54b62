//! The `.env` beside the compose file inside the container: merge the configuration into
//! the existing one (keep every existing key and value, set every `[env.values]` key,
//! generate every missing `[env.secrets]` key with the operating system's CSPRNG), and the
//! remote command that replaces it atomically (temporary file, then rename, 0600). A deploy
//! reads it with the rest of the container's state (`release/inspect.rs`).
//! Compose's `.env` syntax (parse the existing file with Compose's own rules, render values
//! so that Compose reads them back verbatim) is in `syntax.rs`, re-exported here.
//!
//! Secret values live in [`Redacted`], which never prints its content: reports carry names only.

mod restore;
mod syntax;

#[cfg(test)]
mod proptests;

pub use self::restore::{restore_values, Restored};
pub use self::syntax::{parse, render_value, unrepresentable, valid_key, ParseError, Statement};

use std::collections::BTreeMap;
use std::fmt;

use rand::distr::{Alphanumeric, Distribution};
use rand::TryRngCore;

use crate::error::{Error, Result};

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

/// The script that replaces `.env` from stdin: a temporary file in the same folder
/// (created 0600 under `umask 077`), its size checked against what was sent (a dropped
/// connection ends stdin early), flushed to disk (`sync FILE`: fsync), renamed over `.env`,
/// then the folder flushed (`sync .`), so that a power cut leaves the old `.env` or the new
/// one, never an empty one. `sync FILE` is in coreutils (8.24+) and BusyBox alike.
/// `$1` = folder, `$2` = size. A symbolic link at `.env` or on its way is refused (exit 65,
/// naming it): a service that can write into the app folder could point it anywhere.
pub const WRITE_SCRIPT: &str = crate::scripts::script!("env-write.sh");

/// `sh -c '<WRITE_SCRIPT>' sh <dir> <size>`, to run in the container (`pct exec`): the
/// content goes over stdin, never on a command line.
pub fn write_argv(dir: &str, size: usize) -> Vec<String> {
    ["sh", "-c", WRITE_SCRIPT, "sh", dir, &size.to_string()]
        .map(String::from)
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
        let w = write_argv("/opt/my app", 123);
        assert_eq!(w, ["sh", "-c", WRITE_SCRIPT, "sh", "/opt/my app", "123"]);
        assert!(WRITE_SCRIPT.starts_with("umask 077; "), "{WRITE_SCRIPT}");
    }

    fn run_write(target: &Path, path: &str, content: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .args(["-c", WRITE_SCRIPT, "sh"])
            .arg(target)
            .arg(content.len().to_string())
            .env("PATH", path)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A script that refuses to start reads nothing: a broken pipe is its answer.
        let _ = child.stdin.take().unwrap().write_all(content);
        child.wait_with_output().unwrap()
    }

    /// Issue 22: `.env`, or its folder, linked out of the app folder is refused; nothing is
    /// written where the link points.
    #[test]
    fn write_script_never_writes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let path = std::env::var("PATH").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(".env")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("app")).unwrap();
        for target in [dir.path().to_path_buf(), dir.path().join("app")] {
            let out = run_write(&target, &path, b"A=1");
            assert_eq!(out.status.code(), Some(65), "{out:?}");
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(said.contains("is a symbolic link"), "{said}");
            assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        }
    }

    /// The new `.env` reaches the disk before it replaces the old one, and the rename
    /// after it (a power cut must not leave an empty `.env` and lose the secrets).
    #[test]
    fn write_script_flushes_the_file_before_the_rename_and_the_folder_after() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "A=old").unwrap();
        let shim = crate::test_support::sync_shim(Path::new(".env"));
        let out = run_write(dir.path(), &shim.path, b"A=new");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = shim.log();
        let calls: Vec<&str> = log.lines().collect();
        assert_eq!(calls.len(), 2, "{log}");
        assert!(
            calls[0].starts_with("-- .env.tmp.") && calls[0].ends_with("| A=old"),
            "{log}"
        );
        assert_eq!(calls[1], "-- . | A=new", "{log}");
    }

    /// The same script with BusyBox's `sync` (a minimal container) works.
    #[test]
    fn write_script_works_with_busybox_sync() {
        let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            panic!("busybox is needed for this test (apt-get install busybox-static)");
        };
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(busybox, bin.path().join("sync")).unwrap();
        let path = crate::test_support::path_with(bin.path());
        let dir = tempfile::tempdir().unwrap();
        let out = run_write(dir.path(), &path, b"A=1\n");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".env")).unwrap(),
            "A=1\n"
        );
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
