#!/bin/sh
# pxdeploy's store script before the write-once push (commit d311fd3), kept as it ran
# then: src/release/store_once_tests.rs deploys with it, then over it with today's.
# Runs in the guest after store-checks.sh and store-guard.sh (src/release/store.rs:
# STAGE). $1: remote_dir; $2: the release id; stdin: a tar of `objects/ab/cdef…` and
# `release/`. Unpacks into a fresh incoming.XXXXXX/ before it takes the store's lock,
# then, locked: removes staging folders left by pushes that ended early, checks every
# object's hash (one sha256sum for all), moves the objects into the store and the
# release folder to releases/<id>. The tree is not touched.
# Exit: 0 staged; 1 anything failed (an object arrived damaged, no space, …).
I=$(mktemp -d "$S/incoming.XXXXXX") && tar -x -f - -C "$I" || exit 1
takelock
for X in "$S"/incoming*; do [ "$X" = "$I" ] || rm -rf -- "$X"; done
if [ -d "$I/objects" ]; then cd -- "$I/objects" && find . -type f > "$I/list" || exit 1
if [ -s "$I/list" ]; then xargs sha256sum -- < "$I/list" > "$I/sums" || exit 1; else : > "$I/sums"; fi
[ "$(wc -l < "$I/sums")" -eq "$(wc -l < "$I/list")" ] || { echo 'pxdeploy: not every object could be checked' >&2; exit 1; }
while read -r H O; do O=${O#./}
[ "$H" = "${O%%/*}${O#*/}" ] || { echo "pxdeploy: object $O arrived damaged" >&2; exit 1; }; done < "$I/sums"
for P in *; do [ -d "$P" ] || continue; mkdir -p -- "$S/objects/$P" && mv -f -- "$P"/* "$S/objects/$P/" || exit 1; done; fi
cd / && rm -rf -- "$S/releases/$2" && mv -- "$I/release" "$S/releases/$2" && rm -rf -- "$I" || exit 1
