//! `pxdeploy man [--out-dir DIR]`: the man pages, generated from the clap definitions
//! (`clap_mangen`), so they always match `--help`. Without `--out-dir`, pxdeploy(1) on
//! stdout; with it, pxdeploy.1 and one pxdeploy-<command>.1 per command, like git's pages.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::cli::{Cli, ManArgs};
use crate::error::{Error, Result};

pub(super) fn run(args: &ManArgs) -> Result<()> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    match &args.out_dir {
        None => {
            let page = render(&cmd)
                .map_err(|e| Error::unexpected(format!("cannot render the man page: {e}")))?;
            // A closed pipe is not an error.
            let _ = std::io::stdout().lock().write_all(&page);
        }
        Some(dir) => {
            let written = write_pages(&cmd, dir).map_err(|e| {
                Error::unexpected(format!(
                    "cannot write the man pages to {}: {e}",
                    dir.display()
                ))
            })?;
            let mut out = std::io::stdout().lock();
            for path in written {
                let _ = writeln!(out, "{path}");
            }
        }
    }
    Ok(())
}

/// Writes the page of `cmd` and of each visible subcommand into `dir` (created if missing),
/// and returns the paths written.
fn write_pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut page = |cmd: &clap::Command| -> std::io::Result<()> {
        let path = dir.join(Man::new(cmd.clone()).get_filename());
        std::fs::write(&path, render(cmd)?)?;
        written.push(path.display().to_string());
        Ok(())
    };
    page(cmd)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page(sub)?;
    }
    Ok(written)
}

/// One page: clap_mangen's sections in its order, with the help's "Examples:" as an
/// EXAMPLES section (clap_mangen would print it as one run-on paragraph headed EXTRA).
fn render(cmd: &clap::Command) -> std::io::Result<Vec<u8>> {
    let man = Man::new(cmd.clone());
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    man.render_synopsis_section(&mut w)?;
    man.render_description_section(&mut w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut w)?;
    }
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        examples(&after.to_string()).to_writer(&mut w)?;
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut w)?;
    }
    // Each section rendered alone starts with roff's apostrophe preamble: keep the first.
    let text = String::from_utf8_lossy(&w);
    let body = text.replace(APOSTROPHE_PREAMBLE, "");
    Ok(format!("{APOSTROPHE_PREAMBLE}{body}").into_bytes())
}

/// What `roff` writes first, so that `'` prints as a straight apostrophe.
const APOSTROPHE_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// The help's "Examples:" block (`  command` lines, each optionally followed by an indented
/// `      what it does` line) as an EXAMPLES section: each command in bold, then its text.
fn examples(after_help: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXAMPLES"]);
    let lines = after_help
        .lines()
        .skip_while(|l| !l.starts_with("Examples:"))
        .skip(1);
    for line in lines {
        if let Some(what) = line.strip_prefix("      ") {
            roff.text([roman(what)]);
        } else if let Some(command) = line.strip_prefix("  ") {
            roff.control("TP", []);
            roff.text([bold(command)]);
        }
    }
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_become_tagged_paragraphs() {
        let roff = examples(
            "Examples:\n  pxdeploy deploy\n      up when changed\n  pxdeploy deploy --force\n",
        )
        .to_roff();
        assert_eq!(
            roff,
            ".SH EXAMPLES\n.TP\n\\fBpxdeploy deploy\\fR\nup when changed\n.TP\n\\fBpxdeploy deploy \\-\\-force\\fR\n"
        );
    }
}
