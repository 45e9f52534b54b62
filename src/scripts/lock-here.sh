#!/bin/sh
# Runs on the node (src/lock/shell.rs: HERE), before lock.sh. $1: the vmid; then the
# command to run. Prints `pxdeploy-lock: elsewhere` and exits 0 when container $1's
# config is another node's (/etc/pve/nodes/*/lxc); otherwise (this node's, or
# nowhere yet) execs the command.
if [ ! -e "/etc/pve/lxc/$1.conf" ]; then
  for f in /etc/pve/nodes/*/lxc/"$1".conf; do
    [ -e "$f" ] && { echo 'pxdeploy-lock: elsewhere'; exit 0; }
  done
fi
shift
exec "$@"
