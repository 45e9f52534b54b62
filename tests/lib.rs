//! Integration tests: one binary.

mod support;

mod cli;
mod compose;
mod compose_env;
mod deploy;
mod harness;
mod lifecycle;
mod lock;
mod real_world;
mod scripts;
mod sim;
mod ssh;
mod targets;
