//! Integration tests: one binary.

mod support;

mod cli;
mod compose_env;
mod deploy;
mod harness;
mod lifecycle;
mod lock;
mod scripts;
mod sim;
mod snapshots;
mod ssh;
