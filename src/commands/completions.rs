//! `pxdeploy completions <SHELL>`: a shell completion script on stdout.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;

pub(super) fn run(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "pxdeploy", &mut buf);
    let mut stdout = std::io::stdout().lock();
    // A closed pipe is not an error.
    let _ = std::io::Write::write_all(&mut stdout, &buf);
    Ok(())
}
