"""A simulated cluster (reference more §3): the nodes of one cluster share one /etc/pve (as
pmxcfs shares it; STATE/etc/pve of every member is the first member's), each has its own
state folder (containers, LAN, knobs). Membership is etc/pve/.pxsim-cluster.json (written by
launch.py). Here (the members themselves and `on_node` are in nodes.py): the member facts
(`/cluster/status`, `/nodes`, online, memory from each member's knobs `offline`, `mem`,
`maxmem`), the status of a guest on another node, `pct migrate` (§3.6), and the members'
SSH host keys that pve-cluster keeps in /etc/pve (`updatecerts`, called by launch.py when a
node starts, as pveproxy.service runs `pvecm updatecerts --silent` first; see
/work/shared/reference/pve-cluster-host-keys.md).
"""

import json
import os
import re
import shutil
import subprocess
import time

from .basics import (
    HOST_PY, SIM, Exit, Sim, TaskError, die, fmt_time, members, now_local, param_die,
    truthy,
)
from .options import check_known, check_vmid, parse_opts
from .config import conf_path, load_conf, load_conf_or_die, parse_propstr, write_conf
from .containers import ct_dir, is_running, kill_container, run_info, shutdown_container
from .tasks import check_lock, run_task
from .nodes import node_knob, node_names, on_node, online
from .ha import ha_managed, ha_request
from .rrd import resource

GiB = 1024 ** 3


def node_ip(node):
    m = members()
    if m:
        return m["nodes"][node].get("ip")
    return Sim.cfg.get("ip", "192.0.2.2")


def hash_order(names):
    """Perl hash order: not sorted (clients must not rely on it)."""
    return sorted(names, key=lambda n: (len(n) * 7919 + sum(map(ord, n)) * 31) % 101)


def cluster_status():
    m = members()
    level = Sim.cfg.get("level", "")
    if not m:
        return [{"id": f"node/{Sim.node}", "ip": node_ip(Sim.node), "level": level, "local": 1,
                 "name": Sim.node, "nodeid": 0, "online": 1, "type": "node"}]
    nodes = m["nodes"]
    res = [{"id": "cluster", "name": m.get("name", "pxsim"), "nodes": len(nodes),
            "quorate": 1 if sum(online(n) for n in nodes) * 2 > len(nodes) else 0,
            "type": "cluster", "version": m.get("version", len(nodes) + 1)}]
    for n in hash_order(nodes):
        e = {"id": f"node/{n}", "level": level, "local": 1 if n == Sim.node else 0,
             "name": n, "nodeid": nodes[n].get("nodeid", 1), "online": 1 if online(n) else 0,
             "type": "node"}
        if nodes[n].get("ip"):
            e["ip"] = nodes[n]["ip"]
        res.append(e)
    return res


def nodes_index():
    res = []
    for n in hash_order(node_names()):
        e = {"id": f"node/{n}", "node": n, "type": "node",
             "status": "online" if online(n) else "offline",
             "ssl_fingerprint": ":".join(f"{(i * 37 + len(n)) % 256:02X}" for i in range(32))}
        if online(n):
            maxmem = int(node_knob(n, "maxmem", 8 * GiB))
            e.update({"level": "", "maxcpu": 4, "maxmem": maxmem, "maxdisk": 100861726720,
                      "uptime": 86400, "cpu": 0.02, "mem": int(node_knob(n, "mem", 2 * GiB)),
                      "disk": 9126805504})
        res.append(e)
    return res


def foreign_status(g):
    """The /cluster/resources entry of a guest on another member (no RRD data when its node
    is offline: no name, no numbers, status unknown)."""
    node = g["node"]
    typ = g.get("type", "lxc")
    e = {"id": f"{typ}/{g['vmid']}", "vmid": g["vmid"], "node": node, "type": typ}
    if not online(node) or truthy(node_knob(node, f"rrd_missing.{g['vmid']}", 0)):
        e["status"] = "unknown"
        return e
    if typ == "qemu":
        from .pvesh_qemu import resources  # noqa: PLC0415
        with on_node(node):
            mine = [r for r in resources() if r["vmid"] == g["vmid"]]
        return mine[0] if mine else dict(e, status="unknown")
    with on_node(node):
        conf = load_conf(g["vmid"], missing_ok=True)
        if conf is None:
            e["status"] = "unknown"
            return e
        e.update(resource(g["vmid"], conf["keys"], run_info(g["vmid"])))
    for k in ("lock", "tags"):
        if conf["keys"].get(k):
            e[k] = conf["keys"][k]
    return e


# ----------------------------------------------------------------------------- pct migrate

def pct_migrate(args):
    u = "pct migrate"
    pos, opts = parse_opts(args, u, bools=("online", "restart"), positional=2)
    check_known(opts, {"online", "restart", "timeout", "target-storage", "bwlimit"}, u)
    vmid = check_vmid(pos[0], u)
    target = pos[1]
    o = dict(opts)
    if target == Sim.node:
        param_die([("target", "target is local node.")], u)
    m = members()
    if not m or target not in m["nodes"]:
        die(f"no such cluster node '{target}'")
    conf = load_conf_or_die(vmid)
    if ha_managed(vmid):
        print(f"Requesting HA migration for CT {vmid} to node {target}")
        ha_request(vmid, "migrate", target)
        raise Exit(0)
    running = is_running(vmid)
    if running and o.get("online") != "1" and o.get("restart") != "1":
        die("can't migrate running container without --online or --restart")
    started = time.time()

    def ts():
        return fmt_time(now_local())

    def duration():
        s = int(time.time() - started)
        return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"

    def task(t):
        check_lock(conf["keys"])
        if running and o.get("online") == "1":
            t.log(f"{ts()} ERROR: migration aborted (duration {duration()}): "
                  f"lxc live migration is currently not implemented")
            raise TaskError("migration aborted")
        if running:
            t.log(f"{ts()} shutdown CT {vmid}")
            if not shutdown_container(vmid, int(o.get("timeout", 180))):
                kill_container(vmid)
        c = load_conf(vmid)
        c["keys"]["lock"] = "migrate"
        write_conf(vmid, c)
        t.log(f"{ts()} starting migration of CT {vmid} to node '{target}' "
              f"({m['nodes'][target].get('ip', '')})")
        vol = parse_propstr(c["keys"].get("rootfs", ""), "volume").get("volume", "")
        t.log(f"{ts()} found local volume '{vol}' (in current VM config)")
        dest = os.path.join(m["nodes"][target]["state"], "ct", str(vmid))
        if not online(target):
            t.log(f"{ts()} ERROR: migration aborted (duration {duration()}): "
                  f"target node '{target}' is not online")
            del c["keys"]["lock"]
            write_conf(vmid, c)
            raise TaskError("migration aborted")
        if os.path.exists(dest):
            shutil.rmtree(dest)
        if os.path.exists(ct_dir(vmid)):
            shutil.move(ct_dir(vmid), dest)
        t.log(f"{ts()} volume '{vol}' is '{vol}' on the target")
        del c["keys"]["lock"]
        write_conf(vmid, c)
        os.makedirs(os.path.dirname(conf_path(vmid, target)), exist_ok=True)
        os.replace(conf_path(vmid), conf_path(vmid, target))
        t.log(f"{ts()} start final cleanup")
        if running:
            t.log(f"{ts()} start container on target node")
            t.log(f"{ts()} # /usr/bin/ssh -e none -o 'BatchMode=yes' -o 'HostKeyAlias={target}' "
                  f"root@{m['nodes'][target].get('ip', '')} pct start {vmid}")
            r = run_on(target, ["pct", "start", str(vmid)])
            if r.returncode != 0:
                raise TaskError(f"command 'pct start {vmid}' failed: exit code "
                                f"{r.returncode}")
        t.log(f"{ts()} migration finished successfully (duration {duration()})")

    run_task(task)


def run_on(node, argv):
    """Runs a simulated command on another member (as its own sshd session would)."""
    state = (members() or {}).get("nodes", {}).get(node, {}).get("state", Sim.state)
    env = dict(os.environ, PXSIM_STATE=state,
               PATH=os.path.join(SIM, "bin") + ":/usr/sbin:/usr/bin:/sbin:/bin")
    return subprocess.run([HOST_PY, os.path.join(SIM, "bin", argv[0])] + argv[1:], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)


def dump(res):
    return json.dumps(res, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------------------- SSH host keys

# pve-cluster 8.0.6 (2024-03-25; Proxmox VE 8.2 and every 9.x) pins each node's key in
# nodes/<node>/ssh_known_hosts and stops merging priv/known_hosts on every start
# (pve-cluster commits a904dfe, 1f3febd, b1302e9).
PINNED_SINCE = (8, 2)


def updatecerts(etc_pve, node, ip, rsa_pub, pve_version, create):
    """The SSH part of `pvecm updatecerts` (pve-cluster src/PVE/Cluster/Setup.pm
    `updatecerts_and_ssh`) and of `pvecm create` (src/PVE/API2/ClusterConfig.pm, which
    merges priv/known_hosts on every release). Only the node's RSA key is ever recorded;
    a node without one fails as the real `can't parse /etc/ssh/ssh_host_rsa_key.pub`."""
    m = re.search(r"^(ssh-rsa\s\S+)(\s.*)?$", rsa_pub, re.M)
    if not m:
        raise ValueError("can't parse /etc/ssh/ssh_host_rsa_key.pub")
    hostkey = m.group(1)
    pinned = tuple(int(x) for x in re.findall(r"\d+", pve_version)[:2]) >= PINNED_SINCE
    if create or not pinned:
        merge_known_hosts(etc_pve, node, ip, hostkey)
    if pinned:
        # ssh_create_node_known_hosts: "$nodename $hostkey", no newline, name not lower-cased
        path = os.path.join(etc_pve, "nodes", node, "ssh_known_hosts")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(f"{node} {hostkey}")


def merge_known_hosts(etc_pve, node, ip, hostkey):
    """ssh_merge_known_hosts: keep every line of priv/known_hosts, add `<node> <key>` and
    `<ip> <key>` (lower-cased) unless a line for that name already has this key."""
    node, ip = node.lower(), ip.lower()
    path = os.path.join(etc_pve, "priv", "known_hosts")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        with open(path) as f:
            lines = [line.rstrip("\n") + "\n" for line in f if line.strip()]
    except FileNotFoundError:
        lines = []
    have = {tuple(line.split()[:3]) for line in lines if len(line.split()) >= 3}
    for name in (node, ip):
        if (name, *hostkey.split()) not in have:
            lines.append(f"{name} {hostkey}\n")
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w") as f:
        f.writelines(lines)
    os.replace(tmp, path)
