#!/bin/sh
# Runs in the guest after marker-no-link.sh (src/release/up.rs: UP_SCRIPT). $1: the
# fingerprint marker; then the command (`docker compose … up …`). Removes the marker,
# then execs the command. Exit: 65 a link on the marker's way; the status of `rm`
# when it fails; else the command's.
rm -f -- "$1" || exit
shift
exec "$@"
