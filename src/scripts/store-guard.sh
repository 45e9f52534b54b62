#!/bin/sh
# Runs in the guest after store-checks.sh (src/release/store.rs: GUARD).
# $1: remote_dir. Sets D (the app folder) and S (the store); refuses a link on
# the way to the store, as the store or in it (exit 65); makes remote_dir with the
# usual umask and the store 0700 (exit 1 if it cannot).
D=$1 S="$1/.pxdeploy"; nolink "$S"
if [ -d "$S" ]; then L=$(find "$S" -type l | head -n 1); if [ -n "$L" ]; then
echo "pxdeploy: $L is a symbolic link inside the release store: refusing to use it" >&2; exit 65; fi; fi
mkdir -p -- "$D" || exit 1; umask 077
mkdir -p -- "$S/objects" "$S/releases" && chmod 700 -- "$S" || exit 1; nolink "$S/objects"; nolink "$S/releases"
