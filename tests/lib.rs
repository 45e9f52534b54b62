//! Integration tests: one binary.

mod support;

mod cli;
mod harness;
mod sim;
mod ssh;
