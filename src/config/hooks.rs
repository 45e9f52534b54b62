//! `[hooks]`: local commands run around a deploy and a rollback (run by the `hooks` module, above this one).

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Before a deploy changes anything; failing stops the deploy (exit 5).
    pub pre_deploy: Option<String>,
    /// After a successful deploy; failing makes the exit code 5.
    pub post_deploy: Option<String>,
    /// After a successful rollback; failing makes the exit code 5.
    pub post_rollback: Option<String>,
}

impl Hooks {
    /// `(key, command)` of every hook that is set but empty, for validation.
    pub(super) fn empty(&self) -> Vec<&'static str> {
        [
            ("hooks.pre_deploy", &self.pre_deploy),
            ("hooks.post_deploy", &self.post_deploy),
            ("hooks.post_rollback", &self.post_rollback),
        ]
        .into_iter()
        .filter(|(_, c)| c.as_deref().is_some_and(|c| c.trim().is_empty()))
        .map(|(k, _)| k)
        .collect()
    }
}
