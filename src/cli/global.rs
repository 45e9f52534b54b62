//! The options every command takes (`-c`, `-t`, `--dry-run`, `-o`, `-y`, `-v`, `-q`,
//! `--color`), each with its `PXDEPLOY_*` twin where it has one, under one help heading.

use std::path::PathBuf;

use clap::Args;

pub(crate) use crate::output::ColorChoice;
pub use crate::output::OutputFormat;

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

impl GlobalArgs {
    /// The terminal writer these options ask for.
    pub fn output(&self) -> crate::output::Output {
        crate::output::Output::new(self.output, self.color, self.quiet, self.verbose)
    }
}
