#!/bin/sh
# Runs in the guest (src/release/rollback_env.rs: READ_SCRIPT). $1: the .env's
# folder; $2: remote_dir; $3: a release id. Prints `env <len>` and today's .env (or
# `env -`), then `old <len>` and the release's stored one (or `old -`).
# Exit: 0 read; 1 a file that exists could not be read.
f() { if [ -e "$2" ]; then printf '%s %s\n' "$1" "$(wc -c < "$2")" && cat -- "$2" || exit 1
else printf '%s -\n' "$1"; fi; }; f env "$1/.env"; f old "$2/.pxdeploy/releases/$3/env"
