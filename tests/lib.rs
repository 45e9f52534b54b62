//! Integration tests: one binary.

mod support;

mod cli;
mod harness;
mod lifecycle;
mod sim;
mod ssh;
