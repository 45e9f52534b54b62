#!/bin/sh
# Runs in the guest after marker-no-link.sh (src/release/up.rs: MARK_SCRIPT). $1: the
# fingerprint marker; stdin: the fingerprint. Writes stdin to $1 durably: a temporary
# file beside it (made afresh: whatever was there is removed and `set -C` refuses
# anything put there meanwhile), flushed (`sync FILE`, in coreutils and BusyBox),
# renamed over it, then its folder flushed. Exit: 0 written; 65 a link on the way;
# else the failing command's status.
umask 077; t="$1.tmp"
rm -f -- "$t" || exit 1
trap 'rm -f -- "$t"' EXIT
set -C
cat > "$t" && sync -- "$t" && mv -f -- "$t" "$1" && sync -- "${1%/*}/"
