#!/bin/sh
# Runs in the guest after store-checks.sh, store-guard.sh and takelock
# (src/release/store.rs: SWITCH). $1: remote_dir; stdin: the journal (target id,
# operations, `end`); B (a variable): the release the journal was made against,
# `-` for none, unset for no check; Z (a variable): the stage's folder, whose files
# under t/<path> (the staged objects under the name of the new journal's first `f`
# line for each) are renamed into the tree, not copied from the store (never by a
# journal left behind): checked line by line, then renamed at the journal's end with
# one `mv` per folder (up to 500 files each); it then says on stderr how many files
# it renamed and copied. Replays a journal left behind, then applies the new one,
# writing `current` last.
# Exit: 0 switched; 65 a link or a bad path on the way; 67 the tree is not on
# release B (nothing changed); 1 anything else (the next switch replays the journal).
trap '' HUP PIPE; J="$S/journal" Z0=${Z:-} Z='' W=0 C=0
obj() { case $1 in *[!0-9a-f]*) refuse "$1 is not an object name" ;; esac; [ ${#1} -eq 64 ] || refuse "$1 is not an object name"
O="$S/objects/${1%"${1#??}"}/${1#??}"; }
mode() { case $1 in [0-7][0-7][0-7][0-7]) ;; *) refuse "$1 is not a mode" ;; esac; }
nodir() { if [ -d "$1" ] && [ ! -L "$1" ]; then rmdir -- "$1" || return 1; fi; }
later() { case $1 in */*) printf '%s\n' "${1%/*}" ;; *) echo . ;; esac >> "$Z/dirs"; }
mvto() { [ $# -gt 1 ] || return 0; mv -f -- "$@" && W=$((W + $# - 1)); }
flush() { [ -f "$Z/dirs" ] || return 0; sort -u -- "$Z/dirs" > "$Z/dirs.u" || return 1
while IFS= read -r X; do set -- "$D/$X/"; for F in "$Z/t/$X"/* "$Z/t/$X"/.[!.]* "$Z/t/$X"/..?*; do
if [ -f "$F" ] && [ ! -L "$F" ]; then set -- "$F" "$@"
if [ $# -gt 500 ]; then mvto "$@" || return 1; set -- "$D/$X/"; fi; fi; done; mvto "$@" || return 1; done < "$Z/dirs.u"; }
apply() { { read -r T; rid "$T"; while IFS= read -r L; do K=${L%% *} A=${L#* }; case $K in
end) if [ "$1" = run ] && [ -n "$Z" ]; then flush || return 1; fi; return 0 ;;
d) mode "${A%% *}"; R=${A#* }; rel "$R"; [ "$1" = run ] || continue; inside "$R"; P="$D/$R"; [ -L "$P" ] && bad "$P"
{ [ -d "$P" ] || { rm -f -- "$P" && mkdir -p -- "$P"; }; } && chmod "${A%% *}" -- "$P" ;;
f) M=${A%% *} A=${A#* }; mode "$M"; obj "${A%% *}"; R=${A#* }; rel "$R"; [ "$1" = run ] || continue; inside "$R"; P="$D/$R"
[ -L "$P" ] && bad "$P"; Y="$Z/t/$R"
if [ -n "$Z" ] && [ -f "$Y" ] && [ ! -L "$Y" ]; then nodir "$P" && later "$R"; else
N="$P.pxdeploy-new"; { { [ ! -e "$N" ] && [ ! -L "$N" ]; } || rm -f -- "$N"; } &&
nodir "$P" && ( set -C; cat -- "$O" > "$N" ) && chmod "$M" -- "$N" && mv -f -- "$N" "$P" && C=$((C + 1)); fi ;;
l) obj "${A%% *}"; R=${A#* }; rel "$R"; [ "$1" = run ] || continue; inside "$R"; P="$D/$R"
nodir "$P" && rm -f -- "$P" && ln -s -- "$(cat -- "$O")" "$P" ;;
r) rel "$A"; [ "$1" = run ] || continue; inside "$A"; rm -f -- "$D/$A" ;;
x) rel "$A"; [ "$1" = run ] || continue; inside "$A"; rmdir -- "$D/$A" 2>/dev/null; true ;;
e) I=${A%% *} P=${A#* }; rid "$I"; case $P in "$D") R=.env ;; "$D"/*) R="${P#"$D"/}/.env"; rel "$R" ;; *) rel "$P" ;; esac
[ "$1" = run ] || continue; inside "$R"; [ -L "$P/.env" ] && bad "$P/.env"
rm -f -- "$P/.env.pxdeploy-new" && ( set -C; cat -- "$S/releases/$I/env" > "$P/.env.pxdeploy-new" ) &&
sync -- "$P/.env.pxdeploy-new" && mv -f -- "$P/.env.pxdeploy-new" "$P/.env" ;;
*) echo "pxdeploy: bad journal line: $L" >&2; false ;;
esac || return 1; done; echo 'pxdeploy: the journal has no end line' >&2; return 1; } < "$J"; }
finish() { apply check && apply run && printf '%s\n' "$T" > "$S/current.tmp" && mv -f -- "$S/current.tmp" "$S/current" && rm -f -- "$J"; }
if [ -f "$J" ]; then finish || exit 1; fi
if [ -n "${B:-}" ]; then C=; [ -f "$S/current" ] && read -r C < "$S/current"
case $C in [0-9]*T*Z-*) ;; *) C= ;; esac; [ "${C:--}" = "$B" ] || {
echo "pxdeploy: the tree is on release ${C:-none}, not $B as it was when this push was made: another push switched it meanwhile; nothing was changed" >&2; exit 67; }; fi
rm -f -- "$J.tmp"; cat > "$J.tmp" || exit 1
[ "$(tail -n 1 -- "$J.tmp")" = end ] || { rm -f -- "$J.tmp"; echo 'pxdeploy: the switch list arrived incomplete: nothing was changed' >&2; exit 1; }
sync -- "$J.tmp" && mv -f -- "$J.tmp" "$J" && Z=$Z0 W=0 C=0 && finish || exit 1
[ -z "$Z0" ] || echo "pxdeploy: $W files made live by rename, $C copied from the store" >&2
