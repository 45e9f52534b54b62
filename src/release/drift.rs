//! Drift: pushed files changed inside the container since the switch that wrote them (an
//! edit by hand, a file removed, a mode changed). A deploy checks the current release's
//! files against its manifest inside its one read call (`release/inspect.rs`) and puts back what
//! drifted; `pxdeploy diff` shows it and changes nothing.
//!
//! The check is cheap where nothing changed: one `stat` over the manifest's paths (kind,
//! mode, size, mtime), compared with the manifest; a file whose kind, mode and size match is
//! hashed only when its mtime is newer than `.pxdeploy/current`, which every switch writes
//! after its last file. `thorough` (`pxdeploy diff`, `deploy --force`) hashes every file.
//! Nothing is written, and nothing is read through a link in the store: a linked store,
//! an unfinished switch or a malformed id give `drift -` (no check).

use std::collections::{BTreeMap, BTreeSet};

use super::manifest::{EntryKind, Manifest};
use crate::compose::Project;

/// The shell function `pxd DIR MODE` (see the module docs): prints `drift -`, or `drift`,
/// the differing entries and the hashes, then `drift-end`. Runs in a subshell (`cd`).
const FUNCTION: &str = crate::scripts::script!("release-drift.sh");

/// [`FUNCTION`], to put before the call of `pxd`.
pub(crate) fn function() -> &'static str {
    FUNCTION
}

/// `pxdeploy diff`'s one read call: the store's listing with the current manifest
/// ([`super::store::READ_FN`], mode `current`), then the thorough check.
/// `pct exec <vmid> -- sh -c '<READ_FN><pxd>pxr "$1" current; pxd "$1" all' sh <remote_dir>`
pub(crate) fn command(project: &Project) -> String {
    let script = format!(
        "{}{}pxr \"$1\" current; pxd \"$1\" all",
        super::store::READ_FN,
        function()
    );
    project
        .inside
        .exec(&["sh", "-c", &script, "sh", &project.remote_dir])
}

/// The check alone, for a rollback (whose read is the store's own):
/// `pct exec <vmid> -- sh -c '<pxd>pxd "$1" quick' sh <remote_dir>`
pub(crate) fn check_command(project: &Project) -> String {
    let script = format!("{}pxd \"$1\" quick", function());
    project
        .inside
        .exec(&["sh", "-c", &script, "sh", &project.remote_dir])
}

/// Runs [`check_command`]: the entries of `manifest` (the current release's) that drifted.
/// A check that cannot run or be read finds nothing (the rollback goes on as before).
pub(crate) fn check(
    host: &crate::remote::host::Host,
    project: &Project,
    manifest: &Manifest,
) -> Vec<Drifted> {
    let Ok(out) = host.probe(&check_command(project)) else {
        return Vec::new();
    };
    match parse(&mut &out.stdout[..]) {
        Ok(Some(seen)) if out.status.success() => drifted(manifest, &seen),
        _ => Vec::new(),
    }
}

/// The mode word of [`function`]: `all` hashes every file.
pub(crate) fn mode(thorough: bool) -> &'static str {
    if thorough {
        "all"
    } else {
        "quick"
    }
}

/// One line of the check's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// An entry whose kind, mode or size differs (kind `-`: missing; `?` hash: a link made
    /// again since).
    Stat {
        kind: char,
        mode: Option<u32>,
        size: Option<u64>,
        relinked: bool,
        path: String,
    },
    /// A file's SHA-256 now.
    Hash { hash: String, path: String },
}

/// Reads the `drift` section from the front of `rest`. `None`: no check was made.
pub(crate) fn parse(rest: &mut &[u8]) -> Result<Option<Vec<Seen>>, String> {
    let first = take_line(rest).ok_or("no `drift` section")?;
    match first.as_str() {
        "drift -" => return Ok(None),
        "drift" => {}
        _ => return Err(format!("expected the `drift` section, got {first:?}")),
    }
    let mut seen = Vec::new();
    loop {
        let line = take_line(rest).ok_or("the `drift` section ends early")?;
        if line == "drift-end" {
            return Ok(Some(seen));
        }
        seen.push(parse_line(&line).ok_or_else(|| format!("bad drift line {line:?}"))?);
    }
}

fn parse_line(line: &str) -> Option<Seen> {
    // sha256sum: `HASH  PATH`; GNU escapes a name with a backslash: `\HASH  PATH`.
    let (escaped, l) = match line.strip_prefix('\\') {
        Some(l) => (true, l),
        None => (false, line),
    };
    if let Some((hash, path)) = l.split_once("  ") {
        if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            let path = match escaped {
                true => path.replace("\\\\", "\\"),
                false => path.to_string(),
            };
            return Some(Seen::Hash {
                hash: hash.to_ascii_lowercase(),
                path,
            });
        }
    }
    let mut parts = line.splitn(5, ' ');
    let kind = parts.next()?.chars().next()?;
    let mode = u32::from_str_radix(parts.next()?, 8).ok();
    let size = parts.next()?.parse().ok();
    let relinked = parts.next()? == "?";
    let path = parts.next()?.to_string();
    Some(Seen::Stat {
        kind,
        mode,
        size,
        relinked,
        path,
    })
}

fn take_line(rest: &mut &[u8]) -> Option<String> {
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let line = String::from_utf8_lossy(&rest[..nl]).into_owned();
    *rest = &rest[nl + 1..];
    Some(line)
}

/// A pushed entry that is not as the manifest says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Drifted {
    pub path: String,
    /// `missing` or `changed`.
    pub what: &'static str,
    /// In words: `content`, `permissions 0600 (pushed 0644)`, `now a folder`, …
    pub why: String,
}

/// The entries of `manifest` that drifted, in manifest order.
pub(crate) fn drifted(manifest: &Manifest, seen: &[Seen]) -> Vec<Drifted> {
    let mut found: BTreeMap<&str, Drifted> = BTreeMap::new();
    let entries: BTreeMap<&str, _> = manifest
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e))
        .collect();
    for s in seen {
        let path = match s {
            Seen::Stat { path, .. } | Seen::Hash { path, .. } => path.as_str(),
        };
        let Some(e) = entries.get(path) else { continue };
        let (what, why) = match s {
            Seen::Hash { hash, .. } if *hash == e.hash => continue,
            Seen::Hash { .. } => ("changed", "content".to_string()),
            Seen::Stat { kind: '-', .. } => ("missing", "not there".to_string()),
            Seen::Stat {
                kind,
                mode,
                size,
                relinked,
                ..
            } => {
                let pushed = match e.kind {
                    EntryKind::File => 'f',
                    EntryKind::Link => 'l',
                    EntryKind::Dir => 'd',
                };
                let why = if *kind != pushed {
                    match kind {
                        'f' => "now a file",
                        'l' => "now a symbolic link",
                        'd' => "now a folder",
                        _ => "now neither a file, a link nor a folder",
                    }
                    .to_string()
                } else if *size != Some(e.size) {
                    "content (size)".to_string()
                } else if *mode != Some(e.mode) && e.kind == EntryKind::File {
                    format!(
                        "permissions {:04o} (pushed {:04o})",
                        mode.unwrap_or(0),
                        e.mode
                    )
                } else if *relinked {
                    "link made again since the deploy".to_string()
                } else {
                    continue;
                };
                ("changed", why)
            }
        };
        found.insert(
            path,
            Drifted {
                path: path.to_string(),
                what,
                why,
            },
        );
    }
    manifest
        .entries
        .iter()
        .filter_map(|e| found.remove(e.path.as_str()))
        .collect()
}

/// The paths to write again.
pub(crate) fn paths(drifted: &[Drifted]) -> BTreeSet<String> {
    drifted.iter().map(|d| d.path.clone()).collect()
}

/// One line for people: `api/Dockerfile (changed: content), conf.d/x.conf (missing)`.
pub(crate) fn list(drifted: &[Drifted]) -> String {
    drifted
        .iter()
        .map(|d| match d.what {
            "missing" => format!("{} (missing)", crate::output::sanitize(&d.path)),
            _ => format!("{} (changed: {})", crate::output::sanitize(&d.path), d.why),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Drifted {
    /// The note of a file put back: `compose.yaml was changed in the VM since the last
    /// deploy (content): putting it back`. `since`: `deploy` or `switch`; `then`: what
    /// happens to it now.
    pub(crate) fn note(&self, inside: crate::guest::Inside, since: &str, then: &str) -> String {
        format!(
            "{} {} in the {} since the last {since} ({}): {then}",
            crate::output::sanitize(&self.path),
            match self.what {
                "missing" => "went missing",
                _ => "was changed",
            },
            inside.noun(),
            self.why
        )
    }
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
