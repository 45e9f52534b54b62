//! Integration tests: one binary.

mod support;

mod harness;
