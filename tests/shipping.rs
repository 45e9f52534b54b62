//! What ships (issue 13): a binary that needs only the C library, a man page that covers
//! every command, and examples in every command's help.

use std::process::Command;

use clap::CommandFactory;

use crate::support::pxdeploy;

/// What `ldd` may list: the kernel's vDSO, the dynamic loader, and glibc's own libraries —
/// with `libgcc_s`, GCC's unwinder, which Debian's and Ubuntu's `libc6` package depends on
/// (glibc loads it itself for thread cancellation), so it is wherever libc is.
fn c_library_object(name: &str) -> bool {
    name.starts_with("linux-vdso.so")
        || name.starts_with("ld-linux")
        || [
            "libc.so.6",
            "libm.so.6",
            "libgcc_s.so.1",
            "libpthread.so.0",
            "libdl.so.2",
            "librt.so.1",
        ]
        .contains(&name)
}

#[test]
fn the_binary_links_only_the_c_library() {
    // Debug and release link the same libraries (only the optimisation differs).
    let bin = env!("CARGO_BIN_EXE_pxdeploy");
    let out = Command::new("ldd").arg(bin).output().expect("ldd runs");
    assert!(out.status.success(), "ldd {bin} failed: {out:?}");
    let listing = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|path| path.rsplit('/').next().unwrap_or(path))
        .collect();
    assert!(names.contains(&"libc.so.6"), "{listing}");
    let other: Vec<&&str> = names.iter().filter(|n| !c_library_object(n)).collect();
    assert!(
        other.is_empty(),
        "pxdeploy needs more than the C library: {other:?}\n{listing}"
    );
}

/// Every visible subcommand of the real command-line definition (so a new command is
/// covered as soon as it exists).
fn subcommands() -> Vec<String> {
    pxdeploy::cli::Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn every_subcommand_help_has_examples_that_use_it() {
    let subs = subcommands();
    assert!(subs.len() >= 12, "{subs:?}");
    for sub in &subs {
        for flag in ["--help", "-h"] {
            let r = pxdeploy().args([sub.as_str(), flag]).run();
            r.assert_code(0);
            let examples = r
                .stdout
                .split_once("Examples:")
                .unwrap_or_else(|| {
                    panic!(
                        "`pxdeploy {sub} {flag}` has no Examples section\n{}",
                        r.stdout
                    )
                })
                .1;
            assert!(
                examples.contains(&format!("pxdeploy {sub}"))
                    || examples.contains(&format!(".toml {sub}")),
                "the examples of `pxdeploy {sub}` do not run it:\n{examples}"
            );
        }
    }
}

#[test]
fn man_page_names_every_subcommand_and_renders() {
    let r = pxdeploy().arg("man").run();
    r.assert_code(0);
    let roff = &r.stdout;
    assert!(roff.contains(".TH pxdeploy 1"), "a section-1 page:\n{roff}");
    for sub in subcommands() {
        assert!(
            roff.contains(&format!("pxdeploy\\-{sub}(1)")),
            "the man page does not name `{sub}`"
        );
    }

    // One page per command, each with its examples, into a folder.
    let dir = tempfile::tempdir().unwrap();
    pxdeploy()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .run()
        .assert_success();
    for sub in subcommands() {
        let page = std::fs::read_to_string(dir.path().join(format!("pxdeploy-{sub}.1")))
            .unwrap_or_else(|e| panic!("pxdeploy-{sub}.1: {e}"));
        assert!(page.contains(".SH EXAMPLES"), "pxdeploy-{sub}.1:\n{page}");
    }
    assert!(dir.path().join("pxdeploy.1").exists());
}
