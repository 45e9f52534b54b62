//! Integration tests: one binary.

mod support;

mod harness;
mod ssh;
