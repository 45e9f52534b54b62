//! Integration tests: one binary.

mod support;

mod ci_recipes;
mod cli;
mod compose;
mod compose_env;
mod deploy;
mod harness;
mod lifecycle;
mod lock;
mod production;
mod real_world;
mod scripts;
mod shipping;
mod sim;
mod snapshots;
mod ssh;
