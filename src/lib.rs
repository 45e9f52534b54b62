//! pxdeploy: deploy a Docker Compose application into an LXC container on a Proxmox VE host,
//! over one SSH session.

#![warn(unreachable_pub)]

// Modules are private to the crate (as casey/just does), so the compiler shows what is
// dead. The integration tests reach `cli`, `config`, `envfile`, `error` and `remote` directly;
// `unreachable_pub` keeps every other item `pub(crate)` or narrower.
pub(crate) mod breakage;
pub mod cli;
pub(crate) mod cluster;
pub(crate) mod commands;
pub(crate) mod compose;
pub mod config;
#[cfg(test)]
mod conformance;
pub mod envfile;
pub mod error;
pub(crate) mod figures;
pub(crate) mod firewall;
pub(crate) mod guest;
pub(crate) mod health;
pub(crate) mod hooks;
pub(crate) mod init;
pub(crate) mod local;
pub(crate) mod lock;
pub(crate) mod monitor;
pub(crate) mod output;
pub(crate) mod paths;
pub(crate) mod progress;
pub(crate) mod proxmox;
pub(crate) mod push;
pub(crate) mod release;
pub mod remote;
pub(crate) mod scripts;
pub(crate) mod secrets;
pub(crate) mod snapshots;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod timestamp;

use std::ffi::OsString;

use crate::cli::Cli;
use crate::error::Error;
use crate::output::Output;

/// Parses the arguments, sets up logging, runs the command, renders any error, and returns
/// the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::parse_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; clap prints them to stdout.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let out = cli.global.output();
    init_logging(&cli.global);

    match run(cli, &out) {
        Ok(()) => 0,
        Err(err) => {
            out.failure(&err, err.facts.clone());
            err.exit_code()
        }
    }
}

/// What ends the run first: the command, or Ctrl-C.
enum Ended {
    Done(error::Result<()>),
    CtrlC,
}

/// Runs the command on a thread of its own and returns its result, or, at Ctrl-C, at once:
/// no waiting for a blocked remote call, the process exit closes the connection, and with it
/// every remote command and the deploy lock.
fn run(cli: Cli, out: &Output) -> error::Result<()> {
    // Ctrl-C is how `logs --follow` ends: a clean exit, not an interruption.
    let follow = matches!(&cli.command, cli::Command::Logs(args) if args.follow);
    let (tx, rx) = std::sync::mpsc::channel();
    // The `ctrlc` crate: SIGINT's handler only writes to a pipe (SA_RESTART), and a thread of
    // its own calls this; a second Ctrl-C sends to a channel nobody reads any more.
    let on_interrupt = tx.clone();
    ctrlc::set_handler(move || {
        let _ = on_interrupt.send(Ended::CtrlC);
    })
    .map_err(|e| Error::unexpected(format!("cannot watch for Ctrl-C: {e}")))?;
    let ctx_out = out.clone();
    std::thread::Builder::new()
        .name("command".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                commands::execute(cli, ctx_out)
            }))
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(Error::unexpected(format!("internal error: {message}")))
            });
            let _ = tx.send(Ended::Done(result));
        })
        .map_err(|e| Error::unexpected(format!("cannot start the command's thread: {e}")))?;
    match rx.recv() {
        Ok(Ended::Done(result)) => result,
        Ok(Ended::CtrlC) if follow => Ok(()),
        Ok(Ended::CtrlC) => {
            output::show_cursor(); // a live display (`status --watch`) hid it
            Err(Error::interrupted())
        }
        Err(e) => Err(Error::unexpected(format!("internal error: {e}"))),
    }
}

fn init_logging(global: &cli::GlobalArgs) {
    let level = match global.verbose {
        0 => "warn",
        1 => "pxdeploy=info",
        2 => "pxdeploy=debug",
        _ => "pxdeploy=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PXDEPLOY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::output::LogWriter)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
