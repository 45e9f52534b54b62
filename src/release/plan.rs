//! Pure decisions: which operations turn the tree of one release into another's (touching
//! nothing either manifest does not list), which objects the container lacks, which
//! releases to keep, and which release a rollback goes back to.

use std::collections::{BTreeMap, BTreeSet};

use super::manifest::{Entry, EntryKind, Manifest};
use super::{Release, Store};
use crate::error::{Error, Result};

/// One line of the switch journal ([`super::store::SWITCH`]); paths are relative to
/// `remote_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Dir {
        mode: u32,
        path: String,
    },
    File {
        mode: u32,
        hash: String,
        path: String,
    },
    Link {
        hash: String,
        path: String,
    },
    /// A file or link pxdeploy pushed before.
    Remove(String),
    /// A folder pxdeploy pushed before, removed only when empty (it may hold service data).
    RemoveDir(String),
    /// Put back release `id`'s `.env` into `dir` (absolute).
    Env {
        id: String,
        dir: String,
    },
}

impl Op {
    fn line(&self) -> String {
        match self {
            Op::Dir { mode, path } => format!("d {mode:04o} {path}"),
            Op::File { mode, hash, path } => format!("f {mode:04o} {hash} {path}"),
            Op::Link { hash, path } => format!("l {hash} {path}"),
            Op::Remove(path) => format!("r {path}"),
            Op::RemoveDir(path) => format!("x {path}"),
            Op::Env { id, dir } => format!("e {id} {dir}"),
        }
    }
}

/// The operations from one tree to another, and what they amount to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Diff {
    pub ops: Vec<Op>,
    /// Files and links written.
    pub changed: u64,
    /// Files and links left as they are.
    pub unchanged: u64,
    /// Files and links removed.
    pub deleted: u64,
}

/// From `old` (the container's current release; `None`: unknown, write everything and
/// delete nothing) to `new`. Removals come first, deepest first; then the new tree in
/// manifest order (a parent before its children).
pub(crate) fn diff(old: Option<&Manifest>, new: &Manifest) -> Diff {
    diff_repairing(old, new, &BTreeSet::new())
}

/// [`diff`], also writing again the entries of `drifted` (changed inside the container
/// since their switch: `drift.rs`) that the new tree keeps as they were.
pub(crate) fn diff_repairing(
    old: Option<&Manifest>,
    new: &Manifest,
    drifted: &BTreeSet<String>,
) -> Diff {
    let empty = Manifest::default();
    let old = old.unwrap_or(&empty);
    let by_path: BTreeMap<&str, &Entry> =
        new.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let before: BTreeMap<&str, &Entry> = old.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut d = Diff::default();
    for e in old.entries.iter().rev() {
        if by_path
            .get(e.path.as_str())
            .is_some_and(|n| n.kind == e.kind)
        {
            continue;
        }
        if e.kind == EntryKind::Dir {
            d.ops.push(Op::RemoveDir(e.path.clone()));
        } else {
            d.deleted += 1;
            d.ops.push(Op::Remove(e.path.clone()));
        }
    }
    for e in &new.entries {
        if before.get(e.path.as_str()).is_some_and(|o| *o == e) && !drifted.contains(&e.path) {
            if e.kind != EntryKind::Dir {
                d.unchanged += 1;
            }
            continue;
        }
        let (mode, path, hash) = (e.mode, e.path.clone(), e.hash.clone());
        d.ops.push(match e.kind {
            EntryKind::Dir => Op::Dir { mode, path },
            EntryKind::File => Op::File { mode, hash, path },
            EntryKind::Link => Op::Link { hash, path },
        });
        if e.kind != EntryKind::Dir {
            d.changed += 1;
        }
    }
    d
}

/// The journal's text: the target id, one operation a line, `end`.
pub(crate) fn journal(target: &str, ops: &[Op]) -> String {
    let mut text = format!("{target}\n");
    for op in ops {
        text.push_str(&op.line());
        text.push('\n');
    }
    text.push_str("end\n");
    text
}

/// The entries whose content the store lacks, one per hash.
pub(crate) fn missing<'a>(new: &'a Manifest, have: &BTreeSet<String>) -> Vec<&'a Entry> {
    let mut seen = BTreeSet::new();
    new.entries
        .iter()
        .filter(|e| e.kind != EntryKind::Dir && !have.contains(&e.hash))
        .filter(|e| seen.insert(e.hash.as_str()))
        .collect()
}

/// The releases kept after a healthy deploy of `new`, sorted by id: `new` itself, the
/// release it replaced (the store's current one) when `keep` allows two, then the newest
/// others by id, `keep` in all. Ids sort by the clock of the machine that deployed them, so
/// a laptop whose clock is behind the node's makes a release that sorts before the ones
/// already there: the current and the previous release are chosen by what they are, never
/// by their ids.
pub(crate) fn keep(store: &Store, new: &str, keep: u32) -> Vec<String> {
    let keep = keep.max(1) as usize;
    let mut kept = vec![new.to_string()];
    let previous = store.current.iter().filter(|c| c.as_str() != new);
    let mut ids = store.ids();
    ids.sort();
    let newest = ids.into_iter().rev();
    for id in previous.cloned().chain(newest) {
        if kept.len() >= keep {
            break;
        }
        if !kept.contains(&id) {
            kept.push(id);
        }
    }
    kept.sort();
    kept
}

/// The newest healthy release older than `before`.
pub(crate) fn previous_healthy<'a>(store: &'a Store, before: &str) -> Option<&'a Release> {
    store
        .releases
        .iter()
        .rev()
        .find(|r| r.id.as_str() < before && r.result == "healthy")
}

/// The release a rollback goes to: `requested`, or the newest healthy one before the
/// current one. Exit 3 for an unknown id or when there is none.
pub(crate) fn rollback_target<'a>(
    store: &'a Store,
    requested: Option<&str>,
    inside: crate::guest::Inside,
) -> Result<&'a Release> {
    let (noun, vmid) = (inside.noun(), inside.id());
    let listed = || match store.releases.len() {
        0 => "none".to_string(),
        _ => store.ids().join(", "),
    };
    if let Some(id) = requested {
        return store.release(id).ok_or_else(|| {
            Error::config(format!("{noun} {vmid} has no release `{id}`"))
                .cause(format!("kept releases: {}", listed()))
                .hint("`pxdeploy releases` lists them")
        });
    }
    let current = store.current.clone().unwrap_or_else(|| "~".into());
    previous_healthy(store, &current).ok_or_else(|| {
        Error::config(format!(
            "{noun} {vmid} has no healthy release before the current one to roll back to"
        ))
        .cause(format!(
            "current: {}; kept releases: {}",
            store.current.as_deref().unwrap_or("none"),
            listed()
        ))
        .hint("name one: `pxdeploy rollback ID` (`pxdeploy releases` lists them)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: EntryKind, mode: u32, hash: char, path: &str) -> Entry {
        let (size, hash) = match kind {
            EntryKind::Dir => (0, String::new()),
            _ => (1, hash.to_string().repeat(64)),
        };
        Entry {
            kind,
            mode,
            size,
            hash,
            path: path.into(),
        }
    }
    use EntryKind::{Dir, File, Link};

    #[test]
    fn diff_sends_changes_and_deletes_only_what_it_pushed() {
        let old = Manifest {
            entries: vec![
                e(Dir, 0o755, '-', "conf.d"),
                e(File, 0o644, 'a', "conf.d/new.conf"),
                e(File, 0o644, 'b', "conf.d/old.conf"),
                e(File, 0o644, 'c', "same"),
                e(File, 0o644, 'd', "script"),
                e(Dir, 0o755, '-', "gone"),
                e(File, 0o644, 'e', "gone/x"),
            ],
        };
        let new = Manifest {
            entries: vec![
                e(Dir, 0o755, '-', "conf.d"),
                e(File, 0o644, 'f', "conf.d/new.conf"),
                e(File, 0o644, 'c', "same"),
                e(File, 0o755, 'd', "script"),
                e(Link, 0o777, 'g', "to"),
            ],
        };
        let d = diff(Some(&old), &new);
        assert_eq!((d.changed, d.unchanged, d.deleted), (3, 1, 2));
        assert_eq!(
            journal("ID", &d.ops),
            format!(
                "ID\nr gone/x\nx gone\nr conf.d/old.conf\nf 0644 {} conf.d/new.conf\nf 0755 {} script\nl {} to\nend\n",
                "f".repeat(64),
                "d".repeat(64),
                "g".repeat(64)
            )
        );
        // Unknown current release: everything written, nothing deleted.
        let first = diff(None, &new);
        assert_eq!((first.changed, first.unchanged, first.deleted), (4, 0, 0));
        assert_eq!(first.ops.len(), 5);
        // A folder that became a file: removed (if empty) before the file is written.
        let flip = Manifest {
            entries: vec![e(File, 0o644, 'a', "gone")],
        };
        let d = diff(Some(&old), &flip);
        let gone = d
            .ops
            .iter()
            .position(|o| *o == Op::RemoveDir("gone".into()))
            .unwrap();
        let file = d
            .ops
            .iter()
            .position(|o| matches!(o, Op::File { path, .. } if path == "gone"))
            .unwrap();
        assert!(gone < file, "{:?}", d.ops);
    }

    #[test]
    fn drifted_entries_are_written_again_in_tree_order() {
        let m = Manifest {
            entries: vec![
                e(Dir, 0o755, '-', "api"),
                e(File, 0o644, 'a', "api/Dockerfile"),
                e(File, 0o644, 'b', "same"),
            ],
        };
        let drifted = BTreeSet::from(["api".to_string(), "api/Dockerfile".to_string()]);
        let d = diff_repairing(Some(&m), &m, &drifted);
        assert_eq!((d.changed, d.unchanged, d.deleted), (1, 1, 0));
        assert_eq!(
            journal("ID", &d.ops),
            format!(
                "ID\nd 0755 api\nf 0644 {} api/Dockerfile\nend\n",
                "a".repeat(64)
            )
        );
        assert!(diff(Some(&m), &m).ops.is_empty());
    }

    #[test]
    fn missing_objects_are_sent_once() {
        let new = Manifest {
            entries: vec![
                e(File, 0o644, 'a', "x"),
                e(File, 0o600, 'a', "y"),
                e(File, 0o644, 'b', "z"),
            ],
        };
        let have = BTreeSet::from(["b".repeat(64)]);
        let m = missing(&new, &have);
        assert_eq!(m.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["x"]);
    }

    fn store(current: &str, releases: &[(&str, &str)]) -> Store {
        Store {
            current: Some(current.into()),
            releases: releases
                .iter()
                .map(|(id, result)| Release {
                    id: id.to_string(),
                    result: result.to_string(),
                    deployed: String::new(),
                    by: String::new(),
                    version: String::new(),
                    fingerprint: String::new(),
                })
                .collect(),
            ..Store::default()
        }
    }

    #[test]
    fn rollback_goes_to_the_newest_healthy_release_before_the_current_one() {
        let ct = crate::guest::Inside::Container(210);
        let s = store(
            "4",
            &[
                ("1", "healthy"),
                ("2", "healthy"),
                ("3", "failed"),
                ("4", "healthy"),
            ],
        );
        assert_eq!(rollback_target(&s, None, ct).unwrap().id, "2");
        assert_eq!(rollback_target(&s, Some("3"), ct).unwrap().id, "3");
        let unknown = rollback_target(&s, Some("9"), ct).unwrap_err();
        assert_eq!(unknown.exit_code(), 3);
        assert_eq!(unknown.causes, ["kept releases: 1, 2, 3, 4"]);
        let only = store("2", &[("1", "failed"), ("2", "healthy")]);
        let none = rollback_target(&only, None, ct).unwrap_err();
        assert_eq!(none.exit_code(), 3);
        assert!(
            none.message
                .contains("no healthy release before the current one"),
            "{}",
            none.message
        );
        let vm = rollback_target(&only, Some("9"), crate::guest::Inside::Vm(220)).unwrap_err();
        assert_eq!(vm.message, "VM 220 has no release `9`");
    }

    #[test]
    fn keeps_the_newest() {
        let s = store("3", &[("1", "healthy"), ("2", "failed"), ("3", "healthy")]);
        assert_eq!(keep(&s, "4", 2), ["3", "4"]);
        assert_eq!(keep(&s, "4", 0), ["4"]);
        assert_eq!(keep(&s, "3", 5), ["1", "2", "3"]);
    }

    /// The laptop's clock behind the node's: the new release's id sorts before the ones
    /// already there. It (now current) and the one it replaced are kept all the same.
    #[test]
    fn the_current_and_the_previous_release_are_kept_whatever_their_ids() {
        let late = "20261201T120000Z-00000003";
        let s = store(
            late,
            &[
                ("20261201T100000Z-00000001", "healthy"),
                ("20261201T110000Z-00000002", "healthy"),
                (late, "healthy"),
            ],
        );
        let skewed = "20261130T090000Z-0000000a";
        assert_eq!(keep(&s, skewed, 2), [skewed.to_string(), late.to_string()]);
        assert_eq!(keep(&s, skewed, 1), [skewed]);
        assert_eq!(
            keep(&s, skewed, 3),
            [skewed, "20261201T110000Z-00000002", late]
        );
    }
}
