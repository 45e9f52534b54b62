#!/bin/sh
# Runs in the guest after store-checks.sh, store-guard.sh and takelock
# (src/release/store.rs: FINISH). $1: remote_dir; $2: the ids to keep
# (space-separated), `-` to prune nothing; then `ID RESULT` pairs. Writes the
# results, removes the releases not kept and every object no kept manifest names.
# Exit: 0 done; 65 a bad release id; 1 anything else.
K=$2; shift 2; while [ $# -ge 2 ]; do rid "$1"; R="$S/releases/$1"
if [ -d "$R" ]; then printf '%s\n' "$2" > "$R/result.tmp" && mv -f -- "$R/result.tmp" "$R/result" || exit 1; fi; shift 2; done
[ "$K" = - ] && exit 0; cd -- "$S/releases" || exit 1
for R in *; do case " $K " in *" $R "*) ;; *) rm -rf -- "$R" ;; esac; done
cd -- "$S" && cat releases/*/manifest 2>/dev/null | awk '$1 != "d" { print $4 }' > refs.tmp &&
find objects -type f | awk 'NR == FNR { k[$0]; next } { h = $0; sub("^objects/", "", h); sub("/", "", h); if (!(h in k)) print }' refs.tmp - > drop.tmp &&
while IFS= read -r O; do rm -f -- "$O"; done < drop.tmp; rm -f -- refs.tmp drop.tmp
