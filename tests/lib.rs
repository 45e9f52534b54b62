//! Integration tests: one binary.

mod support;

mod cli;
mod compose_env;
mod deploy;
mod harness;
mod lifecycle;
mod lock;
mod releases;
mod scripts;
mod sim;
mod ssh;
