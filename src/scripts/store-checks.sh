#!/bin/sh
# Runs in the guest, first in every script that changes the release store
# (src/release/store.rs: CHECKS). Defines functions only; no parameters.
#   bad PATH     refuse a symbolic link at PATH (exit 65, naming it)
#   nolink ABS   no component of the absolute path ABS that exists is a link
#   inside REL   the same for the folders on the way to $D/REL (not REL itself)
#   refuse WHY   exit 65 with WHY
#   rel REL      REL is relative, without ., .. or empty parts, not in the store
#   rid ID       ID is a release id
#   takelock     hold the store's flock on fd 9 until the script ends (a guest
#                without flock runs unlocked); exit 1 if $S cannot be opened
bad() { printf 'pxdeploy: %s is a symbolic link: refusing to write through it\n' "$1" >&2; exit 65; }
nolink() { _p='' _r=${1#/}; while [ -n "$_r" ]; do _c=${_r%%/*}; _p="$_p/$_c"
[ -L "$_p" ] && bad "$_p"; [ "$_r" = "$_c" ] && return 0; _r=${_r#*/}; done; }
inside() { _p=$D _r=$1; while :; do case $_r in */*) ;; *) return 0 ;; esac
_p="$_p/${_r%%/*}"; [ -L "$_p" ] && bad "$_p"; _r=${_r#*/}; done; }
refuse() { printf 'pxdeploy: %s: refusing it\n' "$1" >&2; exit 65; }
rel() { case /$1/ in //*|*//*|*/./*|*/../*|/.pxdeploy/*) refuse "$1 is not a path inside the app folder" ;; esac; }
rid() { case $1 in [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) ;;
*) refuse "$1 is not a release id" ;; esac; }
takelock() { exec 9< "$S" || exit 1; if command -v flock >/dev/null 2>&1; then flock 9 || exit 1; fi; }
