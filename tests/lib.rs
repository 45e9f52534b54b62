//! Integration tests: one binary.

mod support;

mod cli;
mod harness;
mod ssh;
