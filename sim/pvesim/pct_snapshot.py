"""Container snapshots (reference more §1): `pct snapshot`, `listsnapshot`, `rollback`,
`delsnapshot`. The snapshot sections live in the config file after the main section (sorted by
name); the data is a real copy (reflink when the filesystem can) of the container's own folders
under STATE/ct/<vmid>/snapshots/<name>/, so a rollback really brings data back.
"""

import os
import re
import shutil
import subprocess
import time

from .basics import SNAPSHOT_TYPES, STORAGES, TaskError, ct_lock, die, param_die
from .options import check_known, check_vmid, parse_opts
from .config import (
    decode_text, encode_text, load_conf, load_conf_or_die, parse_propstr, section_line, write_conf,
)
from .containers import ct_dir, is_running, kill_container
from .tasks import check_lock, run_task
from .pct_lifecycle import do_start_task

# What a snapshot copies: the container's own folders (its rootfs and the /usr overlay upper).
SNAP_PARTS = ("rootfs", "usr-upper")


# ----------------------------------------------------------------------------- config sections

def parse_snaps(tail):
    """The `[name]` sections after the main one: {name: {"descr", "keys", "raw"}}."""
    snaps, cur = {}, None
    for line in (tail or "").split("\n"):
        m = re.match(r"^\[([a-z][a-z0-9_\-]+)\]\s*$", line, re.I)
        if m:
            cur = snaps.setdefault(m.group(1), {"descr": "", "keys": {}, "raw": []})
            continue
        if cur is None or not line.strip():
            continue
        if line.startswith("#"):
            cur["descr"] += decode_text(line[1:]) + "\n"
        else:
            section_line(line, cur)
    return snaps


def render_snaps(snaps):
    """Sections sorted by name, description as `#` lines first, then the keys sorted."""
    parts = []
    for name in sorted(snaps):
        s = snaps[name]
        text = f"[{name}]\n"
        for line in s["descr"].rstrip("\n").split("\n") if s["descr"].strip() else []:
            text += "#" + encode_text(line) + "\n"
        for k in sorted(s["keys"]):
            text += f"{k}: {s['keys'][k]}\n"
        for k, v in s["raw"]:
            text += f"{k}: {v}\n"
        parts.append(text)
    return "\n".join(parts)


def snap_dir(vmid, name=None):
    d = os.path.join(ct_dir(vmid), "snapshots")
    return os.path.join(d, name) if name else d


def copy_tree(src, dst):
    subprocess.run(["cp", "-a", "--reflink=auto", src, dst], check=True)


# ----------------------------------------------------------------------------- shared by pct and qm

def check_new_snapname(name, usage):
    check_snapname(name, usage)
    if name.lower() in ("current", "vzdump"):
        die(f"unable to use snapshot name '{name}' (reserved name)")


def copy_snap_data(vmid, name):
    """The data copy of a new snapshot: the guest's own folders and the time it was taken."""
    d = snap_dir(vmid, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for part in SNAP_PARTS:
        src = os.path.join(ct_dir(vmid), part)
        if os.path.isdir(src):
            copy_tree(src, os.path.join(d, part))
    with open(os.path.join(d, "created"), "w") as f:
        f.write(f"{time.time():.6f}\n")


def drop_snap_section(conf, name):
    """After a failed copy: the section goes and the `snapshot` lock with it."""
    snaps = parse_snaps(conf["tail"])
    snaps.pop(name, None)
    conf["keys"].pop("lock", None)
    conf["tail"] = render_snaps(snaps)


def restore_snap_data(t, vmid, name, lvm):
    """Rollback's data part: the LVM log lines of each thin volume, then the copies back."""
    for vol in lvm:
        t.log(f'  Logical volume "{vol}" successfully removed.')
        t.log(f'  Logical volume "{vol}" created.')
        t.log(f'  Logical volume pve/{vol} changed.')
    for part in SNAP_PARTS:
        src = os.path.join(snap_dir(vmid, name), part)
        dst = os.path.join(ct_dir(vmid), part)
        if os.path.isdir(src):
            shutil.rmtree(dst, ignore_errors=True)
            copy_tree(src, dst)


def rolled_back_keys(conf, snap_keys, name, drop):
    """The main section after a rollback: the snapshot's keys but `drop`, the current
    description and unused disks kept, `parent` the snapshot."""
    new = {k: v for k, v in snap_keys.items() if k not in drop}
    for k, v in conf["keys"].items():
        if k == "description" or k.startswith("unused"):
            new[k] = v
    new["parent"] = name
    conf["keys"] = new
    conf["pending"] = None


def unlink_snapshot(conf, name):
    """delsnapshot's config part: whoever had `name` as parent (snapshots and the current
    state) gets its parent, and the section goes."""
    snaps = parse_snaps(conf["tail"])
    parent = snaps[name]["keys"].get("parent")
    for s in list(snaps.values()) + [{"keys": conf["keys"]}]:
        if s["keys"].get("parent") == name:
            if parent:
                s["keys"]["parent"] = parent
            else:
                s["keys"].pop("parent")
    del snaps[name]
    conf["tail"] = render_snaps(snaps)


# ----------------------------------------------------------------------------- checks

def check_snapname(name, usage):
    if len(name) > 40:
        param_die([("snapname", "value may only be 40 characters long")], usage)
    if not re.fullmatch(r"[a-z][a-z0-9_\-]+", name, re.I):
        # the validator's message ends in "\n": an empty line follows it
        param_die([("snapname", f"invalid format - invalid configuration ID '{name}'\n")], usage)


def volumes(keys):
    """(key, volume) of every mount point: rootfs and mpN."""
    res = []
    for k in sorted(keys):
        if k == "rootfs" or re.fullmatch(r"mp\d+", k):
            res.append((k, parse_propstr(keys[k], "volume").get("volume", "")))
    return res


def storage_type(vol):
    if vol.startswith("/") or ":" not in vol:
        return None  # bind or device mount: not a volume id
    return STORAGES.get(vol.split(":", 1)[0], {}).get("type")


def can_snapshot(keys):
    return all(storage_type(v) in SNAPSHOT_TYPES for _, v in volumes(keys))


def lvm_vols(keys):
    return [v.split(":", 1)[1] for _, v in volumes(keys) if storage_type(v) == "lvmthin"]


# ----------------------------------------------------------------------------- commands

def pct_snapshot(args):
    u = "pct snapshot"
    pos, opts = parse_opts(args, u, positional=2)
    check_known(opts, {"description"}, u)
    vmid = check_vmid(pos[0], u)
    name = pos[1]
    check_new_snapname(name, u)
    descr = dict(opts).get("description", "")

    def task(t):
        with ct_lock(vmid):
            conf = load_conf(vmid)
            keys = conf["keys"]
            if keys.get("template") == "1":
                raise TaskError("you can't take a snapshot if it's a template")
            check_lock(keys)
            snaps = parse_snaps(conf["tail"])
            if name in snaps:
                raise TaskError(f"snapshot name '{name}' already used")
            if not can_snapshot(keys):
                raise TaskError("snapshot feature is not available")
            skeys = {k: v for k, v in keys.items()
                     if k not in ("lock", "digest", "description") and not k.startswith("unused")}
            skeys["snaptime"] = str(int(time.time()))
            skeys["snapstate"] = "prepare"
            snaps[name] = {"descr": descr + "\n" if descr else "", "keys": skeys,
                           "raw": list(conf["raw"])}
            keys["lock"] = "snapshot"
            conf["tail"] = render_snaps(snaps)
            write_conf(vmid, conf)
        try:
            copy_snap_data(vmid, name)
        except (OSError, subprocess.CalledProcessError) as e:
            t.log("snapshot create failed: starting cleanup")
            shutil.rmtree(snap_dir(vmid, name), ignore_errors=True)
            with ct_lock(vmid):
                conf = load_conf(vmid)
                drop_snap_section(conf, name)
                write_conf(vmid, conf)
            raise TaskError(str(e))
        for vol in lvm_vols(keys):
            t.log(f'  Logical volume "snap_{vol}_{name}" created.')
        with ct_lock(vmid):
            conf = load_conf(vmid)
            snaps = parse_snaps(conf["tail"])
            snaps[name]["keys"].pop("snapstate", None)
            conf["keys"].pop("lock", None)
            conf["keys"]["parent"] = name
            conf["tail"] = render_snaps(snaps)
            write_conf(vmid, conf)

    run_task(task)


def pct_listsnapshot(args):
    u = "pct listsnapshot"
    pos, opts = parse_opts(args, u, positional=1)
    check_known(opts, set(), u)
    vmid = check_vmid(pos[0], u)
    print_snapshot_tree(load_conf_or_die(vmid))


def print_snapshot_tree(conf):
    """print_snapshot_tree (also `qm listsnapshot`)."""
    snaps = parse_snaps(conf["tail"])
    entries = {n: {"parent": s["keys"].get("parent"), "time": int(s["keys"].get("snaptime", 0)),
                   "descr": s["descr"]} for n, s in snaps.items()}
    entries["current"] = {"parent": conf["keys"].get("parent"), "time": None,
                          "descr": "You are here!"}

    def children(parent):
        kids = [n for n, e in entries.items()
                if (e["parent"] if e["parent"] in entries else None) == parent]
        return sorted(kids, key=lambda n: (entries[n]["time"] is None, entries[n]["time"] or 0))

    lines = []

    def walk(name, depth):
        e = entries[name]
        prefix = " " * depth + "`->"
        tm = "" if e["time"] is None else time.strftime("%Y-%m-%d %H:%M:%S",
                                                          time.localtime(e["time"]))
        first = e["descr"].split("\n")[0] if e["descr"] else ""
        width = 30 - len(prefix)
        lines.append(f"{prefix} {name:<{width}} {tm:<23} {first or 'no-description'}")
        for k in children(name):
            walk(k, depth + 1)

    for root in children(None):
        walk(root, 0)
    for line in lines:
        print(line)


def most_recent(vmid, snaps):
    def created(n):
        try:
            with open(os.path.join(snap_dir(vmid, n), "created")) as f:
                return float(f.read())
        except (OSError, ValueError):
            return float(snaps[n]["keys"].get("snaptime", 0))
    return max(snaps, key=created) if snaps else None


def pct_rollback(args):
    u = "pct rollback"
    pos, opts = parse_opts(args, u, bools=("start",), positional=2)
    check_known(opts, {"start"}, u)
    vmid = check_vmid(pos[0], u)
    name = pos[1]
    check_snapname(name, u)
    start = dict(opts).get("start") == "1"

    def task(t):
        with ct_lock(vmid):
            conf = load_conf(vmid)
            keys = conf["keys"]
            snaps = parse_snaps(conf["tail"])
            if name not in snaps:
                raise TaskError(f"snapshot '{name}' does not exist")
            if keys.get("template") == "1":
                raise TaskError("you can't rollback if vm is a template")
            for _, vol in volumes(snaps[name]["keys"]):
                if storage_type(vol) == "zfspool" and most_recent(vmid, snaps) != name:
                    raise TaskError(f"can't rollback, '{name}' is not most recent snapshot on "
                                    f"'{vol}'")
            state = snaps[name]["keys"].get("snapstate")
            if state:
                raise TaskError(f"unable to rollback to incomplete snapshot (snapstate = {state})")
            check_lock(keys)
            if is_running(vmid):
                kill_container(vmid)  # lxc-stop --kill: no clean shutdown
            keys["lock"] = "rollback"
            write_conf(vmid, conf)
        restore_snap_data(t, vmid, name, lvm_vols(keys))
        with ct_lock(vmid):
            conf = load_conf(vmid)
            rolled_back_keys(conf, snaps[name]["keys"], name, ("snaptime", "parent"))
            conf["raw"] = list(snaps[name]["raw"])
            write_conf(vmid, conf)
        if start:
            do_start_task(t, vmid)

    run_task(task)


def pct_delsnapshot(args):
    u = "pct delsnapshot"
    pos, opts = parse_opts(args, u, bools=("force",), positional=2)
    check_known(opts, {"force"}, u)
    vmid = check_vmid(pos[0], u)
    name = pos[1]
    check_snapname(name, u)

    def task(t):
        with ct_lock(vmid):
            conf = load_conf(vmid)
            snaps = parse_snaps(conf["tail"])
            if name not in snaps:
                raise TaskError(f"snapshot '{name}' does not exist")
            check_lock(conf["keys"])
            keys = snaps[name]["keys"]
        for vol in lvm_vols(keys):
            t.log(f'  Logical volume "snap_{vol}_{name}" successfully removed.')
        shutil.rmtree(snap_dir(vmid, name), ignore_errors=True)
        with ct_lock(vmid):
            conf = load_conf(vmid)
            unlink_snapshot(conf, name)
            write_conf(vmid, conf)

    run_task(task)
