#!/bin/sh
# Runs in the guest (src/release/drift.rs: FUNCTION), after store-read.sh where
# both are sent. Defines `pxd DIR MODE`: checks the current release's files in app
# folder DIR against its manifest (MODE `all`: hash every file; else only files whose
# mtime is newer than .pxdeploy/current) and prints `drift -` (no check: a linked
# store, an unfinished switch, a malformed id), or `drift`, a line per differing entry
# (`kind mode size - path`), `sha256sum` lines for the files hashed, then `drift-end`.
# Reads only; runs in a subshell (it changes folder); stdin is /dev/null.
# The first awk program prints the manifest's safe paths for `stat`; the second reads
# the manifest, then stat's lines (the first one .pxdeploy/current), prints what
# differs in kind, mode or size, then hands the files to hash to one sha256sum. Modes
# are compared as text without leading zeros (BusyBox awk reads 0644 as octal).
pxd() { ( S="$1/.pxdeploy" A=$2 C=''
if [ ! -L "$S" ] && [ ! -L "$S/current" ] && [ ! -L "$S/releases" ] && [ ! -e "$S/journal" ]; then C=$(cat -- "$S/current" 2>/dev/null); fi
case $C in ''|*[!0-9a-fTZ-]*) echo 'drift -'; exit 0 ;; esac
M=".pxdeploy/releases/$C/manifest"
# shellcheck disable=SC2015 # `cd && [ ] && [ ] || { …; exit 0; }`: any failing test means no check
cd -- "$1" 2>/dev/null && [ ! -L ".pxdeploy/releases/$C" ] && [ ! -L "$M" ] && [ -f "$M" ] || { echo 'drift -'; exit 0; }
echo drift
{ echo .pxdeploy/current; awk 'function rest(s, n) { while (n-- > 0) s = substr(s, index(s, " ") + 1); return s }
{ p = rest($0, 4); if (p !~ /^\// && p !~ /(^|\/)\.\.?(\/|$)/) print p }' "$M"; } | tr '\n' '\0' | xargs -0 stat -c '%A %a %s %.9Y %n' -- 2>/dev/null |
awk -v all="$A" 'function rest(s, n) { while (n-- > 0) s = substr(s, index(s, " ") + 1); return s }
function nz(x) { sub(/^0+/, "", x); return x == "" ? "0" : x }
function under_bad(p,  q, j) { q = p; while ((j = match(q, /\/[^\/]*$/)) > 0) { q = substr(q, 1, j - 1); if (q in bad) return 1 } return 0 }
NR == FNR { p = rest($0, 4); if (p ~ /^\// || p ~ /(^|\/)\.\.?(\/|$)/) next; n++; o[n] = p; k[p] = $1; m[p] = nz($2); z[p] = $3; next }
{ p = rest($0, 4) }
!got && p == ".pxdeploy/current" { ref = $4; exact = index(ref, ".") > 0; got = 1; next }
{ t = substr($1, 1, 1); if (t == "-") t = "f"; else if (t != "l" && t != "d") t = "o"; kn[p] = t; a[p] = $2; s[p] = $3; y[p] = $4 }
END {
  for (i = 1; i <= n; i++) { p = o[i];
    if (under_bad(p)) { if (k[p] == "d") bad[p] = 1; print "- - - - " p; continue }
    if (!(p in kn)) { if (k[p] == "d") bad[p] = 1; print "- - - - " p; continue }
    if (k[p] == "d") { if (kn[p] != "d") { bad[p] = 1; print kn[p] " " a[p] " " s[p] " - " p } continue }
    if (kn[p] != k[p] || (k[p] == "f" && nz(a[p]) != m[p]) || s[p] != z[p]) { print kn[p] " " a[p] " " s[p] " - " p; continue }
    newer = !got || (exact ? y[p] + 0 > ref + 0 : y[p] + 0 >= ref + 0);
    if (k[p] == "l") { if (newer) print "l " a[p] " " s[p] " ? " p; continue }
    if (all == "all" || newer) h[++nh] = p
  }
  fflush();
  cmd = "tr \"\\n\" \"\\0\" | xargs -0 sha256sum --";
  for (i = 1; i <= nh; i++) print h[i] | cmd;
  close(cmd)
}' "$M" -
echo drift-end ) </dev/null; }
