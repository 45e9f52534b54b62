//! One `[env.secrets]` entry: a length (generated once, then preserved) or a source read on
//! every deploy (`{ from_env = "…" }`, `{ from_file = "…" }`, `{ command = "…" }`). Reading
//! the sources is the `secrets` module's (above this one); this is the model and its reader, which, like the other
//! `[env]` readers, never quotes a value.

use std::path::PathBuf;

/// One `[env.secrets]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// Generated once with this many characters, then preserved.
    Generate(usize),
    /// The local environment variable of this name, read on every deploy.
    FromEnv(String),
    /// This local file (relative to the config file's folder), read on every deploy, one
    /// trailing newline dropped.
    FromFile(PathBuf),
    /// This local `sh -c` command's stdout, trimmed, run on every deploy (30 s at most).
    Command(String),
}

impl Secret {
    /// The length to generate, for a generated secret.
    pub fn length(&self) -> Option<usize> {
        match self {
            Secret::Generate(n) => Some(*n),
            _ => None,
        }
    }

    /// Where the value comes from, in words (never the value): `the environment variable
    /// DB_PASSWORD`.
    pub fn describe(&self) -> String {
        match self {
            Secret::Generate(n) => format!("{n} generated characters"),
            Secret::FromEnv(var) => format!("the environment variable {var}"),
            Secret::FromFile(path) => format!("the file {}", path.display()),
            Secret::Command(_) => "its command".to_string(),
        }
    }
}

const SOURCES: &str =
    "give a length (16–4096) or one of { from_env = \"NAME\" }, { from_file = \"path\" }, { command = \"…\" }";

/// A table entry: exactly one of `from_env`, `from_file`, `command`, as non-empty text.
/// The error names the entry's problem, never a value (a mistyped table may hold one).
pub(super) fn from_table(name: &str, table: toml::Table) -> Result<Secret, String> {
    let keys: Vec<&String> = table.keys().collect();
    let [key] = keys.as_slice() else {
        return Err(format!(
            "{name}: a table takes exactly one key ({} given); {SOURCES}",
            keys.len()
        ));
    };
    let key = key.as_str();
    if !["from_env", "from_file", "command"].contains(&key) {
        let shown: String = key.chars().take(40).collect();
        return Err(format!("{name}: unknown key `{shown}`; {SOURCES}"));
    }
    let Some(toml::Value::String(text)) = table.get(key) else {
        return Err(format!("{name}: `{key}` takes text"));
    };
    if text.trim().is_empty() {
        return Err(format!("{name}: `{key}` is empty"));
    }
    // A secret pasted where its variable's name belongs must not come back in the error.
    if key == "from_env" && !is_variable_name(text) {
        return Err(format!(
            "{name}: `from_env` takes the name of an environment variable (letters, digits and _, not starting with a digit); the text given is not one, and is not shown: it may be the secret itself"
        ));
    }
    Ok(match key {
        "from_env" => Secret::FromEnv(text.clone()),
        "from_file" => Secret::FromFile(PathBuf::from(text)),
        _ => Secret::Command(text.clone()),
    })
}

/// A POSIX shell variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_variable_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn each_source_is_read_from_its_key() {
        assert_eq!(
            from_table("A", table("from_env = \"DB_PW\"")),
            Ok(Secret::FromEnv("DB_PW".into()))
        );
        assert_eq!(
            from_table("A", table("from_file = \"secrets/db\"")),
            Ok(Secret::FromFile("secrets/db".into()))
        );
        assert_eq!(
            from_table("A", table("command = \"op read op://v/a/db\"")),
            Ok(Secret::Command("op read op://v/a/db".into()))
        );
    }

    #[test]
    fn wrong_tables_are_refused_without_their_values() {
        for (text, says) in [
            ("", "exactly one key (0 given)"),
            (
                "from_env = \"A\"\ncommand = \"hunter2\"",
                "exactly one key (2 given)",
            ),
            ("value = \"hunter2\"", "unknown key `value`"),
            ("from_env = 42", "`from_env` takes text"),
            ("command = \"  \"", "`command` is empty"),
            (
                "from_env = \"hunter2-not-a-name!\"",
                "`from_env` takes the name of an environment variable",
            ),
            ("from_env = \"9hunter2\"", "is not shown"),
        ] {
            let err = from_table("DB", table(text)).unwrap_err();
            assert!(
                err.starts_with("DB: ") && err.contains(says),
                "{text}: {err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
