#!/bin/sh
# Runs in the guest, first in up.sh and mark.sh (src/release/up.rs). $1: the
# fingerprint marker's absolute path. Refuses (exit 65, naming it) a symbolic link at
# $1 or in any folder on its way: a service that can write into the app folder could
# point the marker anywhere. Sets p, r and c.
p='' r=${1#/}
while [ -n "$r" ]; do
    c=${r%%/*}; p="$p/$c"
    if [ -L "$p" ]; then
        echo "pxdeploy: $p is a symbolic link: refusing to write through it" >&2; exit 65
    fi
    [ "$r" = "$c" ] && break; r=${r#*/}
done
