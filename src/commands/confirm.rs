//! The confirmation of a command that loses data (`destroy`, `restore`, `rollback
//! --snapshot`): `--yes`, or on a terminal the guest's hostname typed back; without
//! either it is refused (exit 8).

use super::context::Context;
use crate::error::{Error, Result};
use crate::output::sanitize;

/// What is asked about `guest` (`container 210`, `VM 220`): `verb` ("destroy") in the
/// messages, `done` ("destroyed") when refused; `details` prints what is at stake just
/// before the question.
pub(super) fn by_hostname(
    ctx: &Context,
    guest: &str,
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
        return Err(no_terminal(guest, &shown, verb));
    }
    details();
    let answer = ctx.prompt(&question(guest, &shown, verb))?;
    if answer.trim() != hostname {
        return Err(mismatch(guest, &shown, done));
    }
    Ok(())
}

fn no_terminal(guest: &str, shown: &str, verb: &str) -> Error {
    Error::refused(format!(
        "refusing to {verb} {guest} ({shown}) without confirmation"
    ))
    .cause("stdin is not a terminal, so nobody can type the hostname")
    .hint(format!("pass `--yes` to {verb} it without a prompt"))
}

fn question(guest: &str, shown: &str, verb: &str) -> String {
    format!("Type the hostname `{shown}` to {verb} {guest}:")
}

fn mismatch(guest: &str, shown: &str, done: &str) -> Error {
    Error::refused(format!(
        "confirmation did not match `{shown}`: {guest} was not {done}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_and_refusals_name_the_guest_as_it_is() {
        let e = no_terminal("VM 220", "vmapp", "destroy");
        assert_eq!(e.exit_code(), 8);
        assert_eq!(
            e.message,
            "refusing to destroy VM 220 (vmapp) without confirmation"
        );
        assert_eq!(
            question("VM 220", "vmapp", "restore"),
            "Type the hostname `vmapp` to restore VM 220:"
        );
        let e = mismatch("VM 220", "vmapp", "destroyed");
        assert_eq!(e.exit_code(), 8);
        assert_eq!(
            e.message,
            "confirmation did not match `vmapp`: VM 220 was not destroyed"
        );
        assert_eq!(
            no_terminal("container 210", "app", "destroy").message,
            "refusing to destroy container 210 (app) without confirmation"
        );
    }
}
