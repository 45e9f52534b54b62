//! One thing wrong with the configuration: what every check of `validate` and of the
//! sections' own modules reports (all of them at once, each naming its key).

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The key, dotted: `container.vmid`, `env.secrets.API_KEY`.
    pub field: String,
    /// What is wrong, in plain words (never a secret value).
    pub detail: String,
    /// The fix, when there is one worth saying.
    pub hint: Option<String>,
}

impl Problem {
    pub(super) fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            detail: detail.into(),
            hint: None,
        }
    }
    pub(super) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}
