//! `pxdeploy exec SERVICE -- CMD…`: the command in the service's running container
//! (`docker compose exec`, with a terminal when pxdeploy has one, else `-T`), and
//! `pxdeploy shell`: the guest's shell (`pct enter`; in a VM a root login shell over its
//! SSH session). Both pass the user's stdin,
//! stdout and stderr through and exit with the remote command's code.

use serde_json::json;

use super::context::Context;
use crate::cli::ExecArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::guest::{CtState, Guest, Op};
use crate::output::display_path;
use crate::remote::host::{Host, PROBE_TIMEOUT};
use crate::remote::{terminal, ExitStatus};

/// `pxdeploy exec`.
pub(super) fn run(ctx: &Context, args: &ExecArgs) -> Result<()> {
    refuse_json(ctx, "exec")?;
    let config = ctx.config()?;
    known_service(&config, &args.service)?;
    let tty = terminal::is_interactive();
    let command = config.project().exec(&args.service, &args.command, tty);
    attached(ctx, &config, |_| command, tty)
}

/// `pxdeploy shell`.
pub(super) fn shell(ctx: &Context) -> Result<()> {
    refuse_json(ctx, "shell")?;
    let config = ctx.config()?;
    attached(
        ctx,
        &config,
        |guest| guest.line(Op::Enter),
        terminal::is_interactive(),
    )
}

/// The command's output is the output: no JSON document can wrap it.
fn refuse_json(ctx: &Context, name: &str) -> Result<()> {
    if ctx.out.json() {
        return Err(Error::usage(format!(
            "`{name}` prints the remote command's own output: `-o json` is not available"
        )));
    }
    Ok(())
}

/// The service must be one of the compose file's (with the active profiles).
fn known_service(config: &Config, service: &str) -> Result<()> {
    if config.compose_services.iter().any(|s| s == service) {
        return Ok(());
    }
    Err(
        Error::config(format!("no service {service:?} in the compose file"))
            .cause(format!(
                "the services of {} are: {}",
                display_path(&config.source_dir().join(&*config.app.compose_file)),
                config.compose_services.join(", ")
            ))
            .hint("name one of them: `pxdeploy exec SERVICE -- CMD…`"),
    )
}

/// Connects, checks that the container runs, and runs `command` attached to our
/// terminal or streams; its exit code becomes ours. Quiet as `ssh` is: no progress lines
/// around the command's own output (errors are still said).
/// `command`: the node's command line, given the guest.
fn attached(
    ctx: &Context,
    config: &Config,
    command: impl FnOnce(Guest<'_>) -> String,
    tty: bool,
) -> Result<()> {
    let vmid = config.vmid();
    let target = crate::config::ssh::resolve(config)?;
    let session = crate::remote::ssh::Session::connect(&target)?;
    let host = Host::new(session, target.alias.clone(), ctx.global.dry_run).with_target(target);
    let guest = Guest::of(&host, config);
    running(guest)?;
    let command = &command(guest);
    let inside = guest.inside_host()?;
    if host.dry_run() {
        inside.change(command, PROBE_TIMEOUT)?;
        ctx.succeed(
            Some(&host),
            json!({ "vmid": vmid, "guest": guest.kind().key() }),
        );
        return Ok(());
    }
    tracing::debug!(command, tty, "attached");
    let status = inside.session().interactive(command, tty)?;
    match exit_code(&status) {
        0 => Ok(()),
        code => Err(Error::exited(code)),
    }
}

fn running(guest: Guest<'_>) -> Result<()> {
    match guest.require_state()? {
        CtState::Running => Ok(()),
        CtState::Stopped => Err(Error::remote(format!("{} is not running", guest.named()))
            .hint("start it with `pxdeploy start`")),
    }
}

/// The code to exit with: the command's, or 128 + the signal that killed it (as a shell
/// says it).
fn exit_code(status: &ExitStatus) -> i32 {
    let Some(signal) = &status.signal else {
        return status.code;
    };
    let number = match signal.as_str() {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ABRT" => 6,
        "KILL" => 9,
        "SEGV" => 11,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => return 255,
    };
    128 + number
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_pass_through_and_signals_read_as_a_shell_says_them() {
        let status = |code, signal: Option<&str>| ExitStatus {
            code,
            signal: signal.map(str::to_string),
        };
        assert_eq!(exit_code(&status(0, None)), 0);
        assert_eq!(exit_code(&status(7, None)), 7);
        assert_eq!(exit_code(&status(0, Some("KILL"))), 137);
        assert_eq!(exit_code(&status(0, Some("XCPU"))), 255);
    }
}
