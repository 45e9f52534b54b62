//! One file per subcommand, each a short sequence of named steps; one dispatch `match`.

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::output::Output;

mod backup;
mod check;
mod completions;
mod confirm;
pub mod context;
mod create;
pub mod deploy;
mod destroy;
mod init;
mod lifecycle;
pub mod logs;
mod man;
mod restore;
mod rollback_snapshot;
mod status;

use context::Context;

/// Runs one subcommand to completion.
pub fn execute(cli: Cli, out: Output) -> Result<()> {
    let ctx = || Context::new(cli.global.clone(), out.clone());
    match cli.command {
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
        Command::Init(args) => init::run(&cli.global, &args, &out),
        Command::Schema => init::schema(),
        Command::Check => check::run(&ctx()),
        Command::Status => status::run(&ctx()),
        Command::Create => create::run(&ctx()),
        Command::Deploy(args) => deploy::run(&ctx(), &args),
        Command::Logs(args) => logs::run(&ctx(), &args),
        Command::Stop => lifecycle::stop(&ctx()),
        Command::Start(args) => lifecycle::start(&ctx(), &args),
        Command::Restart(args) => lifecycle::restart(&ctx(), &args),
        Command::Destroy(args) => destroy::run(&ctx(), &args),
        Command::Backup(args) => backup::run(&ctx(), &args),
        Command::Rollback(args) => rollback_snapshot::run(&ctx(), &args),
        Command::Restore(args) => restore::run(&ctx(), &args),
    }
}
