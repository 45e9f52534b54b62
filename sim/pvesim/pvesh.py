"""`pvesh get` (cluster/nextid, cluster/resources, nodes, version, a node's network,
lxc, storage and a container's status/config; text tables or JSON), the backup jobs of
`/cluster/backup` (create/get/set/delete, in jobs.py) and `pveversion`.
"""

import json
import re

from . import jobs
from .basics import Exit, STORAGES, Sim, die, knob, out, param_die
from .options import expand_cmd, parse_opts, usage_abort
from .config import (
    current_keys, foreign_guests, load_conf, load_conf_or_die, local_qemu_vmids, local_vmids,
)
from .containers import bridges, run_info
from .pct_config import vmstatus
from . import rrd
from .nodes import node_names, on_node
from .cluster import cluster_status, foreign_status, nodes_index
from .ha import crm, hastate, read_resources, requested, sid, verbose_state


def pvesh_main(args):
    if not args:
        usage_abort("pvesh", "")
    cmd = expand_cmd(args[0], ["create", "delete", "get", "ls", "set", "usage"], "pvesh")
    if cmd not in ("create", "delete", "get", "set"):
        die(f"pxsim: 'pvesh {cmd}' is not simulated", 1)
    fmt_bools = ("noborder", "noheader", "quiet", "human-readable")
    pos, opts = parse_opts(args[1:], f"pvesh {cmd}", bools=fmt_bools + jobs.BOOLS, positional=1)
    path = "/" + pos[0].strip("/")
    if cmd == "create" and re.fullmatch(r"/nodes/[^/]+/storage/[^/]+/download-url", path):
        from .download import download_url  # noqa: PLC0415
        parts = path.split("/")
        opts = [(k, v) for k, v in opts if k not in fmt_bools and k != "output-format"]
        if parts[2] not in node_names() and parts[2] != "localhost":
            die(f"hostname lookup '{parts[2]}' failed - failed to get address info for: "
                f"{parts[2]}: Name or service not known")
        if parts[2] in node_names() and parts[2] != Sim.node:
            with on_node(parts[2]):
                download_url(parts[2], parts[4], opts)
        download_url(parts[2], parts[4], opts)
    if cmd != "get":
        if not path.startswith("/cluster/backup"):
            die(f"pxsim: 'pvesh {cmd} {path}' is not simulated", 1)
        opts = [(k, v) for k, v in opts if k not in fmt_bools and k != "output-format"]
        if cmd == "create":
            jobs.jobs_create(path, opts)
        elif cmd == "set":
            jobs.jobs_set(path, opts)
        jobs.jobs_delete(path)
    o = dict(opts)
    fmt = o.get("output-format", "text")
    if fmt not in ("text", "json", "json-pretty", "yaml"):
        param_die([("output-format", f"value '{fmt}' does not have a value in the enumeration "
                                     f"'text, json, json-pretty, yaml'")], "pvesh get")
    res = jobs.jobs_get(path, o)
    if res is not None:
        pass
    elif path == "/cluster/nextid":
        used = set(local_vmids()) | set(local_qemu_vmids()) | \
            {int(g["vmid"]) for g in foreign_guests()}
        if o.get("vmid"):
            v = int(o["vmid"])
            if v in used:
                param_die([("vmid", f"VM {v} already exists")], "pvesh get")
            res = str(v)
        else:
            res = next(str(i) for i in range(100, 1000000) if i not in used)
    elif path == "/cluster/resources":
        t = o.get("type")
        res = []
        if t in (None, "vm"):
            guests = []
            for vmid in local_vmids():
                keys = load_conf(vmid)["keys"]
                g = {"id": f"lxc/{vmid}", "vmid": vmid, "node": Sim.node, "type": "lxc"}
                g.update(rrd.resource(vmid, keys, run_info(vmid)))
                for k in ("lock", "tags"):
                    if keys.get(k):
                        g[k] = keys[k]
                guests.append(g)
            from .pvesh_qemu import resources  # noqa: PLC0415
            guests += resources()
            for f in foreign_guests():
                if f.get("member"):
                    guests.append(foreign_status(f))
                    continue
                g = {"id": f"{f.get('type', 'lxc')}/{f['vmid']}", "vmid": int(f["vmid"]),
                     "node": f.get("node", "pve2"), "type": f.get("type", "lxc"),
                     "status": f.get("status", "stopped"), "name": f.get("name", ""),
                     "template": 0, "uptime": 0}
                guests.append(g)
            for g in guests:
                h = hastate(g["vmid"])
                if h:
                    g["hastate"] = h
            res += sorted(guests, key=lambda g: str(g["vmid"]))
        if t in (None, "storage"):
            for s in sorted(STORAGES):
                i = STORAGES[s]
                res.append({"id": f"storage/{Sim.node}/{s}", "storage": s, "node": Sim.node,
                            "type": "storage", "status": "available", "plugintype": i["type"],
                            "content": ",".join(i["content"]), "maxdisk": i["total"],
                            "disk": i["used"], "shared": 0})
        if t in (None, "node"):
            for n in nodes_index():
                res.append({k: v for k, v in n.items() if k != "ssl_fingerprint"})
    elif path == "/cluster/status":
        res = cluster_status()
    elif path == "/nodes":
        res = nodes_index()
    elif path == "/cluster/ha/resources":
        res = []
        for vmid, keys in read_resources().items():
            e = {"sid": sid(vmid), "type": sid(vmid).split(":")[0],
                 "digest": "%040x" % abs(hash(str(keys)))}
            e.update({k: (int(v) if v.isdigit() else v) for k, v in keys.items()})
            res.append(e)
    elif path == "/cluster/ha/status/current":
        res = [{"id": "quorum", "node": Sim.node, "quorate": 1, "status": "OK",
                "type": "quorum"}]
        c = crm()
        for vmid, keys in sorted(read_resources().items(), key=lambda kv: sid(kv[0])):
            v = verbose_state(vmid, keys, c)
            owner = next((g["node"] for g in foreign_guests() if g["vmid"] == vmid), Sim.node)
            e = {"id": f"service:{sid(vmid)}", "sid": sid(vmid), "type": "service",
                 "node": owner, "state": v, "status": f"{sid(vmid)} ({owner}, {v})",
                 "request_state": requested(keys), "max_restart": 1, "max_relocate": 1,
                 "failback": 1}
            if v != "queued":
                e["crm_state"] = v
            res.append(e)
    elif path == "/version":
        res = {"version": Sim.cfg.get("pve_version"), "release": Sim.cfg["pve_version"].rsplit(
            ".", 1)[0], "repoid": Sim.cfg.get("repoid")}
    else:
        m = re.fullmatch(r"/nodes/([^/]+)(/.*)?", path)
        if not m:
            die(f"No 'get' handler defined for '{path}'")
        if m.group(1) not in node_names() and m.group(1) != "localhost" and \
                m.group(1) not in {g.get("node") for g in foreign_guests()}:
            die(f"hostname lookup '{m.group(1)}' failed - failed to get address info for: "
                f"{m.group(1)}: Name or service not known")
        sub = m.group(2) or ""
        if m.group(1) in node_names() and m.group(1) != Sim.node:
            with on_node(m.group(1)):  # pvesh proxies to the owner (more §3.5)
                return pvesh_main(args)
        if sub == "/network":
            res = []
            t = o.get("type")
            res.append({"iface": "eno1", "type": "eth", "active": 1, "exists": 1,
                        "method": "manual", "method6": "manual", "families": ["inet"],
                        "priority": 3})
            for i, b in enumerate(bridges()):
                e = {"iface": b, "type": "bridge", "active": 1, "autostart": 1,
                     "bridge_ports": "eno1" if i == 0 else "", "bridge_stp": "off",
                     "bridge_fd": "0", "method": "static" if i == 0 else "manual",
                     "method6": "manual", "families": ["inet"], "priority": 4 + i}
                if i == 0:
                    e.update({"address": "192.0.2.2", "netmask": "24", "cidr": "192.0.2.2/24",
                              "gateway": "192.0.2.1"})
                res.append(e)
            if t and t not in ("any_bridge",):
                res = [r for r in res if r["type"] == t]
            elif t == "any_bridge":
                res = [r for r in res if r["type"] in ("bridge", "OVSBridge")]
        elif sub == "/lxc":
            res = []
            for vmid in local_vmids():
                keys = load_conf(vmid)["keys"]
                s = vmstatus(vmid, keys, run_info(vmid))
                s.pop("pid", None)
                res.append(s)
        elif sub == "/storage":
            res = []
            for s in sorted(STORAGES):
                i = STORAGES[s]
                if o.get("content") and o["content"] not in i["content"]:
                    continue
                res.append({"storage": s, "type": i["type"], "content": ",".join(i["content"]),
                            "active": 1, "enabled": 1, "shared": 0, "total": i["total"],
                            "used": i["used"], "avail": i["total"] - i["used"],
                            "used_fraction": i["used"] / i["total"]})
        elif re.fullmatch(r"/(lxc|qemu)/\d+/rrddata", sub):
            res = rrddata(int(sub.split("/")[2]), o)
        elif re.fullmatch(r"/qemu(/.*)?|/tasks/.*", sub):
            from .pvesh_qemu import qemu_get  # noqa: PLC0415
            res = qemu_get(sub, o)
            if res is None:
                die(f"No 'get' handler defined for '{path}'")
        elif re.fullmatch(r"/lxc/\d+/(status/current|config)", sub):
            vmid = int(sub.split("/")[2])
            conf = load_conf_or_die(vmid)
            if sub.endswith("config"):
                res = dict(current_keys(conf))
                for k in ("memory", "swap", "cores", "onboot", "unprivileged", "protection"):
                    if k in res:
                        res[k] = int(res[k])
            else:
                res = vmstatus(vmid, conf["keys"], run_info(vmid))
                res.pop("pid", None)
        else:
            die(f"No 'get' handler defined for '{path}'")
    if o.get("quiet") == "1":
        raise Exit(0)
    if fmt == "json":
        out(json.dumps(res, sort_keys=True, separators=(",", ":")))
    elif fmt == "json-pretty":
        out(json.dumps(res, sort_keys=True, indent=3))
    elif isinstance(res, str):
        out(res)
    else:
        print_text_table(res)
    raise Exit(0)


def rrddata(vmid, o):
    """`/nodes/<node>/{lxc,qemu}/<vmid>/rrddata --timeframe … [--cf …]` (API2/LXC.pm
    `rrddata`: no config check; RRD.pm reads the guest's RRD file)."""
    errors = []
    tf, cf = o.get("timeframe"), o.get("cf")
    if tf is None:
        errors.append(("timeframe", "property is missing"))
    elif tf not in rrd.TIMEFRAMES:
        errors.append(("timeframe", f"value '{tf}' does not have a value in the enumeration "
                                    f"'hour, day, week, month, year'"))
    if cf is not None and cf not in ("AVERAGE", "MAX"):
        errors.append(("cf", f"value '{cf}' does not have a value in the enumeration "
                             f"'AVERAGE, MAX'"))
    if errors:
        param_die(errors, "pvesh get")
    conf = load_conf(vmid, missing_ok=True)
    if conf:
        rrd.record(vmid, conf["keys"], run_info(vmid), 1)
    if not rrd.has_rrd(vmid):
        # RRDs::fetch of a missing file, through rrdcached (UNCONFIRMED text)
        die(f"RRD error: mmaping file '/var/lib/rrdcached/db/pve-vm-9.0/{vmid}': "
            f"No such file or directory")
    return rrd.rrddata(vmid, tf, cf or "AVERAGE")


def print_text_table(res):
    rows = res if isinstance(res, list) else [{"key": k, "value": v} for k, v in sorted(res.items())]
    if not rows:
        return
    cols = sorted({k for r in rows for k in r})
    vals = [[("" if r.get(c) is None else (json.dumps(r[c]) if isinstance(r[c], (list, dict))
                                             else str(r[c]))) for c in cols] for r in rows]
    w = [max(len(c), *(len(v[i]) for v in vals)) for i, c in enumerate(cols)]
    line = "┌" + "┬".join("─" * (x + 2) for x in w) + "┐"
    out(line)
    out("│" + "│".join(" " + c.ljust(w[i]) + " " for i, c in enumerate(cols)) + "│")
    out("╞" + "╪".join("═" * (x + 2) for x in w) + "╡")
    for j, v in enumerate(vals):
        out("│" + "│".join(" " + x.ljust(w[i]) + " " for i, x in enumerate(v)) + "│")
        if j + 1 < len(vals):
            out("├" + "┼".join("─" * (x + 2) for x in w) + "┤")
    out("└" + "┴".join("─" * (x + 2) for x in w) + "┘")


# ----------------------------------------------------------------------------- pveversion

# lxc-pve with the AppArmor fix for runc's CVE-2025-52881 change (runc #4968) is 6.0.5-2.
LXC_PVE = "6.0.5-3"


def pveversion_main(args):
    v = Sim.cfg.get("pve_version", "9.2.11")
    kern = Sim.cfg.get("kernel", "6.14.11-4-pve")
    rid = Sim.cfg.get("repoid", "8e2cb7a1d4f05c39")
    if args and args[0] in ("-v", "--verbose"):
        out(f"proxmox-ve: {v.rsplit('.', 1)[0]}.0 (running kernel: {kern})")
        out(f"pve-manager: {v} (running version: {v}/{rid})")
        out(f"proxmox-kernel-helper: {v.split('.')[0]}.0.4")
        out("pve-container: 6.1.10")
        out("libpve-common-perl: 9.2.1")
        out("libpve-guest-common-perl: 6.0.2")
        out("libpve-storage-perl: 9.1.7")
        out("pve-cluster: 9.1.6")
        out(f"lxc-pve: {knob('lxc_pve_version', None, LXC_PVE)}")
        out("lxcfs: 6.0.4-pve1")
        raise Exit(0)
    out(f"pve-manager/{v}/{rid} (running kernel: {kern})")
    raise Exit(0)
