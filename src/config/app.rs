//! `[app]` and `[env]`: the Compose app that is pushed, and its `.env`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

#[cfg(doc)]
use super::load;

use super::{env_table, schema, ComposeFiles, ReleaseCommand, Secret};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Compose project name.
    pub name: String,
    #[serde(default = "default_source")]
    pub source: PathBuf,
    /// One file or a list (each one `-f`, in order).
    #[serde(default = "default_compose_file")]
    pub compose_file: ComposeFiles,
    /// Compose profiles to activate (`--profile` on every Compose command).
    #[serde(default)]
    pub profiles: Vec<String>,
    /// The raw `remote_dir` key; read [`App::remote_dir`].
    #[serde(rename = "remote_dir")]
    pub(super) remote_dir_key: Option<String>,
    /// The directory inside the container, normalised, without a trailing `/`: `remote_dir`,
    /// default `/opt/<name>` (filled by [`load_plan`]; not a TOML key).
    #[serde(skip)]
    pub remote_dir: String,
    /// Run with `docker compose run --rm` after the build, before `up`.
    pub release_command: Option<ReleaseCommand>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Env {
    /// name = length (generated once, then preserved forever), or a source read on every
    /// deploy (`from_env`, `from_file`, `command`).
    #[serde(default, deserialize_with = "env_table::secret_lengths")]
    #[schemars(schema_with = "schema::secret_lengths")]
    pub secrets: BTreeMap<String, Secret>,
    /// Plain settings, written on every deploy (whole numbers and booleans as their text).
    #[serde(default, deserialize_with = "env_table::value_texts")]
    #[schemars(schema_with = "schema::value_texts")]
    pub values: BTreeMap<String, String>,
    /// The sourced `[env.secrets]` entries' values, read before a deploy connects
    /// (by `secrets::read`; not a TOML key).
    #[serde(skip)]
    pub sourced: BTreeMap<String, crate::envfile::Redacted<String>>,
}

fn default_source() -> PathBuf {
    PathBuf::from(".")
}

fn default_compose_file() -> ComposeFiles {
    ComposeFiles::one("docker-compose.yml")
}
