//! The arguments of the commands that change the app's release: `deploy` and `rollback`.

use clap::Args;

#[derive(Debug, Clone, Args, Default)]
pub struct DeployArgs {
    /// Run `docker compose up` even when nothing changed since the last deploy
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args, Default)]
pub struct RollbackArgs {
    /// The release to go back to (`pxdeploy releases` lists them)
    pub id: Option<String>,
    /// Roll back to a Proxmox snapshot instead: NAME, or the newest `pxdeploy_*` one
    #[arg(long, value_name = "NAME", num_args = 0..=1, conflicts_with = "id")]
    pub snapshot: Option<Option<String>>,
    /// Put the release's .env back as it was, old secrets included [default: keep today's
    /// secrets, put back only the [env.values] keys]
    #[arg(long, conflicts_with = "snapshot")]
    pub with_env: bool,
}
