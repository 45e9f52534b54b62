"""Cloud-init on the host side (reference vm §2.2-§2.4, qemu-server Cloudinit.pm): the
user-data, network-config and meta-data Proxmox generates, the `cicustom` snippet files
(`<volid> is not in the snippets directory`, the 1 MiB / 3 MiB limits, a missing file fails
the start), the "ISO" (STATE/ct/<vmid>/cidata/, rebuilt at every start), and `qm cloudinit
dump|update|pending`.
"""

import hashlib
import json
import os
import re
from urllib.parse import unquote

from .basics import STORAGES, Exit, TaskError, die, out, st
from .options import check_vmid, parse_opts
from .config import current_keys, parse_propstr
from .containers import ct_dir
from .qm_config import load_vm_or_die, parse_net

CI_KEYS = ("ciuser", "cipassword", "sshkeys", "nameserver", "searchdomain", "cicustom",
           "ciupgrade", "name") + tuple(f"ipconfig{i}" for i in range(32))
MIB = 1024 * 1024


def volume_path(volid):
    """`<storage>:<type>/<file>` on a dir storage → (state path, shown path, type)."""
    m = re.fullmatch(r"([a-zA-Z][a-zA-Z0-9\-_.]*):(?:(snippets|import|iso|vztmpl|backup)/)?(.+)",
                     volid)
    if not m:
        raise TaskError(f"unable to parse volume ID '{volid}'")
    sid, typ, name = m.group(1), m.group(2), m.group(3)
    if sid not in STORAGES:
        raise TaskError(f"storage '{sid}' does not exist")
    if STORAGES[sid]["type"] != "dir" or typ is None:
        return None, None, typ or "images"
    sub = {"snippets": "snippets", "import": "import", "iso": "template/iso",
           "vztmpl": "template/cache", "backup": "dump"}[typ]
    shown = f"/var/lib/vz/{sub}/{name}"
    return st("var", "lib", "vz", sub, name), shown, typ


def read_snippet(volid):
    """read_cloudinit_snippets_file: type check, then file_get_contents with 1 MiB."""
    path, shown, typ = volume_path(volid)
    if typ != "snippets":
        raise TaskError(f"{volid} is not in the snippets directory")
    if not os.path.isfile(path):  # abs_filesystem_path (pve-storage Storage.pm)
        raise TaskError(f"can't find file '{volid}'")
    try:
        with open(path, "rb") as f:
            data = f.read(MIB + 1)
    except OSError as e:
        raise TaskError(f"can't open '{shown}' - {e.strerror}")
    if len(data) > MIB:
        raise TaskError(f"file '{shown}' too long - aborting")
    return data.decode(errors="replace")


def hostname_fqdn(keys, vmid):
    name = keys.get("name") or f"VM{vmid}"
    if "." in name:
        return name.split(".")[0], name
    sd = keys.get("searchdomain")
    return name, f"{name}.{sd.split()[0]}" if sd else name


def gen_userdata(keys, vmid):
    host, fqdn = hostname_fqdn(keys, vmid)
    s = f"#cloud-config\nhostname: {host}\nmanage_etc_hosts: true\nfqdn: {fqdn}\n"
    user = keys.get("ciuser")
    if user is not None:
        s += f"user: {user}\n"
        if user == "root":
            s += "disable_root: False\n"
    if keys.get("cipassword") is not None:
        s += f"password: {keys['cipassword']}\n"
    if keys.get("sshkeys") is not None:
        s += "ssh_authorized_keys:\n"
        for k in unquote(keys["sshkeys"]).split("\n"):
            if k.strip():
                s += f"  - {k.rstrip()}\n"
    s += "chpasswd:\n  expire: False\n"
    if user != "root":
        s += "users:\n  - default\n"
    if keys.get("ciupgrade", "1") != "0":
        s += "package_upgrade: true\n"
    return s


def gen_network(keys):
    s = "version: 1\nconfig:\n"
    for k in sorted((k for k in keys if re.fullmatch(r"net\d+", k)), key=lambda x: int(x[3:])):
        n = k[3:]
        ipc = keys.get(f"ipconfig{n}")
        if not ipc:
            continue  # only NICs with an ipconfigN appear (§2.2)
        _model, mac, _rest = parse_net(keys[k])
        s += f"    - type: physical\n      name: eth{n}\n      mac_address: '{mac.lower()}'\n"
        s += "      subnets:\n"
        p = parse_propstr(ipc)
        if p.get("ip") == "dhcp":
            s += "      - type: dhcp4\n"
        elif p.get("ip"):
            s += f"      - type: static\n        address: '{p['ip'].split('/')[0]}'\n"
            s += f"        netmask: '{prefix_mask(int(p['ip'].split('/')[1]))}'\n"
            if p.get("gw"):
                s += f"        gateway: '{p['gw']}'\n"
        if p.get("ip6") == "dhcp":
            s += "      - type: dhcp6\n"
        elif p.get("ip6") == "auto":
            s += "      - type: ipv6_slaac\n"
    ns, sd = keys.get("nameserver"), keys.get("searchdomain")
    if ns or sd:
        s += "    - type: nameserver\n"
        if ns:
            s += "      address:\n" + "".join(f"      - '{a}'\n" for a in ns.split())
        if sd:
            s += "      search:\n" + "".join(f"      - '{a}'\n" for a in sd.split())
    return s


def prefix_mask(n):
    v = (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF if n else 0
    return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))


def meta_for(user, network):
    return f"instance-id: {hashlib.sha1((user + network).encode()).hexdigest()}\n"


def has_ci_drive(keys):
    return any(re.fullmatch(r"(ide|sata|scsi)\d+", k) and ":cloudinit" in v or
               re.search(r"vm-\d+-cloudinit", v or "") for k, v in keys.items())


def build(t, vmid, keys):
    """apply_cloudinit_config: the "ISO" rebuilt from the config and the snippets."""
    if not has_ci_drive(keys):
        return False
    t.log("generating cloud-init ISO")
    custom = parse_propstr(keys.get("cicustom", ""))
    files = {}
    total = 0
    for part in ("user", "network", "meta", "vendor"):
        if custom.get(part):
            files[part] = read_snippet(custom[part])
            total += len(files[part].encode())
    if total > 3 * MIB:
        raise TaskError("Cloud-Init sum of snippets too big (> 3 MiB)")
    user = files.get("user") or gen_userdata(keys, vmid)
    network = files.get("network") or gen_network(keys)
    meta = files.get("meta") or meta_for(user, network)
    d = os.path.join(ct_dir(vmid), "cidata")
    os.makedirs(d, exist_ok=True)
    for name, text in (("user-data", user), ("network-config", network),
                       ("meta-data", meta), ("vendor-data", files.get("vendor", ""))):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    with open(os.path.join(d, "keys.json"), "w") as f:
        json.dump({k: keys[k] for k in CI_KEYS if k in keys}, f)
    return True


def qm_cloudinit(args):
    if not args or args[0] not in ("dump", "update", "pending"):
        die("ERROR: unknown command 'qm cloudinit " + (args[0] if args else "") + "'", 255)
    cmd, rest = args[0], args[1:]
    u = f"qm cloudinit {cmd}"
    pos, _opts = parse_opts(rest, u, positional=2 if cmd == "dump" else 1)
    vmid = check_vmid(pos[0], u)
    conf = load_vm_or_die(vmid)
    keys = current_keys(conf)
    if cmd == "dump":
        what = pos[1]
        user, network = gen_userdata(keys, vmid), gen_network(keys)
        if what == "user":
            text = user.replace(f"password: {keys.get('cipassword')}", "password: **********") \
                if keys.get("cipassword") else user
        elif what == "network":
            text = network
        elif what == "meta":
            text = meta_for(user, network)
        else:
            die("400 Parameter verification failed.\ntype: value '" + what + "' does not have "
                "a value in the enumeration 'user, network, meta'\n"
                "qm cloudinit dump <vmid> <type>")
        out(text.rstrip("\n"))
        raise Exit(0)
    if cmd == "update":
        from .tasks import Task  # noqa: PLC0415
        try:
            build(Task(), vmid, keys)
        except TaskError as e:
            die(str(e))
        raise Exit(0)
    old = {}
    try:
        with open(os.path.join(ct_dir(vmid), "cidata", "keys.json")) as f:
            old = json.load(f)
    except (OSError, ValueError):
        old = {}
    for k in sorted(set(old) | {k for k in CI_KEYS if k in keys}):
        if k not in keys:
            out(f"del {k}: {old[k]}")
        elif k not in old or old[k] != keys[k]:
            if k in old:
                out(f"cur {k}: {old[k]}")
            out(f"new {k}: {keys[k]}")
        else:
            out(f"cur {k}: {keys[k]}")
    raise Exit(0)
