#!/bin/sh
# Runs on the node (src/proxmox/qm/download.rs: DOWNLOAD). Puts a VM image on a storage with
# its checksum verified, in one step. $1: node name; $2: storage; $3: content (`import`,
# or `iso` before PVE 8.2); $4: image URL; $5: sha256|sha512; $6: the checksum (hex), or
# empty to read it from $7, the distribution's checksum list (fetched with curl), on the line
# that names $8 (`<hex>  <file>` or `<hex> *<file>`); $9: the file name without extension;
# $10: the extension (`iso` content: always `img`, the only image name it takes; such a
# volume cannot be `import-from` by volume id: use its `pvesm path`). The file is stored as `<$9>-<first 16 hex digits>.<$10>`, so the same
# image is found again and a newer one is a new file. `download-url` with the checksum
# verifies it, or finds the file there already with that checksum ("no need to download").
# Prints `volid=<storage>:<content>/<file>`, `upid=<UPID>` and `status=<task status JSON>`
# (pvesh exits 0 even when the download task failed: the caller reads `status`).
# Exit: 0 printed; 3 the list does not name the file; 4 not a checksum of that algorithm;
# else the failing command's status (curl, pvesh), its stderr passed on.
set -e
node=$1 storage=$2 content=$3 url=$4 algorithm=$5 checksum=$6 list=$7 listed=$8 stem=$9
shift 9; extension=$1
if [ "$content" = iso ]; then extension=img; fi
if [ -z "$checksum" ]; then
  sums=$(curl -fsSL --proto '=https,http' --max-time 120 -- "$list")
  checksum=$(printf '%s\n' "$sums" | listed="$listed" awk '{ f = $2; sub(/^\*/, "", f); if (f == ENVIRON["listed"]) { print $1; exit } }')
  if [ -z "$checksum" ]; then
    echo "$list does not list $listed" >&2; exit 3
  fi
fi
case $algorithm in sha256) length=64 ;; sha512) length=128 ;; *) length=0 ;; esac
if [ "${#checksum}" -ne "$length" ] || printf '%s' "$checksum" | grep -q '[^0-9a-fA-F]'; then
  echo "not a $algorithm checksum: $checksum" >&2; exit 4
fi
checksum=$(printf '%s' "$checksum" | tr 'A-F' 'a-f')
file=$stem-$(printf '%s' "$checksum" | cut -c1-16).$extension
out=$(pvesh create "/nodes/$node/storage/$storage/download-url" --url "$url" --filename "$file" \
  --content "$content" --checksum "$checksum" --checksum-algorithm "$algorithm")
upid=$(printf '%s\n' "$out" | grep '^UPID:' | tail -n 1)
echo "volid=$storage:$content/$file"
echo "upid=$upid"
if [ -n "$upid" ]; then
  echo "status=$(pvesh get "/nodes/$node/tasks/$upid/status" --output-format json)"
fi
