//! The opening steps of the commands that lose data (`destroy`, `restore`, `rollback
//! --snapshot`), written once: read the guest's configuration, refuse a protected (where
//! Proxmox would) or locked guest before asking anything, then the hostname confirmation
//! (none under `--dry-run`) and the deploy lock.

use super::context::Context;
use crate::error::{Error, Result};
use crate::guest::{Guest, PctConfig};
use crate::lock::DeployLock;

/// What the command is about to do, for the refusals.
pub(super) struct Action<'a> {
    /// The node command a lock refuses, named in the error.
    pub command: &'a str,
    /// The error for `protection: 1` when Proxmox refuses this action on a protected guest;
    /// `None` when protection does not stop it.
    pub protected: Option<Error>,
}

/// The guest as found: its configuration on the node, and its hostname (the configured
/// one when it has none).
pub(super) struct Found {
    pub actual: PctConfig,
    pub hostname: String,
}

/// Reads the guest's configuration; refuses a protected or locked guest (nothing done).
pub(super) fn inspect(guest: Guest<'_>, configured: &str, action: Action<'_>) -> Result<Found> {
    let actual = guest.config()?;
    let hostname = actual.hostname().unwrap_or(configured).to_string();
    if let Some(err) = action.protected.filter(|_| actual.protection()) {
        return Err(err);
    }
    if let Some(lock) = actual.lock() {
        return Err(guest.locked(lock, action.command));
    }
    Ok(Found { actual, hostname })
}

/// The hostname typed back (or `--yes`; nothing asked under `--dry-run`), `warn` printing
/// what is at stake first; then the deploy lock, held until dropped.
pub(super) fn confirm_and_lock(
    ctx: &Context,
    guest: Guest<'_>,
    hostname: &str,
    (verb, done): (&str, &str),
    warn: impl FnOnce(),
) -> Result<Option<DeployLock>> {
    if !guest.dry_run() {
        super::confirm::by_hostname(ctx, &guest.named(), hostname, verb, done, warn)?;
    }
    guest.lock(ctx.reporter.as_ref())
}
