//! One file per subcommand, each a short sequence of named steps; one dispatch `match`.

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::output::Output;

mod completions;
pub mod deploy;
pub mod logs;

/// Runs one subcommand to completion.
pub fn execute(cli: Cli, out: Output) -> Result<()> {
    match cli.command {
        Command::Completions(args) => completions::run(&args),
        Command::Check => not_yet("check"),
        Command::Status => not_yet("status"),
        Command::Create => not_yet("create"),
        Command::Deploy => not_yet("deploy"),
        Command::Logs(_) => not_yet("logs"),
        Command::Stop => not_yet("stop"),
        Command::Start(_) => not_yet("start"),
        Command::Restart(_) => not_yet("restart"),
        Command::Destroy(_) => not_yet("destroy"),
        Command::Backup(_) => not_yet("backup"),
    }
    .inspect(|_| {
        let _ = &out;
    })
}

fn not_yet(name: &str) -> Result<()> {
    Err(Error::unexpected(format!("`pxdeploy {name}` is not implemented yet")))
}
