#!/bin/sh
# Runs in the guest (src/release/store.rs: READ_FN). Defines `pxr DIR MODE`,
# which prints the store of app folder DIR (parsed by release::parse_read):
# `store ok|none|unsafe PATH`, `current ID|-`, per release `release ID RESULT LEN`
# + facts, the manifests (MODE `all`: every one, else the current one), object
# names (MODE `objects`: `o HASH` lines), then `end`. Reads only; never follows a link.
pxr() { S="$1/.pxdeploy" M=$2
if [ -L "$S" ]; then printf 'store unsafe %s\n' "$S"
elif [ ! -d "$S" ]; then echo 'store none'
else L=$(find "$S" -type l | head -n 1)
if [ -n "$L" ]; then printf 'store unsafe %s\n' "$L"
else echo 'store ok'; C=$(cat -- "$S/current" 2>/dev/null)
[ -f "$S/journal" ] && C=$(head -n 1 -- "$S/journal"); printf 'current %s\n' "${C:--}"
# shellcheck disable=SC2015 # `[ a ] && [ b ] || continue`: skip unless both exist
for R in "$S"/releases/*; do I=${R##*/}; [ -f "$R/facts" ] && [ -f "$R/manifest" ] || continue
printf 'release %s %s %s\n' "$I" "$(cat -- "$R/result" 2>/dev/null || echo pending)" "$(wc -c < "$R/facts")"
cat -- "$R/facts"
if [ "$M" = all ] || [ "$I" = "$C" ]; then printf 'manifest %s %s\n' "$I" "$(wc -c < "$R/manifest")"; cat -- "$R/manifest"; fi
done
if [ "$M" = objects ]; then (cd -- "$S/objects" && find . -type f) | sed -n 's|^\./\([0-9a-f][0-9a-f]\)/\([0-9a-f]*\)$|o \1\2|p'; fi
fi; fi; echo end; }
