//! `pxdeploy logs [SERVICE] [--tail N] [--follow]`: `docker compose logs` from inside the
//! guest (on [`crate::guest::Guest::inside_host`]), streamed line by line to stdout (control characters escaped). With
//! `--follow` it runs until Ctrl-C, which ends the run and, with the connection, the remote
//! command.

use std::time::Duration;

use crate::cli::LogsArgs;
use crate::compose::Project;
use crate::error::{Error, Result};
use crate::output::{sanitize, Output};
use crate::remote::host::Host;
use crate::remote::ssh::Stream;

/// Bound of a `logs` call without `--follow`.
const LOGS_TIMEOUT: Duration = Duration::from_secs(120);

/// `pxdeploy logs`.
pub(crate) fn run(ctx: &super::context::Context, args: &LogsArgs) -> Result<()> {
    let config = ctx.config()?;
    let host = ctx.connect(&config)?;
    let guest = crate::guest::Guest::of(&host, &config);
    logs(guest.inside_host()?, &config.project(), args, &ctx.out)
}

pub(crate) fn logs(host: &Host, project: &Project, args: &LogsArgs, out: &Output) -> Result<()> {
    loop {
        match logs_once(host, project, args, out)? {
            Some(stderr) if host.moved(&stderr)? => continue,
            Some(stderr) => return Err(failed(project, args, &stderr)),
            None => return Ok(()),
        }
    }
}

/// One `docker compose logs`: `None` when it succeeded, else its stderr.
fn logs_once(
    host: &Host,
    project: &Project,
    args: &LogsArgs,
    out: &Output,
) -> Result<Option<String>> {
    let command = project.logs(args.service.as_deref(), args.tail, args.follow);
    let mut pending: Vec<u8> = Vec::new();
    let mut stderr: Vec<u8> = Vec::new();
    let emit = |bytes: &[u8], out: &Output| {
        let text = crate::output::strip_ansi(&String::from_utf8_lossy(bytes));
        out.raw_stdout(sanitize(&text).as_bytes());
    };
    let status = host.session().exec_streaming(
        &command,
        None,
        &mut |stream, data| match stream {
            Stream::Stdout => {
                pending.extend_from_slice(data);
                if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
                    let rest = pending.split_off(end + 1);
                    emit(&pending, out);
                    pending = rest;
                }
            }
            Stream::Stderr => stderr.extend_from_slice(data),
        },
        (!args.follow).then_some(LOGS_TIMEOUT),
    )?;
    if !pending.is_empty() {
        emit(&pending, out);
    }
    if status.success() {
        return Ok(None);
    }
    Ok(Some(format!(
        "{status}\n{}",
        String::from_utf8_lossy(&stderr)
    )))
}

fn failed(project: &Project, args: &LogsArgs, stderr: &str) -> Error {
    let command = project.logs(args.service.as_deref(), args.tail, args.follow);
    let (status, stderr) = stderr.split_once('\n').unwrap_or((stderr, ""));
    let mut err = Error::remote(format!(
        "`docker compose logs` failed in {}",
        project.inside.named()
    ))
    .cause(format!(
        "`{command}` {status}: {}",
        crate::output::tail(stderr, 5)
    ));
    if stderr.contains("no such service") {
        err = err.hint("name a service of the compose file (`pxdeploy status` lists them)");
    }
    err
}
