#!/bin/sh
# Runs in the guest (src/release/up.rs: MARK_SCRIPT). $1: the fingerprint marker (an
# absolute path); stdin: the fingerprint. Refuses a symbolic link at the marker or on
# its way (the same loop as in up.sh), then writes stdin to $1 durably: a temporary file
# beside it (made afresh: whatever was there is removed and `set -C` refuses anything put
# there meanwhile), flushed (`sync FILE`, in coreutils and BusyBox), renamed over it, then
# its folder flushed. Exit: 0 written; 65 a link on the way; else the failing status.
p='' r=${1#/}
while [ -n "$r" ]; do
    c=${r%%/*}; p="$p/$c"
    if [ -L "$p" ]; then
        echo "pxdeploy: $p is a symbolic link: refusing to write through it" >&2; exit 65
    fi
    [ "$r" = "$c" ] && break; r=${r#*/}
done
umask 077; t="$1.tmp"
rm -f -- "$t" || exit 1
trap 'rm -f -- "$t"' EXIT
set -C
cat > "$t" && sync -- "$t" && mv -f -- "$t" "$1" && sync -- "${1%/*}/"
