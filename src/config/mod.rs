//! The `pxdeploy.toml` model (unknown keys rejected), discovery, environment overrides and
//! validation. Everything here runs before any connection is opened.
//!
//! Entry points: [`load_plan`] (what the commands call: `-c`/`PXDEPLOY_CONFIG`, else discovery)
//! and [`load_from`] (a known file, with an injectable environment for tests).

mod app;
pub mod catalogue;
mod compose_check;
mod compose_files;
mod container;
mod deploy;
mod env;
mod env_table;
mod firewall;
mod guest;
mod guest_keys;
mod hooks;
mod jump;
mod load;
mod monitor;
mod operations;
mod parse_error;
mod problem;
mod production;
mod proxmox;
mod rules;
mod schema;
mod secret_source;
pub mod ssh;
mod targets;
mod types;
mod validate;
mod vm;
mod vm_rules;
mod vm_specs;
pub use validate::CONNECT_TIMEOUT_MAX;

#[cfg(test)]
mod compose_tests;
#[cfg(test)]
mod hardening_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vm_tests;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::paths::normalize;

pub use app::{App, Env};
pub use compose_files::ComposeFiles;
pub use container::Container;
pub use deploy::{Deploy, OnFailure};
pub use env::{EnvOverride, ENV_VARS};
pub use firewall::{Firewall, Policy, Rule};
pub use guest::{GuestKind, GuestSpec};
pub use hooks::Hooks;
pub use jump::{parse_jump, JumpHost};
pub use load::{discover, load_from, load_plan, load_with, parse_str, FILE_NAME};
pub(crate) use monitor::url_problem;
pub use monitor::{Channel, Monitor, WebhookFormat};
pub use operations::{Backup, BackupMode, Health};
pub use production::ReleaseCommand;
pub use proxmox::{HostKeyCheck, Proxmox};
pub(crate) use rules::compose_services_in;
pub use schema::schema;
pub use secret_source::Secret;
pub use targets::{parse_plan, Plan};
pub use types::{DockerInstall, IpConfig};
pub use vm::{ChecksumAlgorithm, Vm, VmImage};

/// The whole configuration, after discovery, environment overrides and validation.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this was read from, absolute (not a TOML key).
    #[serde(skip)]
    pub path: PathBuf,
    /// The top-level service names of the compose file, in file order (filled by [`load_plan`]).
    #[serde(skip)]
    pub compose_services: Vec<String>,
    /// The local compose file(s) as far as pxdeploy reads them (filled by [`load_plan`]).
    #[serde(skip)]
    pub compose: crate::compose::model::Model,
    /// Which keys the environment overrode (filled by [`load_plan`]), for `check` and `-v`.
    #[serde(skip)]
    pub env_overrides: Vec<EnvOverride>,
    /// Loaded for a command that works from the container alone (`releases`, `rollback`):
    /// a missing `app.source` or compose file is not a problem (not a TOML key).
    #[serde(skip)]
    pub source_optional: bool,
    /// Optional in the file when `PROXMOX_HOST` gives the host.
    #[serde(default)]
    pub proxmox: Proxmox,
    // `[container]` / `[vm]` as parsed, moved into `guest` by `load_plan` (one of the two).
    #[serde(default, rename = "container")]
    #[schemars(description = "An LXC container (a target has [container] or [vm], not both)")]
    container_table: Option<Container>,
    #[serde(default, rename = "vm")]
    #[schemars(
        description = "A QEMU virtual machine from a cloud image (a target has [container] or [vm], not both): docs/vm.md"
    )]
    vm_table: Option<Vm>,
    /// The target's guest: its `[container]` or its `[vm]` (exactly one; not a TOML key).
    /// Read the common settings with the accessors (`vmid()`, `hostname()`, …).
    #[serde(skip)]
    pub guest: GuestSpec,
    pub app: App,
    #[serde(default)]
    pub env: Env,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub backup: Backup,
    #[serde(default)]
    pub deploy: Deploy,
    #[serde(default)]
    pub hooks: Hooks,
    /// Absent: pxdeploy leaves the container's firewall alone.
    pub firewall: Option<Firewall>,
    /// Absent: no watcher in the guest (`deploy` removes one it installed).
    pub monitor: Option<Monitor>,
    /// The `[targets.<name>]` this configuration is for (none: a file without targets).
    #[serde(skip)]
    pub target: Option<String>,
}

impl Config {
    /// The folder holding the config file; relative paths in it start here.
    pub fn config_dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// The local app directory that is pushed: `app.source` from the config file's folder.
    pub fn source_dir(&self) -> PathBuf {
        normalize(&self.config_dir().join(&self.app.source))
    }

    /// The local compose file: `app.compose_file` inside [`Config::source_dir`].
    pub fn compose_path(&self) -> PathBuf {
        normalize(&self.source_dir().join(&*self.app.compose_file))
    }

    /// Every local compose file, in order.
    pub fn compose_paths(&self) -> Vec<PathBuf> {
        let source = self.source_dir();
        self.app
            .compose_file
            .all()
            .iter()
            .map(|f| normalize(&source.join(f)))
            .collect()
    }

    /// The Compose project: `app.name`, run in `remote_dir` from `compose_file`.
    /// Where the guest's commands run: `pct exec` into the container, or `sudo` on the VM's
    /// own session (the one place a configuration becomes a [`crate::guest::Inside`]).
    pub(crate) fn inside(&self) -> crate::guest::Inside {
        match self.kind() {
            GuestKind::Container => crate::guest::Inside::Container(self.vmid()),
            GuestKind::Vm => crate::guest::Inside::Vm(self.vmid()),
        }
    }

    pub fn project(&self) -> crate::compose::Project {
        crate::compose::Project::new(
            self.inside(),
            &self.app.name,
            &self.app.remote_dir,
            &self.app.compose_file,
        )
        .with(
            &self.app.remote_dir,
            self.app.compose_file.rest(),
            &self.app.profiles,
            self.compose.clone(),
        )
    }

    /// The services to wait for: `health.services`, default every service of the compose
    /// file (in file order). An explicit empty list means: wait for none.
    pub fn health_services(&self) -> Vec<String> {
        match &self.health.services {
            Some(list) => list.clone(),
            None => self.compose_services.clone(),
        }
    }

    /// Valid but noteworthy settings, for the commands to print as warnings.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.container().is_some_and(|c| !c.unprivileged) {
            out.push(format!(
                "container.unprivileged = false in {}: the container will be privileged (root inside is root on the host)",
                load::display_path(&self.path)
            ));
        }
        if let Some(name) = self.compose.name.as_deref().filter(|n| *n != self.app.name) {
            out.push(format!(
                "the compose file names its project {name:?}, but pxdeploy runs it as {:?} (app.name, passed with -p): containers made under {name:?} elsewhere would not be this app's; set app.name = {name:?} or remove `name:` from the compose file",
                self.app.name
            ));
        }
        out
    }
}

/// The storage named `local` (templates, backups).
fn default_local() -> String {
    "local".into()
}
