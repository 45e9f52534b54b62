//! Integration tests: one binary.

mod support;

mod cli;
mod compose;
mod deploy;
mod harness;
mod lifecycle;
mod real_world;
mod scripts;
mod sim;
mod ssh;
