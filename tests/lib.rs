//! Integration tests: one binary.

mod support;

mod ci_recipes;
mod cli;
mod deploy;
mod harness;
mod lifecycle;
mod scripts;
mod shipping;
mod sim;
mod ssh;
