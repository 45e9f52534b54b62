#!/bin/sh
# Runs on the node (src/lock/shell.rs: HERE), before lock.sh. $1: the vmid; then the
# command to run. Prints `pxdeploy-lock: elsewhere` and exits 0 when guest $1's config
# (a container's or a VM's: one vmid space) is another node's
# (/etc/pve/nodes/*/lxc, /etc/pve/nodes/*/qemu-server); otherwise (this node's, or
# nowhere yet) execs the command.
if [ ! -e "/etc/pve/lxc/$1.conf" ] && [ ! -e "/etc/pve/qemu-server/$1.conf" ]; then
  for f in /etc/pve/nodes/*/lxc/"$1".conf /etc/pve/nodes/*/qemu-server/"$1".conf; do
    [ -e "$f" ] && { echo 'pxdeploy-lock: elsewhere'; exit 0; }
  done
fi
shift
exec "$@"
