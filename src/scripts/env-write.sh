#!/bin/sh
# Runs in the guest (src/envfile/write.rs: WRITE_SCRIPT). $1: the .env's folder; $2:
# its size in bytes; stdin: the content. Writes a temporary file in the folder (0600),
# checks its size (a dropped connection ends stdin early), flushes it, renames it over
# .env, then flushes the folder: a power cut leaves the old .env or the new one.
# Exit: 0 written; 65 a symbolic link at .env or on its way; 1 anything else (the old
# .env kept).
umask 077; p='' r=${1#/}/.env; while :; do c=${r%%/*}; p="$p/$c"
if [ -L "$p" ]; then echo "pxdeploy: $p is a symbolic link: refusing to write through it" >&2; exit 65; fi
[ "$r" = "$c" ] && break; r=${r#*/}; done
mkdir -p -- "$1" && cd -- "$1" || exit 1
rm -f -- .env.tmp.??????
t=$(mktemp .env.tmp.XXXXXX) || exit 1; trap 'rm -f -- "$t"' EXIT
cat > "$t" || exit 1; n=$(wc -c < "$t")
[ "$n" -eq "$2" ] || { echo "pxdeploy: received $n of $2 bytes of .env, kept the old one" >&2; exit 1; }
chmod 600 "$t" && sync -- "$t" && mv -f -- "$t" .env && sync -- .
