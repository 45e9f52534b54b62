//! The integration tests' fixture: [`SimHost`] (a real sshd on 127.0.0.1 in front of the
//! simulated Proxmox node) and [`pxdeploy()`] (the binary under test, scrubbed environment,
//! hard timeout); and on top of them [`Session`], a user's story told in a few words
//! (`session.rs`).
//!
//! ```ignore
//! let sim = SimHost::builder().template_cached(true).start();
//! let app = tempfile::tempdir().unwrap();
//! sim.write_config(app.path(), "[container]\nvmid = 300");
//! pxdeploy().current_dir(app.path()).args(["status", "-o", "json"]).run().assert_code(0).json();
//! assert_eq!(sim.connection_count(), 1);
//! ```
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod command;
pub mod outcome;
pub mod process;
pub mod receiver;
pub mod release_story;
pub mod screen;
pub mod session;
pub mod sim;

pub use app::{copy_dir, create, deploy, example_app, small_app, unique_vmid, write};
pub use command::{pxdeploy, Pxdeploy};
pub use outcome::Outcome;
pub use process::{run_bounded, Run, Running};
pub use session::Session;
pub use sim::{known_hosts_trusting, repo_root, Call, SimBuilder, SimHost};
