#!/bin/sh
# Runs on the node (src/proxmox/qm/open.rs: SCRIPT): everything opening the SSH session
# inside VM $1 asks the node, in one call, its two `qm` programs side by side (each is a
# process start on the node). $2: `agent` to read the VM's address from the guest agent
# (DHCP: then also net0's MAC), empty when the address is static; $3: the VM's config
# file (/etc/pve/qemu-server/<vmid>.conf).
# Prints `qm status`'s line; when running, `node: <hostname>`; with `agent`, the `net0:`
# line of the VM's config file as it applies now (its first section: what
# `qm config --current 1` prints; pending values and snapshots are sections of their own),
# then `agent: <exit code>` and the agent's answer to `network-get-interfaces` (its stderr
# on stderr). Exit: 0; when `qm status` fails or the config cannot be read, its exit code
# after `failed: status` / `failed: config`, with only its stderr (a VM on another node is
# found by `qm status`'s words).
d=$(mktemp -d) || exit
trap 'rm -rf -- "$d"' EXIT
if [ "$2" = agent ]; then
    qm guest cmd "$1" network-get-interfaces >"$d/a" 2>"$d/a2" </dev/null &
    pa=$!
fi
qm status "$1" >"$d/s" 2>"$d/s2" </dev/null
r=$?
[ "$2" = agent ] && { wait "$pa"; ra=$?; }
cat -- "$d/s2" >&2
[ "$r" = 0 ] || { echo 'failed: status'; exit "$r"; }
cat -- "$d/s"
case $(cat -- "$d/s") in *'status: running'*) ;; *) exit 0 ;; esac
printf 'node: %s\n' "$(hostname)"
[ "$2" = agent ] || exit 0
sed -n '/^\[/q;/^net0:/p' "$3" 2>"$d/c2" || {
    r=$?; cat -- "$d/c2" >&2; echo 'failed: config'; exit "$r"
}
cat -- "$d/a2" >&2
printf 'agent: %s\n' "$ra"
cat -- "$d/a"
