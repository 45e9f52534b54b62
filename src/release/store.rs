//! The release store inside the container, `<remote_dir>/.pxdeploy/` (0700), and the
//! scripts that read and change it (each one `pct exec … sh -c`):
//!
//! ```text
//! objects/ab/cdef…         file contents and link targets, once each, named by SHA-256
//! releases/<id>/manifest   the tree (manifest.rs)
//! releases/<id>/env        the .env as written (0600)
//! releases/<id>/facts      id, time, by, version, fingerprint (key=value lines)
//! releases/<id>/result     healthy | failed | rolled-back (none yet: pending)
//! current                  the id of the release the tree holds
//! journal                  while switching: target id, the operations, `end`
//! ```
//!
//! Services in the guest may write into the app folder, so every changing script refuses a
//! symbolic link on the way to the store, as the store or in it, and on the way to every
//! path it writes or removes (exit 65, naming the link: nothing outside `<remote_dir>` is
//! ever written through one), and holds the store's `flock` while it runs. Switching is journalled: the operations are
//! written whole to `journal` before the first one runs, `current` is written last, and a
//! journal left by a dropped connection is replayed (every operation is idempotent) by the
//! next switch, so the tree is on one release, old or new, never a mix.

use crate::guest::Inside;

/// Exit status of a script that found a symbolic link where it would write, or a journal
/// line naming a path outside the app folder.
pub(crate) const UNSAFE_EXIT: i32 = 65;

/// Shell functions every changing script starts with (builtins only: no process per path).
/// `bad PATH`: refuse a link there (exit 65, naming it). `nolink ABS`: every component of the
/// absolute path ABS that exists is not a symbolic link. `inside REL`: the same for the
/// folders on the way to `$D/REL` (not REL's last component, which each operation checks
/// itself: refused where a folder or file is written, replaced where a link is written or a
/// pushed file removed: `rm`, `ln` and `mv` never follow one). `rel REL`: REL is
/// relative, without `.`, `..` or empty components and not in the store (a journal line
/// names only what a manifest may hold). `rid ID`: ID is a release id. `refuse WHY`: exit 65.
/// `takelock`: [`LOCK`].
const CHECKS: &str = crate::scripts::script!("store-checks.sh");

/// `$1` = remote_dir. Sets `D` and `S`; refuses a link on the way to the store, as the store,
/// or in it; makes `remote_dir` with the usual umask (services running as other users may
/// need to enter it) and the store 0700.
const GUARD: &str = crate::scripts::script!("store-guard.sh");

/// Holds the store's `flock` (on the folder itself: nothing to create) until the script
/// ends, so that a change left running by a pxdeploy that vanished is finished before the
/// next one changes the store, and two never interleave. A guest without `flock`
/// (util-linux, BusyBox) runs unlocked. (`takelock` is defined in [`CHECKS`].)
const LOCK: &str = "takelock\n";

/// A shell function `pxr DIR MODE` that prints the store (see [`super::parse_read`]):
/// `store ok|none|unsafe PATH`, `current ID|-`, per release `release ID RESULT LEN` + facts,
/// the manifests (`MODE` = `all`, or only the current one), object names (`MODE` =
/// `objects`: `o HASH` lines), then `end`. Reads only; never follows a link.
pub(crate) const READ_FN: &str = crate::scripts::script!("store-read.sh");

/// `$1` = remote_dir, `$2` = release id; stdin: a tar of `objects/ab/cdef…`, `t/<path>` (hard
/// links to them under the tree's names: [`super::store_calls::archive_items`]) and
/// `release/`, the journal last. Unpacks into a fresh `incoming.XXXXXX/` (`mktemp -d`; `$I`)
/// before it takes the store's lock (a push whose connection hangs never keeps the next one
/// waiting). The objects are not hashed again: the archive thread hashes each file as it
/// reads it and stops at one that changed since the scan, so an archive whose journal
/// arrived whole (its `end` line) is whole. Then, locked: removes the staging folders of
/// pushes that ended before they got here, refuses an archive without its whole journal
/// (nothing stored), copies the objects into the store (one `cp -R --reflink=auto` into
/// `$I/copy`, then renamed into `objects/`: one `mv` for the `ab/` folders the store lacks,
/// one per folder it has), sets each staged object's mode to that of the journal's first
/// `f` line for it (one `chmod` per mode) and moves the release folder to
/// `releases/<id>`. The tree is not touched: the switch renames the staged files into it
/// ([`stage_and_switch_script`]). Every process start counts: ~1.5 ms of CPU each, so one
/// per file would cost more than the copy of 200 MB of them.
pub(crate) const STAGE: &str = crate::scripts::script!("store-stage.sh");

/// `$1` = remote_dir; stdin: the journal (target id, operations, `end`; see `plan.rs`).
/// Replays a journal left behind first, then applies the new one, writing `current` last.
/// With `B` set (a deploy's push: the release its journal was made against, `-` for none)
/// the tree must be on release `B` once the old journal is replayed (a `current` that is no
/// id counts as none, as the read reports it), else exit 67 and nothing changes.
/// Hang-ups are ignored: a dropped connection does not stop a switch half-way.
///
/// A journal is read twice: first every line is checked (its paths relative and inside the
/// app folder, its ids, hashes and modes well-formed; a journal left in the guest is data a
/// service may have written), then applied. Before each write or removal the folders on the
/// way are checked for links; a link where a folder, file or `.env` is to be written is
/// refused (exit 65), so a folder the services linked elsewhere is never replaced by an
/// empty one or written through. New files are written under a temporary name, whatever was
/// there removed first (`install` would copy into a folder a link there points to), by
/// `install` or by `>` under `set -C` (which fails on anything put there meanwhile), then
/// renamed into place (a rename replaces a link, never follows it).
pub(crate) const SWITCH: &str = crate::scripts::script!("store-switch.sh");

/// `$1` = remote_dir, `$2` = ids to keep (space-separated) or `-` to prune nothing, then
/// `ID RESULT` pairs. Writes the results, removes the releases not kept and every object
/// no kept manifest names.
pub(crate) const FINISH: &str = crate::scripts::script!("store-finish.sh");

/// What a read asks for besides the releases' facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// The current manifest and the names of the stored objects (a deploy: `inspect.rs`
    /// asks for it inside its own script).
    // dead_code: outside the unit tests (`store_tests.rs`), only `inspect.rs`'s own script
    // asks for `objects`, so nothing else builds this variant.
    #[allow(dead_code)]
    Objects,
    /// The current manifest only (`releases`).
    Current,
    /// Every kept manifest (`rollback`).
    All,
}

impl ReadMode {
    fn word(self) -> &'static str {
        match self {
            ReadMode::Objects => "objects",
            ReadMode::Current => "current",
            ReadMode::All => "all",
        }
    }
}

/// `pct exec <vmid> -- sh -c '<READ_FN> pxr "$1" "$2"' sh <remote_dir> <mode>`
pub(crate) fn read_command(inside: Inside, remote_dir: &str, mode: ReadMode) -> String {
    let script = format!("{READ_FN}pxr \"$1\" \"$2\"");
    inside.exec(&["sh", "-c", &script, "sh", remote_dir, mode.word()])
}

fn guarded(inside: Inside, script: &str, args: &[&str]) -> String {
    let script = format!("{CHECKS}{GUARD}{LOCK}{script}");
    let mut argv = vec!["sh", "-c", script.as_str(), "sh"];
    argv.extend_from_slice(args);
    inside.exec(&argv)
}

/// Exit status of [`stage_and_switch_command`] when the stage succeeded and the switch
/// stopped part-way (the next switch finishes it from the journal).
pub(crate) const SWITCH_FAILED_EXIT: i32 = 66;

/// Exit status of [`stage_and_switch_command`] when the tree is not on the release the push
/// was made against (another push switched it meanwhile): nothing was changed.
pub(crate) const CHANGED_EXIT: i32 = 67;

/// [`STAGE`], then [`SWITCH`] reading the journal that came in the archive as
/// `release/journal`: a deploy's push is one `pct exec`, not two. `$1` = remote_dir, `$2` =
/// release id, `$3` = the release the journal was made against (`-`: none). The journal is
/// opened, then unlinked, before the switch reads it. The switch gets the staging folder
/// (`Z`): each file this push brought is renamed from there into the tree, so the bytes
/// received are written once (the store holds its own copy, never a hard link a service
/// writing into the tree would change); the folder is removed after the switch.
pub(crate) fn stage_and_switch_script() -> String {
    format!(
        "{CHECKS}{GUARD}{STAGE}J0=\"$S/releases/$2/journal\"; B=$3; \
exec < \"$J0\" && rm -f -- \"$J0\" || exit 1; ( Z=$I; {SWITCH} ); R=$?; rm -rf -- \"$I\"; \
case $R in 0) ;; {UNSAFE_EXIT}|{CHANGED_EXIT}) exit $R ;; *) exit {SWITCH_FAILED_EXIT} ;; esac"
    )
}

/// The stage-and-switch script for release `id` made against release `base` (the tree's
/// current one as read; `None`: no release) (stdin: the archive, with the journal; a gzip
/// stream if `gzip`, else a plain tar: see [`crate::push::pack`]).
pub(crate) fn stage_and_switch_command(
    inside: Inside,
    remote_dir: &str,
    id: &str,
    base: Option<&str>,
    gzip: bool,
) -> String {
    let script = stage_and_switch_script();
    let base = base.unwrap_or("-");
    let unpack = if gzip { "gzip" } else { "plain" };
    inside.exec(&["sh", "-c", &script, "sh", remote_dir, id, base, unpack])
}

/// The switch script (stdin: the journal).
pub(crate) fn switch_command(inside: Inside, remote_dir: &str) -> String {
    guarded(inside, SWITCH, &[remote_dir])
}

/// The finish script: results to write, and the releases to keep (`None`: prune nothing).
pub(crate) fn finish_command(
    inside: Inside,
    remote_dir: &str,
    keep: Option<&[String]>,
    results: &[(&str, &str)],
) -> String {
    inside.exec(&finish_argv(remote_dir, keep, results))
}

/// The finish script's command inside the container (for a call that runs more after it).
pub(crate) fn finish_argv(
    remote_dir: &str,
    keep: Option<&[String]>,
    results: &[(&str, &str)],
) -> Vec<String> {
    let keep = keep.map_or("-".to_string(), |k| k.join(" "));
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        format!("{CHECKS}{GUARD}{LOCK}{FINISH}"),
        "sh".into(),
        remote_dir.into(),
        keep,
    ];
    for (id, result) in results {
        argv.extend([id.to_string(), result.to_string()]);
    }
    argv
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
