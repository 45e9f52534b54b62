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
pub const UNSAFE_EXIT: i32 = 65;

/// Shell functions every changing script starts with (builtins only: no process per path).
/// `bad PATH`: refuse a link there (exit 65, naming it). `nolink ABS`: every component of the
/// absolute path ABS that exists is not a symbolic link. `inside REL`: the same for the
/// folders on the way to `$D/REL` (not REL's last component, which each operation checks
/// itself: refused where a folder or file is written, replaced where a link is written or a
/// pushed file removed: `rm`, `ln` and `mv` never follow one). `rel REL`: REL is
/// relative, without `.`, `..` or empty components and not in the store (a journal line
/// names only what a manifest may hold). `rid ID`: ID is a release id. `refuse WHY`: exit 65.
const CHECKS: &str = "bad() { printf 'pxdeploy: %s is a symbolic link: refusing to write through it\\n' \"$1\" >&2; exit 65; }; \
nolink() { _p= _r=${1#/}; while [ -n \"$_r\" ]; do _c=${_r%%/*}; _p=\"$_p/$_c\"; \
[ -L \"$_p\" ] && bad \"$_p\"; [ \"$_r\" = \"$_c\" ] && return 0; _r=${_r#*/}; done; }; \
inside() { _p=$D _r=$1; while :; do case $_r in */*) ;; *) return 0 ;; esac; \
_p=\"$_p/${_r%%/*}\"; [ -L \"$_p\" ] && bad \"$_p\"; _r=${_r#*/}; done; }; \
refuse() { printf 'pxdeploy: %s: refusing it\\n' \"$1\" >&2; exit 65; }; \
rel() { case /$1/ in //*|*//*|*/./*|*/../*|/.pxdeploy/*) refuse \"$1 is not a path inside the app folder\" ;; esac; }; \
rid() { case $1 in [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) ;; \
*) refuse \"$1 is not a release id\" ;; esac; }; ";

/// `$1` = remote_dir. Sets `D` and `S`; refuses a link on the way to the store, as the store,
/// or in it; makes `remote_dir` with the usual umask (services running as other users may
/// need to enter it) and the store 0700.
const GUARD: &str = "D=$1 S=\"$1/.pxdeploy\"; nolink \"$S\"; \
if [ -d \"$S\" ]; then L=$(find \"$S\" -type l | head -n 1); if [ -n \"$L\" ]; then \
echo \"pxdeploy: $L is a symbolic link inside the release store: refusing to use it\" >&2; exit 65; fi; fi; \
mkdir -p -- \"$D\" || exit 1; umask 077; \
mkdir -p -- \"$S/objects\" \"$S/releases\" && chmod 700 -- \"$S\" || exit 1; nolink \"$S/objects\"; nolink \"$S/releases\"; ";

/// Holds the store's `flock` (on the folder itself: nothing to create) until the script
/// ends, so that a change left running by a pxdeploy that vanished is finished before the
/// next one changes the store, and two never interleave. A guest without `flock`
/// (util-linux, BusyBox) runs unlocked.
macro_rules! lock {
    () => {
        "exec 9< \"$S\" || exit 1; if command -v flock >/dev/null 2>&1; then flock 9 || exit 1; fi; "
    };
}
const LOCK: &str = lock!();

/// A shell function `pxr DIR MODE` that prints the store (see [`super::parse_read`]):
/// `store ok|none|unsafe PATH`, `current ID|-`, per release `release ID RESULT LEN` + facts,
/// the manifests (`MODE` = `all`, or only the current one), object names (`MODE` =
/// `objects`: `o HASH` lines), then `end`. Reads only; never follows a link.
pub const READ_FN: &str = "pxr() { S=\"$1/.pxdeploy\" M=$2; \
if [ -L \"$S\" ]; then printf 'store unsafe %s\\n' \"$S\"; \
elif [ ! -d \"$S\" ]; then echo 'store none'; \
else L=$(find \"$S\" -type l | head -n 1); \
if [ -n \"$L\" ]; then printf 'store unsafe %s\\n' \"$L\"; \
else echo 'store ok'; C=$(cat -- \"$S/current\" 2>/dev/null); \
[ -f \"$S/journal\" ] && C=$(head -n 1 -- \"$S/journal\"); printf 'current %s\\n' \"${C:--}\"; \
for R in \"$S\"/releases/*; do I=${R##*/}; [ -f \"$R/facts\" ] && [ -f \"$R/manifest\" ] || continue; \
printf 'release %s %s %s\\n' \"$I\" \"$(cat -- \"$R/result\" 2>/dev/null || echo pending)\" \"$(wc -c < \"$R/facts\")\"; \
cat -- \"$R/facts\"; \
if [ \"$M\" = all ] || [ \"$I\" = \"$C\" ]; then printf 'manifest %s %s\\n' \"$I\" \"$(wc -c < \"$R/manifest\")\"; cat -- \"$R/manifest\"; fi; \
done; \
if [ \"$M\" = objects ]; then (cd -- \"$S/objects\" && find . -type f) | sed -n 's|^\\./\\([0-9a-f][0-9a-f]\\)/\\([0-9a-f]*\\)$|o \\1\\2|p'; fi; \
fi; fi; echo end; }; ";

/// `$1` = remote_dir, `$2` = release id; stdin: a tar of `objects/ab/cdef…` and `release/`.
/// Unpacks into a fresh `incoming.XXXXXX/` (`mktemp -d`) before it takes the store's lock (a
/// push whose connection hangs never keeps the next one waiting), then, locked: removes the
/// staging folders of pushes that ended before they got here, checks every object's hash
/// (one `sha256sum` for all of them), moves the objects into the store (one `mv` per `ab/`
/// folder) and the release folder to `releases/<id>`. The tree is not touched. Every process
/// start counts: ~4 ms each in a container, so one per object would cost more than the
/// hashing of 200 MB of them.
pub const STAGE: &str = concat!("I=$(mktemp -d \"$S/incoming.XXXXXX\") && tar -x -f - -C \"$I\" || exit 1; ", lock!(), "\
for X in \"$S\"/incoming*; do [ \"$X\" = \"$I\" ] || rm -rf -- \"$X\"; done; \
if [ -d \"$I/objects\" ]; then cd -- \"$I/objects\" && find . -type f > \"$I/list\" || exit 1; \
if [ -s \"$I/list\" ]; then xargs sha256sum -- < \"$I/list\" > \"$I/sums\" || exit 1; else : > \"$I/sums\"; fi; \
[ \"$(wc -l < \"$I/sums\")\" -eq \"$(wc -l < \"$I/list\")\" ] || { echo 'pxdeploy: not every object could be checked' >&2; exit 1; }; \
while read -r H O; do O=${O#./}; \
[ \"$H\" = \"${O%%/*}${O#*/}\" ] || { echo \"pxdeploy: object $O arrived damaged\" >&2; exit 1; }; done < \"$I/sums\"; \
for P in *; do [ -d \"$P\" ] || continue; mkdir -p -- \"$S/objects/$P\" && mv -f -- \"$P\"/* \"$S/objects/$P/\" || exit 1; done; fi; \
cd / && rm -rf -- \"$S/releases/$2\" && mv -- \"$I/release\" \"$S/releases/$2\" && rm -rf -- \"$I\"");

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
pub const SWITCH: &str = "trap '' HUP PIPE; J=\"$S/journal\"; \
obj() { case $1 in *[!0-9a-f]*) refuse \"$1 is not an object name\" ;; esac; [ ${#1} -eq 64 ] || refuse \"$1 is not an object name\"; \
O=\"$S/objects/${1%\"${1#??}\"}/${1#??}\"; }; \
mode() { case $1 in [0-7][0-7][0-7][0-7]) ;; *) refuse \"$1 is not a mode\" ;; esac; }; \
nodir() { if [ -d \"$1\" ] && [ ! -L \"$1\" ]; then rmdir -- \"$1\" || return 1; fi; }; \
apply() { { read -r T; rid \"$T\"; while IFS= read -r L; do K=${L%% *} A=${L#* }; case $K in \
end) return 0 ;; \
d) mode \"${A%% *}\"; R=${A#* }; rel \"$R\"; [ \"$1\" = run ] || continue; inside \"$R\"; P=\"$D/$R\"; [ -L \"$P\" ] && bad \"$P\"; \
{ [ -d \"$P\" ] || { rm -f -- \"$P\" && mkdir -p -- \"$P\"; }; } && chmod \"${A%% *}\" -- \"$P\" ;; \
f) M=${A%% *} A=${A#* }; mode \"$M\"; obj \"${A%% *}\"; R=${A#* }; rel \"$R\"; [ \"$1\" = run ] || continue; inside \"$R\"; P=\"$D/$R\"; \
[ -L \"$P\" ] && bad \"$P\"; N=\"$P.pxdeploy-new\"; { { [ ! -e \"$N\" ] && [ ! -L \"$N\" ]; } || rm -f -- \"$N\"; } && \
nodir \"$P\" && install -m \"$M\" -- \"$O\" \"$N\" && mv -f -- \"$N\" \"$P\" ;; \
l) obj \"${A%% *}\"; R=${A#* }; rel \"$R\"; [ \"$1\" = run ] || continue; inside \"$R\"; P=\"$D/$R\"; \
nodir \"$P\" && rm -f -- \"$P\" && ln -s -- \"$(cat -- \"$O\")\" \"$P\" ;; \
r) rel \"$A\"; [ \"$1\" = run ] || continue; inside \"$A\"; rm -f -- \"$D/$A\" ;; \
x) rel \"$A\"; [ \"$1\" = run ] || continue; inside \"$A\"; rmdir -- \"$D/$A\" 2>/dev/null; true ;; \
e) I=${A%% *} P=${A#* }; rid \"$I\"; case $P in \"$D\") R=.env ;; \"$D\"/*) R=\"${P#\"$D\"/}/.env\"; rel \"$R\" ;; *) rel \"$P\" ;; esac; \
[ \"$1\" = run ] || continue; inside \"$R\"; [ -L \"$P/.env\" ] && bad \"$P/.env\"; \
rm -f -- \"$P/.env.pxdeploy-new\" && ( set -C; cat -- \"$S/releases/$I/env\" > \"$P/.env.pxdeploy-new\" ) \
&& sync -- \"$P/.env.pxdeploy-new\" && mv -f -- \"$P/.env.pxdeploy-new\" \"$P/.env\" ;; \
*) echo \"pxdeploy: bad journal line: $L\" >&2; false ;; \
esac || return 1; done; echo 'pxdeploy: the journal has no end line' >&2; return 1; } < \"$J\"; }; \
finish() { apply check && apply run && printf '%s\\n' \"$T\" > \"$S/current.tmp\" && mv -f -- \"$S/current.tmp\" \"$S/current\" && rm -f -- \"$J\"; }; \
if [ -f \"$J\" ]; then finish || exit 1; fi; \
if [ -n \"${B:-}\" ]; then C=; [ -f \"$S/current\" ] && read -r C < \"$S/current\"; \
case $C in [0-9]*T*Z-*) ;; *) C= ;; esac; [ \"${C:--}\" = \"$B\" ] || { \
echo \"pxdeploy: the tree is on release ${C:-none}, not $B as it was when this push was made: another push switched it meanwhile; nothing was changed\" >&2; exit 67; }; fi; \
rm -f -- \"$J.tmp\"; cat > \"$J.tmp\" || exit 1; \
[ \"$(tail -n 1 -- \"$J.tmp\")\" = end ] || { rm -f -- \"$J.tmp\"; echo 'pxdeploy: the switch list arrived incomplete: nothing was changed' >&2; exit 1; }; \
sync -- \"$J.tmp\" && mv -f -- \"$J.tmp\" \"$J\" && finish";

/// `$1` = remote_dir, `$2` = ids to keep (space-separated) or `-` to prune nothing, then
/// `ID RESULT` pairs. Writes the results, removes the releases not kept and every object
/// no kept manifest names.
pub const FINISH: &str = "K=$2; shift 2; while [ $# -ge 2 ]; do rid \"$1\"; R=\"$S/releases/$1\"; \
if [ -d \"$R\" ]; then printf '%s\\n' \"$2\" > \"$R/result.tmp\" && mv -f -- \"$R/result.tmp\" \"$R/result\" || exit 1; fi; shift 2; done; \
[ \"$K\" = - ] && exit 0; cd -- \"$S/releases\" || exit 1; \
for R in *; do case \" $K \" in *\" $R \"*) ;; *) rm -rf -- \"$R\" ;; esac; done; \
cd -- \"$S\" && cat releases/*/manifest 2>/dev/null | awk '$1 != \"d\" { print $4 }' > refs.tmp && \
find objects -type f | awk 'NR == FNR { k[$0]; next } { h = $0; sub(\"^objects/\", \"\", h); sub(\"/\", \"\", h); if (!(h in k)) print }' refs.tmp - > drop.tmp && \
while IFS= read -r O; do rm -f -- \"$O\"; done < drop.tmp; rm -f -- refs.tmp drop.tmp";

/// What a read asks for besides the releases' facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// The current manifest and the names of the stored objects (a deploy: `inspect.rs`
    /// asks for it inside its own script).
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
pub fn read_command(inside: Inside, remote_dir: &str, mode: ReadMode) -> String {
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
pub const SWITCH_FAILED_EXIT: i32 = 66;

/// Exit status of [`stage_and_switch_command`] when the tree is not on the release the push
/// was made against (another push switched it meanwhile): nothing was changed.
pub const CHANGED_EXIT: i32 = 67;

/// [`STAGE`], then [`SWITCH`] reading the journal that came in the archive as
/// `release/journal`: a deploy's push is one `pct exec`, not two. `$1` = remote_dir, `$2` =
/// release id, `$3` = the release the journal was made against (`-`: none). The journal is
/// opened, then unlinked, before the switch reads it.
pub fn stage_and_switch_script() -> String {
    format!(
        "{CHECKS}{GUARD}{STAGE} || exit 1; J0=\"$S/releases/$2/journal\"; B=$3; \
exec < \"$J0\" && rm -f -- \"$J0\" || exit 1; ( {SWITCH} ); R=$?; \
case $R in 0) ;; {UNSAFE_EXIT}|{CHANGED_EXIT}) exit $R ;; *) exit {SWITCH_FAILED_EXIT} ;; esac"
    )
}

/// The stage-and-switch script for release `id` made against release `base` (the tree's
/// current one as read; `None`: no release) (stdin: the archive, with the journal).
pub fn stage_and_switch_command(
    inside: Inside,
    remote_dir: &str,
    id: &str,
    base: Option<&str>,
) -> String {
    let script = stage_and_switch_script();
    let base = base.unwrap_or("-");
    inside.exec(&["sh", "-c", &script, "sh", remote_dir, id, base])
}

/// The switch script (stdin: the journal).
pub fn switch_command(inside: Inside, remote_dir: &str) -> String {
    guarded(inside, SWITCH, &[remote_dir])
}

/// The finish script: results to write, and the releases to keep (`None`: prune nothing).
pub fn finish_command(
    inside: Inside,
    remote_dir: &str,
    keep: Option<&[String]>,
    results: &[(&str, &str)],
) -> String {
    inside.exec(&finish_argv(remote_dir, keep, results))
}

/// The finish script's command inside the container (for a call that runs more after it).
pub fn finish_argv(
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
