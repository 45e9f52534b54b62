#!/bin/sh
# Runs on the node (src/proxmox/qm/open.rs: SCRIPT): everything opening the SSH session
# inside VM $1 asks the node, in one call, the `qm` programs side by side (each is a
# process start on the node). $2: `agent` to read the VM's address from the guest agent
# (DHCP: then also net0's MAC), empty when the address is static.
# Prints `qm status`'s line; when running, `node: <hostname>`; with `agent`, the `net0:`
# line of `qm config --current 1`, then `agent: <exit code>` and the agent's answer to
# `network-get-interfaces` (its stderr on stderr). Exit: 0; when `qm status` or
# `qm config` fails, its own exit code after `failed: status` / `failed: config`, with
# only its stderr (a VM on another node is found by `qm status`'s words).
d=$(mktemp -d) || exit
trap 'rm -rf -- "$d"' EXIT
qm status "$1" >"$d/s" 2>"$d/s2" </dev/null &
ps=$!
if [ "$2" = agent ]; then
    qm config "$1" --current 1 >"$d/c" 2>"$d/c2" </dev/null &
    pc=$!
    qm guest cmd "$1" network-get-interfaces >"$d/a" 2>"$d/a2" </dev/null &
    pa=$!
fi
wait "$ps"
r=$?
[ "$2" = agent ] && { wait "$pc"; rc=$?; wait "$pa"; ra=$?; }
cat -- "$d/s2" >&2
[ "$r" = 0 ] || { echo 'failed: status'; exit "$r"; }
cat -- "$d/s"
case $(cat -- "$d/s") in *'status: running'*) ;; *) exit 0 ;; esac
printf 'node: %s\n' "$(hostname)"
[ "$2" = agent ] || exit 0
[ "$rc" = 0 ] || { cat -- "$d/c2" >&2; echo 'failed: config'; exit "$rc"; }
sed -n '/^\[/q;/^net0:/p' "$d/c"
cat -- "$d/a2" >&2
printf 'agent: %s\n' "$ra"
cat -- "$d/a"
