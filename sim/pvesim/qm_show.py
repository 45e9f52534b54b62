"""What `qm` shows (reference vm §3): `qm list` (qm.pm's printf columns), `qm status
[--verbose 1]` (print_recursive_hash, `cpu` left out: always 0), `qm config [--current 1]`
(pending values shown as applied unless `--current 1`) and `qm pending`.
"""

import re

from .basics import out
from .options import check_known, check_vmid, parse_opts
from .config import current_keys, encode_text, local_qemu_vmids
from .containers import run_info
from .qm_config import load_vm, load_vm_or_die, vmstatus


def qm_list(args):
    parse_opts(args, "qm list", bools=("full",))
    rows = []
    for vmid in local_qemu_vmids():
        conf = load_vm(vmid, missing_ok=True)
        if conf is None:
            continue
        keys = current_keys(conf)
        info = run_info(vmid)
        s = vmstatus(vmid, keys, info)
        rows.append((vmid, s["name"], s["status"], int(keys.get("memory", 512)),
                     "%.2f" % (s["maxdisk"] / 1024 ** 3), info["init_pid"] if info else 0))
    if not rows:
        return
    out("%10s %-20s %-10s %-10s %12s %-10s" % ("VMID", "NAME", "STATUS", "MEM(MB)",
                                               "BOOTDISK(GB)", "PID"))
    for r in rows:
        out("%10s %-20s %-10s %-10s %12s %-10s" % r)


def qm_status(args):
    u = "qm status"
    pos, opts = parse_opts(args, u, bools=("verbose",), positional=1)
    check_known(opts, {"verbose"}, u)
    vmid = check_vmid(pos[0], u)
    conf = load_vm_or_die(vmid)
    info = run_info(vmid)
    if dict(opts).get("verbose") == "1":
        s = vmstatus(vmid, conf["keys"], info)
        for k in sorted(s):
            if k not in ("cpu", "relcpu"):  # always 0
                print_recursive_hash("", s[k], k)
    else:
        out(f"status: {'running' if info else 'stopped'}")


def print_recursive_hash(prefix, v, key=None):
    """qm.pm print_recursive_hash: nested hashes and lists indented with tabs."""
    if isinstance(v, dict):
        if key is not None:
            out(f"{prefix}{key}:")
        for k in sorted(v):
            print_recursive_hash("\t" + prefix, v[k], k)
    elif isinstance(v, list):
        if key is not None:
            out(f"{prefix}{key}:")
        for item in v:
            print_recursive_hash("\t" + prefix, item)
    elif v is not None:
        out(f"{prefix}{key}: {v}" if key is not None else f"{prefix}{v}")


def qm_config(args):
    u = "qm config"
    pos, opts = parse_opts(args, u, bools=("current",), positional=1)
    check_known(opts, {"current", "snapshot"}, u)
    vmid = check_vmid(pos[0], u)
    conf = load_vm_or_die(vmid)
    keys = conf["keys"] if dict(opts).get("current") == "1" else current_keys(conf)
    for k in sorted(keys):
        if k == "digest":
            continue
        out(f"{k}: {encode_text(keys[k]) if k == 'description' else keys[k]}")


def qm_pending(args):
    pos, _ = parse_opts(args, "qm pending", positional=1)
    vmid = check_vmid(pos[0], "qm pending")
    conf = load_vm_or_die(vmid)
    p = conf.get("pending") or {}
    keys = conf["keys"]
    dels = {d for d in re.split(r"[,;\s]+", p.get("delete", "")) if d}
    for k in sorted(set(keys) | set(p) - {"delete"}):
        if k in dels:
            out(f"del {k}: {keys.get(k, '')}")
        elif k in p and k in keys:
            out(f"cur {k}: {keys[k]}")
            out(f"new {k}: {p[k]}")
        elif k in p:
            out(f"new {k}: {p[k]}")
        else:
            out(f"cur {k}: {keys[k]}")
