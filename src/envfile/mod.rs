//! The `.env` beside the compose file inside the container: merge the configuration into
//! the existing one (keep every existing key and value, set every `[env.values]` key,
//! generate every missing `[env.secrets]` key with the operating system's CSPRNG), and the
//! remote command that replaces it atomically (temporary file, then rename, 0600). A deploy
//! reads it with the rest of the container's state (`release/inspect.rs`).
//! Compose's `.env` syntax (parse the existing file with Compose's own rules, render values
//! so that Compose reads them back verbatim) is in `syntax.rs`, re-exported here.
//!
//! Secret values live in [`Redacted`], which never prints its content: reports carry names only.

mod merge;
mod restore;
mod syntax;
mod write;

#[cfg(test)]
mod proptests;

pub use self::merge::{merge, Merged, Report};
pub use self::restore::{restore_values, Restored};
pub use self::syntax::{parse, render_value, unrepresentable, valid_key, ParseError, Statement};
pub use self::write::{write_argv, WRITE_SCRIPT};

use std::fmt;

use rand::distr::{Alphanumeric, Distribution};
use rand::TryRngCore;

use crate::error::Result;

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

/// A secret of `len` letters and digits from the operating system's CSPRNG (`getrandom`).
pub fn generate_secret(len: usize) -> Result<String> {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    Ok(Alphanumeric
        .sample_iter(&mut rng)
        .take(len)
        .map(char::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn secrets_come_from_the_os_and_are_alphanumeric() {
        let a = generate_secret(64).unwrap();
        let b = generate_secret(64).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
