#!/bin/sh
# Runs in the guest (src/release/up.rs: UP_SCRIPT). $1: the fingerprint marker (an
# absolute path); then the command (`docker compose … up …`). Refuses a symbolic link
# at the marker or on its way (a service that can write into the app folder could point
# it anywhere; the same loop as in mark.sh), removes the marker, execs the command.
# Exit: 65 a link on the way; the status of `rm` when it fails; else the command's.
p='' r=${1#/}
while [ -n "$r" ]; do
    c=${r%%/*}; p="$p/$c"
    if [ -L "$p" ]; then
        echo "pxdeploy: $p is a symbolic link: refusing to write through it" >&2; exit 65
    fi
    [ "$r" = "$c" ] && break; r=${r#*/}
done
rm -f -- "$1" || exit
shift
exec "$@"
