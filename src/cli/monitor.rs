//! The arguments of `pxdeploy monitor` and `pxdeploy monitor test`.

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    #[command(subcommand)]
    pub action: Option<MonitorAction>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MonitorAction {
    /// Send a test notification from inside the guest through every channel and report each result
    #[command(after_help = super::examples(&[
        ("pxdeploy monitor test", "`event: \"test\"` through webhook, ntfy and ping; exit 5 names a channel that failed"),
        ("pxdeploy monitor test -o json | jq '.channels[] | select(.ok | not)'", "the channels that failed, and why"),
    ]))]
    Test,
}
