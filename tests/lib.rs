//! Integration tests: one binary.
mod ssh;
