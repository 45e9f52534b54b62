//! Integration tests: one binary.

mod support;

mod cli;
mod compose;
mod deploy;
mod harness;
mod lifecycle;
mod scripts;
mod sim;
mod ssh;
