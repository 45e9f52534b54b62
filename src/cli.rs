//! Command-line interface: clap derive structs only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pxdeploy",
    version,
    about = "Deploy a Docker Compose application into an LXC container on a Proxmox VE host",
    long_about = "Deploy a Docker Compose application into an LXC container on a Proxmox VE host.\n\nEverything runs over one SSH session to the Proxmox node: `pct`, `pveam`, `vzdump` and `pvesm` on the host, `docker compose` inside the container through `pct exec`.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable text
    #[default]
    Text,
    /// Exactly one JSON document on stdout
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is unset
    #[default]
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Configuration file [default: pxdeploy.toml in this directory or the nearest parent]
    #[arg(
        short = 'c',
        long,
        global = true,
        env = "PXDEPLOY_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Run on these targets of the file's [targets] (repeatable, comma lists, `all`)
    #[arg(
        short = 't',
        long = "target",
        global = true,
        env = "PXDEPLOY_TARGET",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub targets: Vec<String>,

    /// At most this many targets at once
    #[arg(long, global = true, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,

    /// Print what would run on the host (secrets redacted) and change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Answer yes to confirmations (required for `destroy` without a terminal)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// More logging to stderr (-v, -vv, -vvv)
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only errors
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,

    /// When to use colours (NO_COLOR is honoured with `auto`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the LXC container and install Docker with Compose inside it
    Create,
    /// Push the app, write .env, `docker compose up`, wait for health
    Deploy(DeployArgs),
    /// Show the container's state, IP address and each service's health
    Status,
    /// Show the services' logs (`docker compose logs`)
    Logs(LogsArgs),
    /// Shut the container down gracefully (data is kept)
    Stop,
    /// Start the container and wait for the services' health
    Start(WaitArgs),
    /// Reboot the container and wait for the services' health
    Restart(WaitArgs),
    /// Destroy the container and its disks (asks for confirmation)
    Destroy(DestroyArgs),
    /// Back up the container with vzdump, or list its backups
    Backup(BackupArgs),
    /// Preflight: check SSH, the Proxmox node, storage, bridge, template and settings
    Check,
    /// Print a shell completion script
    Completions(CompletionsArgs),
}

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

#[derive(Debug, Clone, Args, Default)]
pub struct DeployArgs {
    /// Run `docker compose up` even when nothing changed since the last deploy
    #[arg(long)]
    pub force: bool,
}

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
    /// List this container's backups instead of making one
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to generate the script for
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        let a = Cli::try_parse_from(["pxdeploy", "--dry-run", "-o", "json", "status"]).unwrap();
        let b = Cli::try_parse_from(["pxdeploy", "status", "--dry-run", "-o", "json"]).unwrap();
        assert!(a.global.dry_run && b.global.dry_run);
        assert_eq!(a.global.output, OutputFormat::Json);
        assert_eq!(b.global.output, OutputFormat::Json);
    }

    #[test]
    fn targets_repeat_and_take_comma_lists() {
        let cli =
            Cli::try_parse_from(["pxdeploy", "-t", "a,b", "--target", "c", "deploy"]).unwrap();
        assert_eq!(cli.global.targets, ["a", "b", "c"]);
        let cli = Cli::try_parse_from(["pxdeploy", "deploy", "-t", "a", "-t", "b"]).unwrap();
        assert_eq!(cli.global.targets, ["a", "b"]);
        assert_eq!(cli.global.parallel, 4);
        assert!(Cli::try_parse_from(["pxdeploy", "--parallel", "0", "status"]).is_err());
    }
}
