//! Integration tests: one binary.

mod support;

mod deploy;
mod harness;
mod ssh;
