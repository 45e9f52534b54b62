#!/bin/sh
# Runs in the guest (src/monitor/state.rs: SCRIPT). $1: the watcher's folder
# (/var/lib/pxdeploy/monitor/<project>); $2: state | test, the watcher's mode to run.
# Prints `pxdeploy-monitor: none` when no watcher is installed there, else what the
# mode prints. Exit: 0; the mode's status.
if [ ! -r "$1/watch.sh" ] || [ ! -r "$1/settings" ]; then echo 'pxdeploy-monitor: none'; exit 0; fi
exec sh "$1/watch.sh" "$2"
