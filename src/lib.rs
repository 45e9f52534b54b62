//! pxdeploy: deploy a Docker Compose application into an LXC container on a Proxmox VE host,
//! over one SSH session.

// Modules are private to the crate (as casey/just does), so the compiler shows what is
// dead. The integration tests reach `config`, `envfile`, `error` and `remote` directly.
pub(crate) mod breakage;
pub mod cli;
pub(crate) mod cluster;
pub(crate) mod commands;
pub(crate) mod compose;
pub mod config;
pub(crate) mod container;
pub mod envfile;
pub mod error;
pub(crate) mod firewall;
pub(crate) mod health;
pub(crate) mod hooks;
pub(crate) mod init;
pub(crate) mod inspect;
pub(crate) mod local;
pub(crate) mod lock;
pub(crate) mod output;
pub(crate) mod paths;
pub(crate) mod progress;
pub(crate) mod proxmox;
pub(crate) mod push;
pub(crate) mod release;
pub mod remote;
pub(crate) mod secrets;
pub(crate) mod snapshots;
#[cfg(test)]
pub(crate) mod test_support;

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
    let out = Output::new(&cli.global);
    init_logging(&cli.global);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.failure(
                &Error::unexpected(format!("cannot start the runtime: {e}")),
                None,
            );
            return 1;
        }
    };

    let result = runtime.block_on(async {
        let ctx_out = out.clone();
        // Ctrl-C is how `logs --follow` ends: a clean exit, not an interruption.
        let follow = matches!(&cli.command, cli::Command::Logs(args) if args.follow);
        let work = tokio::task::spawn_blocking(move || commands::execute(cli, ctx_out));
        tokio::select! {
            joined = work => match joined {
                Ok(result) => result,
                Err(e) => Err(Error::unexpected(format!("internal error: {e}"))),
            },
            _ = tokio::signal::ctrl_c() => if follow { Ok(()) } else { Err(Error::interrupted()) },
        }
    });

    let code = match result {
        Ok(()) => 0,
        Err(err) => {
            out.failure(&err, err.facts.clone());
            err.exit_code()
        }
    };
    // Do not wait for a blocked remote call after Ctrl-C: the process exit closes the
    // connection, and with it every remote command and the deploy lock.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
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
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
