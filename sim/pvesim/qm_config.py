"""VM configs (qemu-server, reference vm §2-§3): the file STATE/etc/pve/nodes/<node>/
qemu-server/<vmid>.conf in the same on-disk format as a container's (config.py parses and
renders both), the option schema of `qm create`/`qm set` (value checks, net[n] with a
generated MAC, ipconfig[n], tags), the VM's status (`vmstatus`, also used by pvesh),
`qm set` and `qm unlock` (what qm shows: qm_show.py).
"""

import functools
import re
import time

from .basics import Exit, FileLock, TaskError, die, out, param_die
from .options import check_known, check_vmid, parse_opts
from .config import load_conf, load_conf_or_die, parse_propstr, size_to_bytes, write_conf
from .pct_config import new_mac, norm_tags, unlock
from .containers import run_info

DRIVE_RE = re.compile(r"(ide[0-3]|sata[0-5]|scsi([12]?[0-9]|30)|virtio(1[0-5]|[0-9])|efidisk0|"
                      r"tpmstate0|unused\d+)")
BOOLS = {"onboot", "protection", "template", "ciupgrade", "numa", "acpi", "kvm", "tablet",
         "localtime", "freeze", "reboot"}
KEYS = {"name", "ostype", "cores", "sockets", "memory", "balloon", "cpu", "scsihw", "boot",
        "vga", "agent", "ipconfig0", "nameserver", "searchdomain", "cicustom", "ciuser",
        "cipassword", "citype", "sshkeys", "description", "tags", "startup", "bios",
        "machine", "hotplug", "lock", "vmgenid", "smbios1", "meta", "args", "hookscript",
        "cpulimit", "cpuunits", "affinity", "shares", "vcpus"} | BOOLS \
    | {f"net{i}" for i in range(32)} | {f"ipconfig{i}" for i in range(32)} \
    | {f"serial{i}" for i in range(4)}
OSTYPES = ["other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11",
           "l24", "l26", "solaris"]
SCSIHW = ["lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"]
NET_MODELS = ["e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e", "i82551",
              "i82557b", "i82559er", "ne2k_isa", "ne2k_pci", "pcnet", "rtl8139", "virtio",
              "vmxnet3"]
# What changes while a VM runs stays pending until its next start (hot-plug: these only).
HOT_KEYS = {"description", "onboot", "protection", "name", "tags", "lock", "startup",
            "hookscript"}


def vm_lock(vmid):
    return FileLock(f"pve-config-{vmid}.lock", f"/var/lock/qemu-server/lock-{vmid}.conf")


# config.py's reader and writer, on qemu-server/<vmid>.conf
load_vm = functools.partial(load_conf, kind="qemu-server")
load_vm_or_die = functools.partial(load_conf_or_die, kind="qemu-server")
write_vm = functools.partial(write_conf, kind="qemu-server")


def check_vm_lock(keys):
    if keys.get("lock"):
        raise TaskError(f"VM is locked ({keys['lock']})")


def parse_net(value):
    """net[n]: `<model>[=<mac>],bridge=…` → (model, mac, {rest})."""
    p = [x for x in value.split(",") if x]
    model, mac, rest = None, None, {}
    for part in p:
        k, _, v = part.partition("=")
        if k in NET_MODELS and model is None:
            model, mac = k, (v or None)
        elif k == "model":
            model = v
        elif k == "macaddr":
            mac = v
        else:
            rest[k] = v
    return model, mac, rest


def canon_net(key, value, u, old=None):
    model, mac, rest = parse_net(value)
    if model is None:
        param_die([(f"{key}.model", "property is missing and it is not optional")], u)
    if mac and not re.fullmatch(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", mac):
        param_die([(f"{key}.macaddr", f"value does not look like a valid MAC address")], u)
    if not mac and old:
        _m, mac, _r = parse_net(old)
    mac = (mac or new_mac()).upper()
    return f"{model}={mac}" + "".join(f",{k}={rest[k]}" for k in sorted(rest))


def check_ipconfig(key, v, u):
    p = parse_propstr(v)
    for k in p:
        if k not in ("ip", "gw", "ip6", "gw6"):
            param_die([(f"{key}.{k}", "property is not defined in schema and the schema does "
                                      "not allow additional properties")], u)
    ip = p.get("ip")
    if ip is not None and ip != "dhcp":
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\.(\d+)/(\d+)", ip)
        if not m or any(int(x) > 255 for x in m.groups()[:4]) or int(m.group(5)) > 32:
            param_die([(key, "invalid format - value does not look like a valid ipv4 network "
                             "configuration")], u)
    # parse_ipconfig (QemuServer.pm): the gateway rules (texts UNCONFIRMED)
    if p.get("gw") and not ip:
        param_die([(key, "invalid format - gateway specified without specifying an IP "
                         "address")], u)
    if p.get("gw") and ip == "dhcp":
        param_die([(key, "invalid format - gateway specified together with DHCP")], u)
    return v


def validate(k, v, u):
    """Schema checks shared by create and set; returns the stored value."""
    if k in BOOLS:
        if v.lower() not in ("1", "0", "yes", "no", "on", "off", "true", "false"):
            param_die([(k, f"type check ('boolean') failed - got '{v}'")], u)
        return "1" if v.lower() in ("1", "yes", "on", "true") else "0"
    if k in ("cores", "sockets", "memory", "balloon", "cpuunits", "vcpus"):
        if not re.fullmatch(r"\d+", v):
            param_die([(k, f"type check ('integer') failed - got '{v}'")], u)
        mins = {"cores": 1, "sockets": 1, "memory": 16, "balloon": 0, "cpuunits": 1,
                "vcpus": 1}
        if int(v) < mins[k]:
            param_die([(k, f"value must have a minimum value of {mins[k]}")], u)
        return str(int(v))
    if k == "name":
        if not re.fullmatch(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*"
                            r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?", v):
            param_die([(k, "invalid format - value does not look like a valid DNS name")], u)
        return v
    if k == "ostype" and v not in OSTYPES:
        param_die([(k, f"value '{v}' does not have a value in the enumeration "
                       f"'{', '.join(OSTYPES)}'")], u)
    if k == "scsihw" and v not in SCSIHW:
        param_die([(k, f"value '{v}' does not have a value in the enumeration "
                       f"'{', '.join(SCSIHW)}'")], u)
    if k == "tags":
        for t in re.split(r"[;,\s]+", v):
            if t and not re.fullmatch(r"[a-z0-9_][a-z0-9_\-+.]*", t, re.I):
                param_die([(k, f"invalid format - invalid tag '{t}'")], u)
        return norm_tags(v)
    if k in ("nameserver", "searchdomain"):
        return " ".join(x for x in re.split(r"[,;\s]+", v) if x)
    if re.fullmatch(r"ipconfig\d+", k):
        return check_ipconfig(k, v, u)
    if k == "agent":
        p = parse_propstr(v, "enabled")
        for kk in p:
            if kk not in ("enabled", "freeze-fs-on-backup", "freeze-fs", "fstrim_cloned_disks",
                          "type"):
                param_die([(f"agent.{kk}", "property is not defined in schema and the schema "
                                           "does not allow additional properties")], u)
        return v
    if k == "cicustom":
        for part in v.split(","):
            kk = part.split("=", 1)[0]
            if kk not in ("meta", "network", "user", "vendor"):
                param_die([(f"cicustom.{kk}", "property is not defined in schema and the "
                                              "schema does not allow additional properties")],
                          u)
        return v
    if re.fullmatch(r"serial\d", k) and not (v == "socket" or v.startswith("/dev/")):
        param_die([(k, "invalid format - value does not look like a valid serial device")], u)
    return v


def agent_enabled(keys):
    a = keys.get("agent")
    if a is None:
        return None
    return parse_propstr(a, "enabled").get("enabled", "0") in ("1", "on", "yes", "true")


def drives(keys):
    """[(key, volid, {opts})] of the disk-like keys."""
    res = []
    for k in sorted(keys):
        if DRIVE_RE.fullmatch(k):
            parts = keys[k].split(",")
            opts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            res.append((k, parts[0], opts))
    return res


def boot_disk(keys):
    order = parse_propstr(keys.get("boot", ""), "order").get("order", "")
    for k in [x for x in order.split(";") if x] + [d[0] for d in drives(keys)]:
        v = keys.get(k)
        if v and "media=cdrom" not in v and not k.startswith("unused"):
            return k, v
    return None, None


def vmstatus(vmid, keys, info):
    """QemuServer.pm vmstatus (§6.1): `cpu` always 0 (a new process per call), `disk` 0."""
    _k, bd = boot_disk(keys)
    maxdisk = size_to_bytes(dict(p.split("=", 1) for p in bd.split(",")[1:] if "=" in p)
                            .get("size", "0")) if bd else 0
    maxmem = int(keys.get("memory", 512)) * 1048576
    running = info is not None
    d = {"vmid": vmid, "name": keys.get("name") or f"VM{vmid}",
         "status": "running" if running else "stopped",
         "qmpstatus": "running" if running else "stopped", "cpu": 0,
         "cpus": int(keys.get("cores", 1)) * int(keys.get("sockets", 1)),
         "mem": (maxmem // 5) if running else 0, "maxmem": maxmem,
         "memhost": (maxmem // 5) if running else 0, "disk": 0, "maxdisk": maxdisk,
         "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
         "uptime": int(time.time() - info["started"]) if running else 0,
         "ha": {"managed": 0}}
    if running:
        d.update({"pid": info["init_pid"], "running-machine": "pc-i440fx-10.0+pve0",
                  "running-qemu": "10.0.2", "balloon": maxmem, "freemem": maxmem // 2,
                  "blockstat": {}, "nics": {f"tap{vmid}i0": {"netin": 0, "netout": 0}}})
    for k in ("lock", "tags"):
        if keys.get(k):
            d[k] = keys[k]
    if keys.get("agent"):
        d["agent"] = 1 if agent_enabled(keys) else 0
    if keys.get("template") == "1":
        d["template"] = 1
    if keys.get("serial0"):
        d["serial"] = 1
    return d


def set_value(vmid, k, v, u, keys):
    if re.fullmatch(r"net\d+", k):
        return canon_net(k, v, u, keys.get(k))
    if k == "sshkeys":
        return v
    return validate(k, v, u)


def qm_set(args):
    """`qm set` (synchronous): echoes `update VM <vmid>: -<key> <value> …`; changes to a
    running VM that need a restart stay pending (ipconfig, cicustom, memory, ...)."""
    u = "qm set"
    pos, opts = parse_opts(args, u, bools=tuple(BOOLS) + ("skiplock",), positional=1)
    drive_keys = {k for k, _ in opts if DRIVE_RE.fullmatch(k)}
    check_known(opts, KEYS | drive_keys | {"delete", "revert", "digest", "skiplock"}, u)
    vmid = check_vmid(pos[0], u)
    if not [o for o in opts if o[0] not in ("digest", "skiplock")]:
        load_vm_or_die(vmid)
        die("no options specified")
    o = dict(opts)
    if "sshkeys" in o:
        try:
            with open(o["sshkeys"]) as f:
                text = f.read()
        except OSError as e:
            die(f"unable to open file '{o['sshkeys']}' - {e.strerror}")
        from urllib.parse import quote  # noqa: PLC0415
        opts = [(k, quote(text, safe="") if k == "sshkeys" else v) for k, v in opts]
    shown = " ".join(f"-{k} {'<hidden>' if k == 'cipassword' else v}" for k, v in opts
                     if k not in ("digest", "skiplock"))
    out(f"update VM {vmid}: {shown}")
    from .qm_disks import set_drive  # noqa: PLC0415 - qm_disks imports this module
    with vm_lock(vmid):
        conf = load_vm_or_die(vmid)
        keys = conf["keys"]
        if keys.get("lock") and o.get("skiplock") != "1" and "lock" not in o:
            die(f"VM is locked ({keys['lock']})")
        running = run_info(vmid) is not None
        pending = conf.get("pending") or {}
        for k, v in opts:
            if k in ("digest", "skiplock"):
                continue
            if k == "delete":
                for d in [x for x in re.split(r"[,;\s]+", v) if x]:
                    if running and d not in HOT_KEYS:
                        dl = [x for x in pending.get("delete", "").split(",") if x]
                        pending["delete"] = ",".join(dl + [d] if d not in dl else dl)
                    else:
                        keys.pop(d, None)
                continue
            if k == "revert":
                for d in [x for x in re.split(r"[,;\s]+", v) if x]:
                    pending.pop(d, None)
                continue
            if DRIVE_RE.fullmatch(k):
                keys[k] = set_drive(vmid, k, v, u)
                continue
            val = set_value(vmid, k, v, u, keys)
            if running and k not in HOT_KEYS:
                pending[k] = val
            else:
                keys[k] = val
                pending.pop(k, None)
        conf["pending"] = pending or None
        write_vm(vmid, conf)
    raise Exit(0)


def qm_unlock(args):
    unlock(args, "qm unlock", vm_lock, load_vm_or_die, write_vm, need_lock=False)
