"""Container config files in PVE's on-disk format (STATE/etc/pve/nodes/<node>/lxc/
<vmid>.conf): parse/render (description comments, raw `lxc.*` lines, `[pve:pending]`),
load/write, which vmids exist here or elsewhere in the cluster (knob `foreign`), property
strings and size helpers, and the config with pending changes applied.
"""

import json
import os
import re

from .basics import Sim, TaskError, die, knob, members, st


ENC_OK = set(range(0x20, 0x25)) | set(range(0x26, 0x3A)) | set(range(0x3B, 0x7F))


def encode_text(s):
    return "".join(chr(b) if b in ENC_OK else "%%%02X" % b for b in s.encode())


def decode_text(s):
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  s.encode()).decode(errors="replace")


def conf_path(vmid, node=None):
    return st("etc", "pve", "nodes", node or Sim.node, "lxc", f"{vmid}.conf")


def conf_rel(vmid, kind="lxc"):
    """The config's name in the messages: `nodes/<node>/lxc/<vmid>.conf` (kind `qemu-server`
    for a VM)."""
    return f"nodes/{Sim.node}/{kind}/{vmid}.conf"


def qemu_conf_path(vmid, node=None):
    """A VM's config (qemu-server), beside the containers' lxc/ folder."""
    return st("etc", "pve", "nodes", node or Sim.node, "qemu-server", f"{vmid}.conf")


def vmids_in(d):
    """The vmids of the `<vmid>.conf` files in the folder d."""
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    return sorted(int(n[:-5]) for n in names if re.fullmatch(r"\d+\.conf", n))


def local_qemu_vmids():
    return vmids_in(os.path.dirname(qemu_conf_path(0)))


def section_line(line, section):
    """A key line of a config section (the main one or a snapshot's) into section["raw"]
    (`lxc.*` lines, `:` or `=`) or section["keys"]; any other line is passed over."""
    m = re.match(r"^(lxc\.[A-Za-z0-9_.\-]+)\s*[:=]\s*(.*?)\s*$", line)
    if m:
        section["raw"].append((m.group(1), m.group(2)))
        return
    m = re.match(r"^([a-z][a-z0-9_\-]*)\s*:\s*(.*?)\s*$", line)
    if m:
        section["keys"][m.group(1)] = m.group(2)


def parse_conf(text):
    conf = {"keys": {}, "raw": [], "pending": None, "tail": ""}
    descr = []
    lines = text.split("\n")
    section = None
    for i, line in enumerate(lines):
        m = re.match(r"^\[([^\]]+)\]\s*$", line)
        if m:
            if m.group(1) == "pve:pending":
                conf["pending"] = {}
                section = "pending"
                continue
            conf["tail"] = "\n".join(lines[i:])
            break
        if not line.strip():
            continue
        if section == "pending":
            m = re.match(r"^([a-z][a-z0-9_\-]*)\s*:\s*(.*?)\s*$", line)
            if m:
                conf["pending"][m.group(1)] = m.group(2)
            continue
        if line.startswith("#"):
            descr.append(decode_text(line[1:]))
        else:
            section_line(line, conf)
    if descr:
        conf["keys"]["description"] = "".join(d + "\n" for d in descr)
    return conf


def render_conf(conf):
    s = ""
    d = conf["keys"].get("description")
    if d:
        for line in d.rstrip("\n").split("\n"):
            s += "#" + encode_text(line) + "\n"
    for k in sorted(conf["keys"]):
        if k in ("description", "digest"):
            continue
        s += f"{k}: {conf['keys'][k]}\n"
    for k, v in conf["raw"]:
        s += f"{k}: {v}\n"
    if conf.get("pending"):
        s += "\n[pve:pending]\n"
        for k in sorted(conf["pending"]):
            s += f"{k}: {conf['pending'][k]}\n"
    if conf.get("tail"):
        s += "\n" + conf["tail"].rstrip("\n") + "\n"
    return s


def guest_conf_path(vmid, kind="lxc"):
    """A container's config (kind `lxc`) or a VM's (`qemu-server`)."""
    return conf_path(vmid) if kind == "lxc" else qemu_conf_path(vmid)


def load_conf(vmid, missing_ok=False, kind="lxc"):
    """A guest's config parsed (qm_config's load_vm: kind `qemu-server`)."""
    try:
        with open(guest_conf_path(vmid, kind)) as f:
            return parse_conf(f.read())
    except FileNotFoundError:
        if missing_ok:
            return None
        raise TaskError(f"Configuration file '{conf_rel(vmid, kind)}' does not exist")


def load_conf_or_die(vmid, kind="lxc"):
    """load_conf's TaskError a plain `die` (exit 2) before any task."""
    try:
        return load_conf(vmid, kind=kind)
    except TaskError as e:
        die(str(e))


def write_conf(vmid, conf, kind="lxc"):
    """Rendered into a temporary file beside it, then renamed over it."""
    path = guest_conf_path(vmid, kind)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(render_conf(conf))
    os.replace(tmp, path)


def local_vmids():
    return vmids_in(os.path.dirname(conf_path(0)))


def foreign_guests():
    """Guests on other cluster nodes: the configs in the shared nodes/<other>/lxc/ of a
    simulated cluster, plus knob `foreign` (a JSON list)."""
    v = knob("foreign", default=[])
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            v = []
    v = list(v or [])
    for node in sorted((members() or {}).get("nodes", {})):
        if node == Sim.node:
            continue
        for typ, d in (("lxc", os.path.dirname(conf_path(0, node))),
                       ("qemu", os.path.dirname(qemu_conf_path(0, node)))):
            for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                if re.fullmatch(r"\d+\.conf", n):
                    try:
                        with open(os.path.join(d, n)) as f:
                            keys = parse_conf(f.read())["keys"]
                    except OSError:
                        continue
                    name = (keys.get("hostname") or f"CT{n[:-5]}") if typ == "lxc" else \
                        (keys.get("name") or f"VM{n[:-5]}")
                    v.append({"vmid": int(n[:-5]), "node": node, "type": typ,
                              "name": name, "member": True})
    return v


def owner_of(vmid):
    """(type, node) of a vmid anywhere in the cluster, or None."""
    if os.path.exists(conf_path(vmid)):
        return ("lxc", Sim.node)
    if os.path.exists(qemu_conf_path(vmid)):
        return ("qemu", Sim.node)
    for g in foreign_guests():
        if int(g.get("vmid", 0)) == int(vmid):
            return (g.get("type", "lxc"), g.get("node", "pve2"))
    return None


def parse_propstr(s, default_key=None):
    out_ = []
    for part in s.split(","):
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        elif default_key:
            k, v = default_key, part
        else:
            k, v = part, ""
        out_.append((k, v))
    return dict(out_)


def fmt_disk_size(gib):
    """format_size for disk sizes (K/M/G/T suffix)."""
    b = int(round(gib * 1024 ** 3))
    for unit, mul in (("T", 1024 ** 4), ("G", 1024 ** 3), ("M", 1024 ** 2), ("K", 1024)):
        if b % mul == 0:
            return f"{b // mul}{unit}"
    return str(b)


def size_to_bytes(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", s or "")
    if not m:
        return 4 * 1024 ** 3
    mul = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}[m.group(2)]
    return int(float(m.group(1)) * mul)


def current_keys(conf):
    """Config as `pct config` shows it by default: pending changes applied."""
    keys = dict(conf["keys"])
    p = conf.get("pending") or {}
    for k, v in p.items():
        if k == "delete":
            for d in re.split(r"[,;\s]+", v):
                d = d.lstrip("!")
                keys.pop(d, None)
        else:
            keys[k] = v
    return keys
