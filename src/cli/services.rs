//! The arguments of the commands on the app's services: `logs` and `exec`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Only this service
    pub service: Option<String>,
    /// Number of lines from the end of the logs
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,
    /// Follow log output (Ctrl-C to stop)
    #[arg(short = 'f', long)]
    pub follow: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// The Compose service whose container runs the command
    pub service: String,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}
