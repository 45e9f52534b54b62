//! Error kinds, their exit codes, and the one renderer for `error:` / `Caused by:` / `hint:`.

use std::fmt;

/// What went wrong, as the user sees it: each kind has one exit code (`docs/exit-codes.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 1: a bug or an unforeseen condition.
    Unexpected,
    /// 2: the command line was wrong.
    Usage,
    /// 3: the configuration is invalid.
    Config,
    /// 4: SSH: unreachable, authentication, host key.
    Ssh,
    /// 5: a remote step (pct, pveam, vzdump, docker) failed.
    Remote,
    /// 6: services not healthy before the timeout, or a service exited.
    Unhealthy,
    /// 7: another deploy holds the lock.
    Locked,
    /// 8: refused: no confirmation, or protection is on.
    Refused,
    /// 130: interrupted by Ctrl-C.
    Interrupted,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Unexpected => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Config => 3,
            ErrorKind::Ssh => 4,
            ErrorKind::Remote => 5,
            ErrorKind::Unhealthy => 6,
            ErrorKind::Locked => 7,
            ErrorKind::Refused => 8,
            ErrorKind::Interrupted => 130,
        }
    }
}

/// A user-facing error: one message, the chain of causes, and at most one hint.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    /// Facts for the JSON document of a failed command (services and their state, …).
    pub facts: Option<serde_json::Value>,
    /// Already shown to the user (several targets: each failure, the summary, the JSON
    /// document); only its exit code is left to give.
    pub reported: bool,
    /// The exit code to give instead of the kind's: a remote command's own, passed
    /// through (`exec`, `shell`).
    pub code: Option<i32>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            facts: None,
            reported: false,
            code: None,
        }
    }
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unexpected, message)
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    pub fn ssh(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Ssh, message)
    }
    pub fn remote(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Remote, message)
    }
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unhealthy, message)
    }
    pub fn locked(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Locked, message)
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    pub fn interrupted() -> Self {
        Self::new(ErrorKind::Interrupted, "interrupted")
    }
    /// A remote command of the user's that exited `code`: nothing more to say (its own
    /// output said it), pxdeploy exits with the same code.
    pub fn exited(code: i32) -> Self {
        let mut e = Self::new(ErrorKind::Remote, format!("the command exited {code}"));
        e.reported = true;
        e.code = Some(code);
        e
    }

    /// Adds one `Caused by:` line.
    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    /// Sets the `hint:` line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attaches facts for the JSON failure document.
    pub fn facts(mut self, facts: serde_json::Value) -> Self {
        self.facts = Some(facts);
        self
    }

    pub fn exit_code(&self) -> i32 {
        self.code.unwrap_or_else(|| self.kind.exit_code())
    }

    /// The human rendering: `error:` line, `Caused by:` lines, blank line, `hint:`.
    pub fn render(&self) -> String {
        let mut out = format!("error: {}\n", self.message);
        for cause in &self.causes {
            for (i, line) in cause.lines().enumerate() {
                if i == 0 {
                    out.push_str(&format!("  Caused by: {line}\n"));
                } else {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\nhint: {hint}\n"));
        }
        out
    }

    /// The JSON rendering used inside `{"ok": false, "error": …}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut message = self.message.clone();
        for cause in &self.causes {
            message.push_str(": ");
            message.push_str(cause);
        }
        serde_json::json!({
            "kind": self.kind,
            "message": message,
            "hint": self.hint,
            "exit_code": self.exit_code(),
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for cause in &self.causes {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::unexpected(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_spec() {
        let table = [
            (ErrorKind::Unexpected, 1),
            (ErrorKind::Usage, 2),
            (ErrorKind::Config, 3),
            (ErrorKind::Ssh, 4),
            (ErrorKind::Remote, 5),
            (ErrorKind::Unhealthy, 6),
            (ErrorKind::Locked, 7),
            (ErrorKind::Refused, 8),
            (ErrorKind::Interrupted, 130),
        ];
        for (kind, code) in table {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
        }
    }

    #[test]
    fn renders_error_cause_hint() {
        let e = Error::remote("container 210 does not exist on pve.lan")
            .cause("`pct status 210` exited 2: Configuration file 'nodes/pve/lxc/210.conf' does not exist")
            .hint("run `pxdeploy create` first");
        assert_eq!(
            e.render(),
            "error: container 210 does not exist on pve.lan\n  Caused by: `pct status 210` exited 2: Configuration file 'nodes/pve/lxc/210.conf' does not exist\n\nhint: run `pxdeploy create` first\n"
        );
    }
}
