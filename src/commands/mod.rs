//! One file per subcommand, each a short sequence of named steps; one dispatch `match`.

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::output::Output;

mod backup;
mod backup_schedule;
mod check;
mod check_ct;
mod check_vm;
mod completions;
mod confirm;
pub(crate) mod context;
mod create;
pub(crate) mod deploy;
mod destroy;
mod destructive;
mod diff;
mod exec;
mod init;
mod lifecycle;
pub(crate) mod logs;
mod man;
mod metrics;
mod monitor;
mod releases;
mod restore;
pub(crate) mod rollback;
mod rollback_snapshot;
mod started;
mod status;
mod status_watch;
mod targets;

use context::Context;

/// Runs one subcommand to completion: on the one target of the file, or on each chosen
/// target (several in parallel).
pub(crate) fn execute(cli: Cli, out: Output) -> Result<()> {
    match &cli.command {
        Command::Completions(args) => return completions::run(args),
        Command::Man(args) => return man::run(args),
        Command::Init(args) => return init::run(&cli.global, args, &out),
        Command::Schema => return init::schema(),
        _ => {}
    }
    // `releases`, `rollback` and `diff` work from the container alone: no app folder needed.
    let source_optional = matches!(
        cli.command,
        Command::Releases | Command::Rollback(_) | Command::Diff
    );
    let mut plan = crate::config::load_plan(cli.global.config.as_deref(), source_optional)?;
    let chosen = targets::choose(&plan, &cli.global.targets)?;
    if chosen.len() > 1 && matches!(cli.command, Command::Exec(_) | Command::Shell) {
        return Err(crate::error::Error::usage(
            "`exec` and `shell` run on one target: choose it with `-t NAME`",
        ));
    }
    if chosen.len() > 1 && matches!(&cli.command, Command::Status(args) if args.watch) {
        return Err(crate::error::Error::usage(
            "`status --watch` runs on one target: choose it with `-t NAME`",
        ));
    }
    if let [only] = chosen[..] {
        let (_, config) = plan.targets.swap_remove(only);
        let reporter = crate::progress::reporter(&out);
        let ctx = Context::new(cli.global.clone(), out, reporter, config);
        return dispatch(&cli.command, &ctx);
    }
    targets::run_all(&cli.command, &cli.global, &out, &plan, &chosen)
}

/// Runs the command on one target.
fn dispatch(command: &Command, ctx: &Context) -> Result<()> {
    match command {
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::Init(args) => init::run(&ctx.global, args, &ctx.out),
        Command::Schema => init::schema(),
        Command::Check => check::run(ctx),
        Command::Status(args) => status::run(ctx, args),
        Command::Metrics(args) => metrics::run(ctx, args),
        Command::Create => create::run(ctx),
        Command::Deploy(args) => deploy::run(ctx, args),
        Command::Releases => releases::run(ctx),
        Command::Diff => diff::run(ctx),
        Command::Rollback(args) => match args.snapshot {
            Some(_) => rollback_snapshot::run(ctx, args),
            None => rollback::run(ctx, args),
        },
        Command::Logs(args) => logs::run(ctx, args),
        Command::Monitor(args) => monitor::run(ctx, args),
        Command::Stop => lifecycle::stop(ctx),
        Command::Start(args) => lifecycle::start(ctx, args),
        Command::Restart(args) => lifecycle::restart(ctx, args),
        Command::Destroy(args) => destroy::run(ctx, args),
        Command::Backup(args) => backup::run(ctx, args),
        Command::Restore(args) => restore::run(ctx, args),
        Command::Exec(args) => exec::run(ctx, args),
        Command::Shell => exec::shell(ctx),
    }
}
