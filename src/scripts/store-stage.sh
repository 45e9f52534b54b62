#!/bin/sh
# Runs in the guest after store-checks.sh and store-guard.sh (src/release/store.rs:
# STAGE). $1: remote_dir; $2: the release id; $4: `plain` when stdin is a plain tar (next
# to nothing in it would shrink: src/push.rs, pack), else stdin is a gzip stream (src/push/gzip.rs;
# `tar -z` of GNU tar and BusyBox) of a tar of `objects/ab/cdef…`, `t/<path>` (a hard
# link to the object, for the first `f` line of the journal that writes it: the name
# the switch renames into the tree) and `release/`. Unpacks into a fresh incoming.XXXXXX/
# before it takes the store's lock (a push whose connection hangs never keeps the next
# one waiting; mtimes not restored: a file made live from it is as new as its arrival).
# The objects are not hashed again here: pxdeploy hashed each file as it read it for the
# archive and stops the archive at the first that changed since the scan, the journal
# is the archive's last member (a gzip stream is cut short, which `tar -z` reports), and
# SSH carries the bytes with a MAC; so a release whose journal arrived whole (its `end`
# line) arrived whole. Then, locked: removes staging folders left by pushes that ended
# early, refuses an archive without its whole journal (nothing moved into the store),
# copies the objects into the store (`cp --reflink=auto`: shared blocks
# on Btrfs, XFS and ZFS; a copy elsewhere; into incoming/copy/ first, then renamed
# into objects/, so the store never holds a partly copied object), sets the mode of
# each staged object the journal writes first to that line's mode (one chmod per mode),
# and moves the release folder to releases/<id>. The tree is not touched: the staged
# files stay in $I/t (I) for the switch to rename into the tree. The store's copy is
# its own inode (a copy or a reflink), never a link to a file of the tree.
# Exit: 0 staged; 1 anything failed (the archive arrived incomplete, no space, …).
I=$(mktemp -d "$S/incoming.XXXXXX") || exit 1
case ${4:-} in plain) G= ;; *) G=-z ;; esac
# shellcheck disable=SC2086 # $G: -z or nothing; split on purpose
tar -x $G -m -f - -C "$I"; R=$?
takelock
for X in "$S"/incoming*; do [ "$X" = "$I" ] || rm -rf -- "$X"; done
if [ "$R" != 0 ] || [ ! -f "$I/release/journal" ] || [ "$(tail -n 1 -- "$I/release/journal")" != end ]; then
echo 'pxdeploy: the push arrived incomplete: nothing was changed' >&2; exit 1; fi
if [ -d "$I/objects" ]; then (cd -- "$I" && find objects -type f) > "$I/list" || exit 1
{ cp -R --reflink=auto -- "$I/objects" "$I/copy" 2>/dev/null || { rm -rf -- "$I/copy" && cp -R -- "$I/objects" "$I/copy"; }; } || exit 1
( cd -- "$I/copy" && set -- && for P in *; do if [ -d "$S/objects/$P" ]; then mv -f -- "$P"/* "$S/objects/$P/" || exit 1
else set -- "$@" "$P"; fi; done; [ $# -eq 0 ] || mv -- "$@" "$S/objects/" ) || exit 1
if [ -f "$I/release/journal" ]; then
awk 'NR == FNR { s[$0]; next } $1 == "f" && $2 ~ /^[0-7][0-7][0-7][0-7]$/ && length($3) == 64 && $3 !~ /[^0-9a-f]/ {
o = "objects/" substr($3, 1, 2) "/" substr($3, 3); if ((o in s) && !(o in done)) { done[o]; print $2, o } }' "$I/list" "$I/release/journal" > "$I/modes" || exit 1
cut -d ' ' -f 1 < "$I/modes" | sort -u > "$I/mlist" || exit 1; while read -r M; do
(cd -- "$I" && awk -v m="$M" '$1 == m { print $2 }' modes | xargs chmod "$M" --) || exit 1; done < "$I/mlist"; fi; fi
cd / && rm -rf -- "$S/releases/$2" && mv -- "$I/release" "$S/releases/$2" || exit 1
