//! `[deploy]`: the settings of the deploy itself. This file holds the snapshot keys
//! (`snapshot`, `keep_snapshots`).

use serde::Deserialize;

use super::validate::Problem;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
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
            snapshot: false,
            keep_snapshots: default_keep_snapshots(),
        }
    }
}

fn default_keep_snapshots() -> u32 {
    3
}

/// `keep_snapshots` is at least 1: 0 would delete the snapshot just taken.
pub(super) fn validate(d: &Deploy, problems: &mut Vec<Problem>) {
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
