"""The config side of `pct`: the config schema (settable keys, booleans, hot-plug keys,
value checks and canonical forms such as net[n] with a generated hwaddr) and the commands
that show or edit a config: list, status (with `vmstatus`, also used by pvesh), config,
pending, set, unlock.
"""

import os
import random
import re
import time

from .basics import Exit, ct_lock, die, out, param_die
from .options import check_known, check_vmid, parse_opts
from .config import (
    current_keys, encode_text, load_conf, load_conf_or_die, local_vmids, parse_propstr,
    write_conf,
)
from .containers import is_running, run_info
from .rrd import measure


SET_KEYS = {"arch", "cmode", "console", "cores", "cpulimit", "cpuunits", "debug",
            "description", "features", "hookscript", "hostname", "lock", "memory",
            "nameserver", "onboot", "ostype", "protection", "rootfs", "searchdomain",
            "startup", "swap", "tags", "template", "timezone", "tty", "unprivileged",
            "entrypoint", "env"} | {f"net{i}" for i in range(32)} | {f"mp{i}" for i in range(256)} \
    | {f"dev{i}" for i in range(256)}
BOOL_KEYS = {"console", "debug", "onboot", "protection", "template", "unprivileged"}
HOT_KEYS = {"description", "onboot", "startup", "protection", "hostname", "hookscript",
            "cores", "tags", "lock", "memory", "swap", "cpulimit", "cpuunits"}


def new_mac():
    return "BC:24:11:" + ":".join("%02X" % random.randint(0, 255) for _ in range(3))


def canon_net(key, value, old=None):
    """net[n] re-rendered like print_property_string: name first, rest sorted,
    hwaddr generated (BC:24:11 prefix), type=veth."""
    try:
        p = parse_propstr(value)
    except ValueError:
        return None, f"{key}: invalid format"
    errs = []
    if "name" not in p:
        errs.append((f"{key}.name", "property is missing and it is not optional"))
    ip = p.get("ip")
    if ip is not None and ip not in ("dhcp", "manual"):
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\.(\d+)/(\d+)", ip)
        if not m or any(int(x) > 255 for x in m.groups()[:4]) or int(m.group(5)) > 32:
            errs.append((f"{key}.ip", "invalid format - value does not look like a valid "
                                      "ipv4 network configuration"))
    gw = p.get("gw")
    if gw is not None and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", gw):
        errs.append((f"{key}.gw", f"invalid format - value does not look like a valid "
                                  f"IPv4 address"))
    if errs:
        return None, errs
    if "hwaddr" not in p:
        oldp = parse_propstr(old) if old else {}
        p["hwaddr"] = oldp.get("hwaddr") or new_mac()
    p["type"] = "veth"
    rest = sorted(k for k in p if k != "name")
    return ",".join([f"name={p['name']}"] + [f"{k}={p[k]}" for k in rest]), None


def norm_tags(v):
    tags = sorted({t.lower() for t in re.split(r"[;,\s]+", v) if t})
    return ";".join(tags)


def validate_value(k, v, usage_key, vmid=None, old=None):
    """Schema checks for create/set; returns the value as stored."""
    if k in BOOL_KEYS:
        if v.lower() not in ("1", "0", "yes", "no", "on", "off", "true", "false"):
            param_die([(k, f"type check ('boolean') failed - got '{v}'")], usage_key)
        return "1" if v.lower() in ("1", "yes", "on", "true") else "0"
    if k in ("memory", "swap", "cores", "cpuunits", "tty"):
        if not re.fullmatch(r"\d+", v):
            param_die([(k, f"type check ('integer') failed - got '{v}'")], usage_key)
        mins = {"memory": 16, "swap": 0, "cores": 1, "cpuunits": 0, "tty": 0}
        if int(v) < mins[k]:
            param_die([(k, f"value must have a minimum value of {mins[k]}")], usage_key)
        return str(int(v))
    if k == "hostname":
        if len(v) > 255 or not re.fullmatch(
                r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*"
                r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?", v):
            param_die([(k, "invalid format - value does not look like a valid DNS name")],
                      usage_key)
        return v
    if re.fullmatch(r"net\d+", k):
        res, errs = canon_net(k, v, old)
        if errs:
            param_die(errs, usage_key)
        return res
    if k == "tags":
        return norm_tags(v)
    if k in ("nameserver", "searchdomain"):
        return " ".join(x for x in re.split(r"[,;\s]+", v) if x)
    if k == "features":
        for part in v.split(","):
            kk = part.split("=", 1)[0]
            if kk not in ("force_rw_sys", "fuse", "keyctl", "mknod", "mount", "nesting"):
                param_die([(f"features.{kk}", "property is not defined in schema and the "
                                              "schema does not allow additional properties")],
                          usage_key)
        return v
    if k == "ostype" and v not in ("debian", "devuan", "ubuntu", "centos", "fedora",
                                   "opensuse", "archlinux", "alpine", "gentoo", "nixos",
                                   "unmanaged"):
        param_die([(k, f"value '{v}' does not have a value in the enumeration 'debian, devuan, "
                       f"ubuntu, centos, fedora, opensuse, archlinux, alpine, gentoo, nixos, "
                       f"unmanaged'")], usage_key)
    if k == "lock" and v not in ("backup", "create", "destroyed", "disk", "fstrim", "migrate",
                                 "mounted", "rollback", "snapshot", "snapshot-delete"):
        param_die([(k, f"value '{v}' does not have a value in the enumeration 'backup, create, "
                       f"destroyed, disk, fstrim, migrate, mounted, rollback, snapshot, "
                       f"snapshot-delete'")], usage_key)
    return v


def pct_list(args):
    parse_opts(args, "pct list")
    rows = []
    for vmid in local_vmids():
        conf = load_conf(vmid, missing_ok=True)
        if conf is None:
            continue
        keys = conf["keys"]
        name = re.sub(r"\s", "", keys.get("hostname") or f"CT{vmid}")
        rows.append((str(vmid), "running" if is_running(vmid) else "stopped",
                     keys.get("lock", ""), name))
    if not rows:
        return
    fmt = "%-10s %-10s %-12s %-20s"
    out(fmt % ("VMID", "Status", "Lock", "Name"))
    for r in rows:
        out(fmt % r)


def vmstatus(vmid, keys, info):
    """LXC.pm vmstatus: the live counters (rrd.measure), `cpu` always 0 (it is computed
    against the previous sample of the same process, and every call is a new process)."""
    m = measure(vmid, keys, info)
    running = info is not None
    d = {
        "cpu": 0, "cpus": m["maxcpu"], "disk": m["disk"], "diskread": m["diskread"],
        "diskwrite": m["diskwrite"], "maxdisk": m["maxdisk"], "maxmem": m["maxmem"],
        "maxswap": int(keys.get("swap", 512)) * 1048576, "mem": m["mem"],
        "name": re.sub(r"\s", "", keys.get("hostname") or f"CT{vmid}"),
        "netin": m["netin"], "netout": m["netout"],
        "status": "running" if running else "stopped", "swap": 0,
        "type": "lxc", "uptime": int(time.time() - info["started"]) if running else 0,
        "vmid": vmid,
    }
    if keys.get("lock"):
        d["lock"] = keys["lock"]
    if keys.get("tags"):
        d["tags"] = keys["tags"]
    if keys.get("template"):
        d["template"] = 1
    if running:
        d["pid"] = info["init_pid"]
    return d


def pct_status(args):
    pos, opts = parse_opts(args, "pct status", bools=("verbose",), positional=1)
    check_known(opts, {"verbose"}, "pct status")
    vmid = check_vmid(pos[0], "pct status")
    conf = load_conf_or_die(vmid)
    info = run_info(vmid)
    if dict(opts).get("verbose") == "1":
        s = vmstatus(vmid, conf["keys"], info)
        for k in sorted(s):
            if k != "cpu":
                out(f"{k}: {s[k]}")
    else:
        out(f"status: {'running' if info else 'stopped'}")


def pct_config(args):
    pos, opts = parse_opts(args, "pct config", bools=("current",), positional=1)
    check_known(opts, {"current", "snapshot"}, "pct config")
    vmid = check_vmid(pos[0], "pct config")
    conf = load_conf_or_die(vmid)
    keys = conf["keys"] if dict(opts).get("current") == "1" else current_keys(conf)
    for k in sorted(keys):
        if k in ("digest",):
            continue
        v = encode_text(keys[k]) if k == "description" else keys[k]
        out(f"{k}: {v}")
    for k, v in conf["raw"]:
        out(f"{k}: {v}")


def pct_pending(args):
    pos, _ = parse_opts(args, "pct pending", positional=1)
    vmid = check_vmid(pos[0], "pct pending")
    conf = load_conf_or_die(vmid)
    p = conf.get("pending") or {}
    keys = conf["keys"]
    dels = set()
    if "delete" in p:
        dels = {d.lstrip("!") for d in re.split(r"[,;\s]+", p["delete"]) if d}
    def show(k, v):
        return encode_text(v) if k == "description" else v

    for k in sorted(set(keys) | set(p) - {"delete"}):
        if k == "delete":
            continue
        if k in dels:
            out(f"del {k}: {show(k, keys.get(k, ''))}")
        elif k in p and k in keys:
            out(f"cur {k}: {show(k, keys[k])}")
            out(f"new {k}: {show(k, p[k])}")
        elif k in p:
            out(f"new {k}: {show(k, p[k])}")
        else:
            out(f"cur {k}: {show(k, keys[k])}")


def pct_set(args):
    u = "pct set"
    pos, opts = parse_opts(args, u, bools=tuple(BOOL_KEYS), positional=1)
    check_known(opts, SET_KEYS | {"delete", "revert", "digest"}, u)
    vmid = check_vmid(pos[0], u)
    if not opts:
        load_conf_or_die(vmid)
        die("no options specified")
    with ct_lock(vmid):
        conf = load_conf_or_die(vmid)
        keys = conf["keys"]
        if keys.get("lock") and not any(k == "lock" for k, _ in opts) \
                and not any(k == "delete" and "lock" in v for k, v in opts):
            die(f"CT is locked ({keys['lock']})")
        running = is_running(vmid)
        pending = conf.get("pending") or {}
        for k, v in opts:
            if k == "digest":
                continue
            if k == "delete":
                for d in [x for x in re.split(r"[,;\s]+", v) if x]:
                    if d in ("memory", "rootfs", "ostype"):
                        die(f"unable to delete required option '{d}'")
                    if d == "unprivileged":
                        die("unable to delete read-only option: 'unprivileged'")
                    if running and d not in HOT_KEYS and not re.fullmatch(r"net\d+", d):
                        dl = [x for x in pending.get("delete", "").split(",") if x]
                        if d not in dl:
                            dl.append(d)
                        pending["delete"] = ",".join(dl)
                    else:
                        keys.pop(d, None)
                continue
            if k == "revert":
                for d in [x for x in re.split(r"[,;\s]+", v) if x]:
                    pending.pop(d, None)
                    dl = [x for x in pending.get("delete", "").split(",") if x and x != d]
                    if dl:
                        pending["delete"] = ",".join(dl)
                    else:
                        pending.pop("delete", None)
                continue
            if k == "unprivileged":
                die("unable to modify read-only option: 'unprivileged'")
            val = validate_value(k, v, u, vmid, keys.get(k))
            if running and k not in HOT_KEYS and not re.fullmatch(r"net\d+", k):
                pending[k] = val
            else:
                keys[k] = val
                pending.pop(k, None)
        conf["pending"] = pending or None
        write_conf(vmid, conf)
    raise Exit(0)


def pct_unlock(args):
    unlock(args, "pct unlock", ct_lock, load_conf_or_die, write_conf, need_lock=True)


def unlock(args, u, lock, load_or_die, write, need_lock):
    """`pct unlock`, `qm unlock` (lock, load_or_die, write: the guest kind's): the `lock` key
    goes; pct refuses a config without one (need_lock), qm does not."""
    pos, opts = parse_opts(args, u, positional=1)
    check_known(opts, set(), u)
    vmid = check_vmid(pos[0], u)
    with lock(vmid):
        conf = load_or_die(vmid)
        if need_lock and not conf["keys"].get("lock"):
            die("no lock found trying to remove any lock")
        conf["keys"].pop("lock", None)
        write(vmid, conf)
    raise Exit(0)
