//! The arguments of the commands that write files for the user: `init` (pxdeploy.toml),
//! `completions` and `man`.

use std::path::PathBuf;

use clap::Args;

pub use crate::init::InitArgs;

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to generate the script for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write pxdeploy.1 and one pxdeploy-<command>.1 per command into this folder instead
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}
