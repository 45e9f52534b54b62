"""`pvesm`: `status`, `list` (backups, templates, container disks, the snapshots of a
Proxmox Backup Server storage), `path` and `extractconfig`; plus the backup listing that
vzdump's retention uses.
"""

import os
import re
import subprocess
import sys
import time

from .basics import Exit, STORAGES, die, out, st
from .options import check_known, expand_cmd, parse_opts, usage_abort
from .config import load_conf, local_vmids, parse_propstr, size_to_bytes
from .pveam import storage_check
from . import pbs


def backup_list(storage, vmid=None):
    """Backups on a dir storage: [(volid, path, format, size, vmid, ctime)]."""
    d = st("var", "lib", "vz", "dump")
    res = []
    if storage != "local" or not os.path.isdir(d):
        return res
    for fn in os.listdir(d):
        m = re.fullmatch(r"vzdump-(lxc|qemu|openvz)-(\d+)-(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)"
                         r"\.(tar|tar\.zst|tar\.gz|tar\.lzo|vma|vma\.zst|vma\.gz|vma\.lzo)", fn)
        if not m:
            continue
        if vmid is not None and int(m.group(2)) != int(vmid):
            continue
        p = os.path.join(d, fn)
        ctime = time.mktime(tuple(int(x) for x in m.groups()[2:8]) + (0, 0, -1))
        res.append({"volid": f"{storage}:backup/{fn}", "path": p, "format": m.group(9),
                    "size": os.path.getsize(p), "vmid": int(m.group(2)), "ctime": int(ctime),
                    "type": m.group(1), "protected": os.path.exists(p + ".protected")})
    return sorted(res, key=lambda x: x["volid"].lower())


def pvesm_main(args):
    if not args:
        usage_abort("pvesm", "")
    cmd = expand_cmd(args[0], ["add", "alloc", "free", "list", "path", "remove", "set",
                               "status", "extractconfig"], "pvesm")
    rest = args[1:]
    if cmd == "status":
        _, opts = parse_opts(rest, "pvesm status")
        check_known(opts, {"content", "storage", "enabled", "format", "target"}, "pvesm status")
        o = dict(opts)
        sids = [s for s in sorted(STORAGES)
                if (not o.get("storage") or s == o["storage"])
                and (not o.get("content") or o["content"] in STORAGES[s]["content"])]
        if o.get("storage") and o["storage"] not in STORAGES:
            die(f"storage '{o['storage']}' does not exist")
        maxlen = max([len(s) for s in sids] + [0]) + 1
        out(("%-" + str(maxlen) + "s %10s %10s %15s %15s %15s %8s") %
            ("Name", "Type", "Status", "Total (KiB)", "Used (KiB)", "Available (KiB)", "%"))
        for s in sids:
            i = STORAGES[s]
            used = i["used"] + (dump_usage() if s == "local" else 0)
            out(("%-" + str(maxlen) + "s %10s %10s %15d %15d %15d % 7.2f%%") %
                (s, i["type"], "active", i["total"] // 1024, used // 1024,
                 (i["total"] - used) // 1024, used * 100 / i["total"]))
        raise Exit(0)
    if cmd == "list":
        pos, opts = parse_opts(rest, "pvesm list", positional=1)
        check_known(opts, {"content", "vmid"}, "pvesm list")
        o = dict(opts)
        storage_check(pos[0])
        items = []
        if o.get("content") in (None, "backup"):
            items += backup_list(pos[0], o.get("vmid"))
            if pbs.is_pbs(pos[0]):
                items += pbs.list_backups(pos[0], o.get("vmid"))
            for b in items:
                b["content"] = "backup"
        if o.get("content") in (None, "vztmpl") and pos[0] == "local" and not o.get("vmid"):
            d = st("var", "lib", "vz", "template", "cache")
            for fn in sorted(os.listdir(d) if os.path.isdir(d) else []):
                items.append({"volid": f"local:vztmpl/{fn}", "format": "tzst" if
                              fn.endswith(".zst") else "tgz", "content": "vztmpl",
                              "size": os.path.getsize(os.path.join(d, fn)), "vmid": None})
        for ctype, sub in (("import", "import"), ("snippets", "snippets"), ("iso", "template/iso")):
            if o.get("content") in (None, ctype) and pos[0] == "local" and not o.get("vmid") \
                    and ctype in STORAGES["local"]["content"]:
                d = st("var", "lib", "vz", *sub.split("/"))
                for fn in sorted(os.listdir(d) if os.path.isdir(d) else []):
                    fmt = fn.rsplit(".", 1)[-1] if ctype != "snippets" else "snippet"
                    items.append({"volid": f"local:{ctype}/{fn}", "format": fmt,
                                  "content": ctype, "vmid": None,
                                  "size": os.path.getsize(os.path.join(d, fn))})
        if o.get("content") in (None, "rootdir", "images") and pos[0] == "local-lvm":
            for vmid in local_vmids():
                if o.get("vmid") and int(o["vmid"]) != vmid:
                    continue
                keys = load_conf(vmid)["keys"]
                r = parse_propstr(keys.get("rootfs", ""), "volume")
                if r.get("volume", "").startswith("local-lvm:"):
                    items.append({"volid": r["volume"], "format": "raw", "content": "rootdir",
                                  "size": size_to_bytes(r.get("size", "4G")), "vmid": vmid})
        items.sort(key=lambda x: x["volid"].lower())
        maxname = max([len(i["volid"]) for i in items] + [0])
        maxsize = max([i["size"] for i in items] + [0])
        base = "%-" + str(maxname) + "s %-7s %-9s %" + str(len(str(maxsize))) + "s"
        out((base + " %s") % ("Volid", "Format", "Type", "Size", "VMID"))
        for i in items:
            if i["vmid"]:
                out((base + " %d") % (i["volid"], i["format"], i["content"], i["size"],
                                      i["vmid"]))
        for i in sorted(items, key=lambda x: x["format"]):
            if not i["vmid"]:
                out(base % (i["volid"], i["format"], i["content"], i["size"]))
        raise Exit(0)
    if cmd == "path":
        pos, _ = parse_opts(rest, "pvesm path", positional=1)
        v = pos[0]
        m = re.fullmatch(r"local:(backup|vztmpl|iso|snippets|import)/(.+)", v)
        if m:
            sub = {"backup": "dump", "vztmpl": "template/cache", "iso": "template/iso",
                   "snippets": "snippets", "import": "import"}[m.group(1)]
            out(f"/var/lib/vz/{sub}/{m.group(2)}")
            raise Exit(0)
        m = re.fullmatch(r"local-lvm:(.+)", v)
        if m:
            out(f"/dev/pve/{m.group(1)}")
            raise Exit(0)
        die(f"unable to parse volume ID '{v}'")
    if cmd == "extractconfig":
        pos, _ = parse_opts(rest, "pvesm extractconfig", positional=1)
        m = re.fullmatch(r"local:backup/(.+)", pos[0])
        p = st("var", "lib", "vz", "dump", m.group(1)) if m else None
        if not p or not os.path.exists(p):
            die(f"volume '{pos[0]}' does not exist")
        inner = "./etc/vzdump/qemu-server.conf" if "vzdump-qemu-" in p else "./etc/vzdump/pct.conf"
        r = subprocess.run(["tar", "-xOf", p, inner], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if r.returncode != 0:
            die("unable to extract configuration for container")
        sys.stdout.write(r.stdout.decode() + "\n")
        raise Exit(0)
    die(f"pxsim: 'pvesm {cmd}' is not simulated", 1)


def dump_usage():
    d = st("var", "lib", "vz", "dump")
    try:
        return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    except OSError:
        return 0
