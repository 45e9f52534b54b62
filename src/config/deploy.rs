//! `[deploy]`: the settings of the deploy itself: releases kept and what a failed deploy
//! does (`keep_releases`, `on_failure`), snapshots (`snapshot`, `keep_snapshots`).

use serde::Deserialize;

use super::problem::Problem;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// Releases kept in `<remote_dir>/.pxdeploy` (the newest; at least 1).
    #[serde(default = "default_keep_releases")]
    pub keep_releases: u32,
    /// What a deploy whose health wait failed does.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// `pct snapshot <vmid> pxdeploy_<UTC stamp>` at the start of every deploy.
    #[serde(default)]
    pub snapshot: bool,
    /// How many `pxdeploy_*` snapshots are kept (the newest); others are never touched.
    #[serde(default = "default_keep_snapshots")]
    pub keep_snapshots: u32,
}

impl Default for Deploy {
    fn default() -> Self {
        Deploy {
            keep_releases: default_keep_releases(),
            on_failure: OnFailure::default(),
            snapshot: false,
            keep_snapshots: default_keep_snapshots(),
        }
    }
}

fn default_keep_snapshots() -> u32 {
    3
}

fn default_keep_releases() -> u32 {
    5
}

/// `[deploy] on_failure`: go back to the previous healthy release, or leave the failed one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    Rollback,
    Keep,
}

/// `keep_releases` and `keep_snapshots` are at least 1: 0 would delete the current release or
/// the snapshot just taken.
pub(super) fn validate(d: &Deploy, problems: &mut Vec<Problem>) {
    if d.keep_releases == 0 {
        problems.push(Problem::new(
            "deploy.keep_releases",
            "must be at least 1: the current release is always kept",
        ));
    }
    if d.keep_snapshots == 0 {
        problems.push(Problem::new(
            "deploy.keep_snapshots",
            "must be at least 1: 0 would delete the snapshot the deploy just took",
        ));
    }
}

#[cfg(test)]
mod tests {
    const BASE: &str = "[proxmox]\nhost = \"pve\"\n[container]\nvmid = 210\nhostname = \"web\"\n[app]\nname = \"web\"\n";

    #[test]
    fn defaults_off_and_three() {
        let cfg: crate::config::Config = toml::from_str(BASE).unwrap();
        assert!(!cfg.deploy.snapshot);
        assert_eq!(cfg.deploy.keep_snapshots, 3);
        let cfg: crate::config::Config = toml::from_str(&format!(
            "{BASE}[deploy]\nsnapshot = true\nkeep_snapshots = 5\n"
        ))
        .unwrap();
        assert!(cfg.deploy.snapshot);
        assert_eq!(cfg.deploy.keep_snapshots, 5);
    }
}
