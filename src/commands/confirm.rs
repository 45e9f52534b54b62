//! The confirmation of a command that loses data (`destroy`, `restore`, `rollback
//! --snapshot`): `--yes`, or on a terminal the container's hostname typed back; without
//! either it is refused (exit 8).

use super::context::Context;
use crate::error::{Error, Result};
use crate::output::sanitize;

/// What is asked: `verb` ("destroy") in the messages, `done` ("destroyed") when refused;
/// `details` prints what is at stake just before the question.
pub(super) fn by_hostname(
    ctx: &Context,
    vmid: u32,
    hostname: &str,
    verb: &str,
    done: &str,
    details: impl FnOnce(),
) -> Result<()> {
    if ctx.global.yes {
        return Ok(());
    }
    let shown = sanitize(hostname);
    if !ctx.can_prompt() {
        return Err(Error::refused(format!(
            "refusing to {verb} container {vmid} ({shown}) without confirmation"
        ))
        .cause("stdin is not a terminal, so nobody can type the hostname")
        .hint(format!("pass `--yes` to {verb} it without a prompt")));
    }
    details();
    let answer = ctx.prompt(&format!(
        "Type the hostname `{shown}` to {verb} container {vmid}:"
    ))?;
    if answer.trim() != hostname {
        return Err(Error::refused(format!(
            "confirmation did not match `{shown}`: container {vmid} was not {done}"
        )));
    }
    Ok(())
}
