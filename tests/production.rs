//! Production settings (issue 14) end to end, on one simulated node shared by the tests of
//! this file, a container each, told as a user's [`Session`]s: secrets from outside the file
//! (`secrets.rs`), hooks and the release command (`hooks.rs`), the firewall (`firewall.rs`),
//! and the known breakages of Docker in LXC that pxdeploy explains (`breakage.rs`).

mod breakage;
mod check_vm;
mod firewall;
mod hooks;
mod secrets;

use std::sync::OnceLock;

use crate::support::{unique_vmid, Outcome, Session, SimHost};

/// Container ids of this file: 80–99.
const TEST_BASE: u32 = 80;

fn node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(SimHost::start_cached)
}

/// A session of the file's node in container `TEST_BASE + n` with `app`.
fn session(n: u32, app: tempfile::TempDir) -> Session<'static> {
    Session::new(node(), unique_vmid(TEST_BASE + n), app)
}

/// A configuration error (exit 3) saying `says`, found before connecting: nothing ran on
/// the node for the container.
#[track_caller]
fn refused_before_connecting<'s, 'n>(run: Outcome<'s, 'n>, says: &str) -> Outcome<'s, 'n> {
    run.expect_exit(3)
        .expect_says(says)
        .expect_never_says("Connecting")
        .expect_no_calls()
}
