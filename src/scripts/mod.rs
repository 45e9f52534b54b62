//! The shell scripts pxdeploy runs on the node and in the guest, one `.sh` file each in this
//! folder, embedded by the module that runs them with [`script!`] (`include_str!` without
//! the header comment: the constant there keeps the script's name). Values reach a script only as positional parameters
//! (`sh -c '<script>' sh ARGS…`), never spliced into its text. Each file starts with
//! `#!/bin/sh` and a comment saying where it runs, its parameters and its exit codes;
//! `scripts/test` runs `shellcheck` on every one (docs/architecture.md, "Remote scripts").
//! Some are fragments that define functions or variables for the next one (the release
//! store's `store-*.sh`); the module that composes them says in which order.

/// The script `src/scripts/<file>` as it is sent: the file's text without its leading
/// comment lines (the `#!/bin/sh` line and the header), at compile time.
macro_rules! script {
    ($file:literal) => {
        $crate::scripts::body(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/scripts/",
            $file
        )))
    };
}
pub(crate) use script;

/// `text` without its leading lines that start with `#`.
pub(crate) const fn body(text: &'static str) -> &'static str {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'#' {
        while i < b.len() && b[i] != b'\n' {
            i += 1;
        }
        if i < b.len() {
            i += 1;
        }
    }
    match std::str::from_utf8(b.split_at(i).1) {
        Ok(rest) => rest,
        Err(_) => panic!("a script is not UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn folder() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/scripts")
    }

    fn files() -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(folder())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sh"))
            .collect();
        files.sort();
        files
    }

    /// `sh -n` and BusyBox's `sh -n` (the shell of Alpine guests) both parse `script`.
    fn parses(name: &str, script: &str) {
        for shell in [&["sh"][..], &["busybox", "sh"]] {
            let out = Command::new(shell[0])
                .args(&shell[1..])
                .args(["-n", "-c", script])
                .output()
                .unwrap_or_else(|e| panic!("{}: {e}", shell.join(" ")));
            assert!(
                out.status.success(),
                "{name}: `{} -n` refuses it: {}",
                shell.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn every_script_parses_in_sh_and_busybox_sh() {
        let files = files();
        assert!(files.len() >= 17, "{files:?}");
        for f in &files {
            parses(
                &f.display().to_string(),
                &std::fs::read_to_string(f).unwrap(),
            );
        }
    }

    #[test]
    fn every_script_file_has_a_header_and_is_embedded() {
        let mut sources = String::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    sources.push_str(&std::fs::read_to_string(&p).unwrap());
                }
            }
        }
        for f in files() {
            let text = std::fs::read_to_string(&f).unwrap();
            let name = f.file_name().unwrap().to_str().unwrap();
            assert!(text.starts_with("#!/bin/sh\n# Runs "), "{name}: no header");
            assert!(text.ends_with('\n'), "{name}: no final newline");
            assert!(
                sources.contains(&format!("script!(\"{name}\")")),
                "{name} is not embedded anywhere"
            );
        }
    }

    #[test]
    fn the_header_stays_in_the_file_and_the_script_is_sent() {
        assert_eq!(
            super::body("#!/bin/sh\n# Runs here\nx=1\n# kept\necho \"$x\"\n"),
            "x=1\n# kept\necho \"$x\"\n"
        );
        assert_eq!(super::body("#!/bin/sh\n# no newline at the end"), "");
        let up = crate::release::activate::UP_SCRIPT;
        assert!(up.starts_with("p='' r=${1#/}\n"), "{up}");
        assert!(!up.contains("Runs in the guest"), "{up}");
    }

    /// The scripts as they are composed and sent.
    #[test]
    fn composed_scripts_parse() {
        use crate::release::store;
        parses("stage and switch", &store::stage_and_switch_script());
        let finish = store::finish_argv("/opt/app", None, &[]);
        parses("finish", &finish[2]);
        let check = format!("{}{}", crate::remote::host::GATE, crate::lock::held::CHECK);
        parses("lock check after the gate", &check);
        parses("up", crate::release::activate::UP_SCRIPT);
        parses("mark", crate::release::activate::MARK_SCRIPT);
        let drift = format!("{}{}", store::READ_FN, crate::release::drift::function());
        parses("read and drift", &drift);
    }
}
