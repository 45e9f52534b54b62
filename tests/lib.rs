//! Integration tests: one binary.

mod support;

mod backup_jobs;
mod bastion;
mod ci_recipes;
mod cli;
mod cluster;
mod compose;
mod compose_env;
mod deploy;
mod drift;
mod exec;
mod harness;
mod init;
mod lifecycle;
mod lock;
mod monitor;
mod monitoring;
mod production;
mod real_world;
mod release_links;
mod releases;
mod scripts;
mod shipping;
mod sim;
mod snapshots;
mod ssh;
mod targets;
mod vm;
