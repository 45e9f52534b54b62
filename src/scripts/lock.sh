#!/bin/sh
# Runs on the node (src/lock/shell.rs: SCRIPT): takes and holds the deploy lock of one
# container while pxdeploy's heartbeats arrive on stdin (POSIX sh: dash, BusyBox;
# `timeout` from coreutils). $1 lock folder, $2 lock file, $3 holder file, $4 holder
# line, $5 seconds without a heartbeat after which the lock is given up, $6 this
# run's token. Prints `pxdeploy-lock: held|busy|unsafe …|given up: …`.
# Exit: 0 stdin closed or empty line (released); 1 the folder is unsafe or the lock
# could not be taken; 7 another process holds it (its holder line follows); 8 no
# heartbeat for $5 s; else flock's status.
unsafe() { echo "pxdeploy-lock: unsafe $*"; exit 1; }
umask 077
[ -e "$1" ] || [ -L "$1" ] || mkdir -m 700 -- "$1" 2>/dev/null
info=$(LC_ALL=C stat -c '%u %a %F' -- "$1" 2>/dev/null) || unsafe "cannot create the folder $1"
owner=${info%% *}; rest=${info#* }; mode=${rest%% *}; kind=${rest#* }
case $kind in
  directory) ;;
  'symbolic link') unsafe "$1 is a symbolic link, not a directory" ;;
  *) unsafe "$1 is a $kind, not a directory" ;;
esac
[ "$owner" = 0 ] || unsafe "$1 is owned by uid $owner, not root"
case $mode in
  *[2367]? | *[2367]) unsafe "$1 can be written by group or others (mode $mode)" ;;
esac
[ -L "$2" ] && unsafe "$2 is a symbolic link"
exec 9>>"$2" || exit 1
flock -n 9; rc=$?
if [ "$rc" -eq 0 ]; then
  tmp=$(mktemp "$1/.holder.XXXXXX") && printf '%s\n%s\n' "$4" "$6" > "$tmp" && mv -f -- "$tmp" "$3"
  echo 'pxdeploy-lock: held'
  while :; do
    beat=$(timeout "$5" head -n 1 9>&-); rc=$?
    if [ "$rc" -eq 124 ]; then
      echo "pxdeploy-lock: given up: no heartbeat from pxdeploy for $5s"; exit 8
    fi
    [ "$rc" -eq 0 ] && [ -n "$beat" ] || exit 0
  done
fi
if [ "$rc" -eq 1 ]; then
  echo 'pxdeploy-lock: busy'; [ -L "$3" ] || head -n 1 -- "$3" 2>/dev/null; exit 7
fi
exit "$rc"
