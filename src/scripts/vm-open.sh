#!/bin/sh
# Runs on the node (src/proxmox/qm/open.rs: SCRIPT): everything opening the SSH session
# inside VM $1 asks the node, in one call. $2: `agent` to read the VM's address from the
# guest agent (DHCP: then also net0's MAC), empty when the address is static.
# Prints `qm status`'s line; when running, `node: <hostname>`; with `agent`, the `net0:`
# line of `qm config --current 1`, then `agent: <exit code>` and the agent's answer to
# `network-get-interfaces` (its stderr on stderr). Exit: 0; when `qm status` or
# `qm config` fails, its own exit code after `failed: status` / `failed: config` (its
# stderr as it was: a VM on another node is found by `qm status`'s words).
s=$(qm status "$1") || { r=$?; echo 'failed: status'; exit "$r"; }
printf '%s\n' "$s"
case $s in *'status: running'*) ;; *) exit 0 ;; esac
printf 'node: %s\n' "$(hostname)"
[ "$2" = agent ] || exit 0
c=$(qm config "$1" --current 1) || { r=$?; echo 'failed: config'; exit "$r"; }
printf '%s\n' "$c" | sed -n '/^\[/q;/^net0:/p'
a=$(qm guest cmd "$1" network-get-interfaces)
r=$?
printf 'agent: %s\n%s\n' "$r" "$a"
