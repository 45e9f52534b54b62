//! Integration tests: one binary.

mod support;

mod harness;
mod lifecycle;
mod ssh;
