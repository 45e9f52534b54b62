#!/bin/sh
# Runs on the node (src/proxmox/pct/mod.rs: ADD_RAW_LINE). $1: a container's config
# file (/etc/pve/lxc/<vmid>.conf); $2: a raw `lxc.*` line. Inserts the line before the
# first `[section]` line (snapshot or pending section), or at the end if there is none;
# nothing happens when the main section has the line already.
# Exit: 0 done or nothing to do; non-zero the failing command's status (set -e).
set -e; conf=$1; line=$2
if awk -v line="$line" '/^\[/ { exit } $0 == line { found = 1 } END { exit !found }' "$conf"; then exit 0; fi
tmp=$(mktemp)
awk -v line="$line" '!done && /^\[/ { print line; done = 1 } { print } END { if (!done) print line }' "$conf" > "$tmp"
cat "$tmp" > "$conf"; rm -f "$tmp"
