//! The arguments of the commands on the container as a whole: `start`, `restart`,
//! `destroy`, `backup` and `restore`.

use clap::Args;

#[derive(Debug, Clone, Args, Default)]
pub struct WaitArgs {
    /// Do not wait for the services to be healthy
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DestroyArgs {
    /// Run a backup first and destroy only if it succeeded
    #[arg(long)]
    pub backup_first: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// List this container's backups and its backup job instead of making one
    #[arg(long)]
    pub list: bool,
    /// Create or update the Proxmox backup job `pxdeploy-<vmid>` instead: at CALENDAR (a
    /// Proxmox calendar event), else at `[backup] schedule`
    #[arg(long, value_name = "CALENDAR", num_args = 0..=1, conflicts_with_all = ["list", "unschedule"])]
    pub schedule: Option<Option<String>>,
    /// Remove the backup job `pxdeploy-<vmid>` instead
    #[arg(long, conflicts_with = "list")]
    pub unschedule: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The archive's volume id (`local:backup/vzdump-lxc-…`, as `backup --list` shows)
    #[arg(value_name = "VOLID", required_unless_present = "latest")]
    pub volid: Option<String>,
    /// Restore the newest backup of the container on `[backup] storage`
    #[arg(long, conflicts_with = "volid")]
    pub latest: bool,
}
