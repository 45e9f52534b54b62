//! The arguments of the commands on the app's services: `status`, `metrics`, `logs` and
//! `exec`.

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

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Redraw every --interval seconds until Ctrl-C (plain repeated blocks when stdout is not a terminal)
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Seconds between two redraws of --watch
    #[arg(long, value_name = "SECS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..), requires = "watch")]
    pub interval: u64,
}

#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// How far back: the node's RRD timeframe (a point a minute for hour and day, every 30 minutes for week and month, every 6 hours for year)
    #[arg(long, value_name = "SPAN", default_value = "hour", value_parser = ["hour", "day", "week", "month", "year"])]
    pub since: String,
}
