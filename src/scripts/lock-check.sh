#!/bin/sh
# Runs on the node (src/lock/held.rs: CHECK), after a prepared command's gate. $1
# lock file, $2 holder file, $3 this run's token; then the command to run, exec'd
# only while the lock is still held by this run (`flock -n` succeeds only on a lock
# no one holds). Exit: 7 the lock was given up or is another run's; else the command's.
if flock -n "$1" true; then
    echo "pxdeploy: the deploy lock ($1) is no longer held: the host gave it up" >&2; exit 7
fi
[ -L "$2" ] || { t=$(sed -n 2p -- "$2" 2>/dev/null); [ "$t" = "$3" ]; } || {
    echo "pxdeploy: the deploy lock ($1) is held by another run now: $(head -n 1 -- "$2" 2>/dev/null)" >&2; exit 7
}
shift 3
exec "$@"
