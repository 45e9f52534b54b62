#!/bin/sh
# Runs in the guest (src/release/inspect.rs: SCRIPT), after store-read.sh and
# release-drift.sh: a deploy's one read call. $1: the compose file's folder; $2: the
# project name; $3: the fingerprint marker; $4: remote_dir (the release store's
# folder); $5: the drift check's mode; $6: the watcher's marker (`[monitor]`). Prints
# `env <len>` + .env, `marker <len>` + marker (or `-`), `monitor <len>` + the watcher's
# marker (or `-`), the store (pxr … objects), the drift check (pxd), `version <status>
# <len>` + `docker compose version --short`, then `docker compose ps -a` as JSON.
# Exit: `docker compose ps`'s status; 1 if a file that exists could not be read.
d=$1 p=$2
f() { if [ -e "$2" ]; then printf '%s %s\n' "$1" "$(wc -c < "$2")" && cat -- "$2" || exit 1
else printf '%s -\n' "$1"; fi; }
f env "$d/.env"; f marker "$3"; f monitor "${6:-}"; pxr "$4" objects; pxd "$4" "$5"; exec 3>&1
o=$({ docker compose -p "$p" ps -a --format json </dev/null; echo "pxdeploy-ps-exit $?"; } &
v=$(docker compose version --short 2>&1); r=$?
printf 'version %s %s\n%s' "$r" "$(printf %s "$v" | wc -c)" "$v" >&3; wait)
printf '%s\n' "${o%pxdeploy-ps-exit *}"; exit "${o##*pxdeploy-ps-exit }"
