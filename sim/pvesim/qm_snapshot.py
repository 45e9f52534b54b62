"""VM snapshots (reference vm §3): `qm snapshot [--vmstate 1] [--description]`,
`listsnapshot` (the pct tree), `rollback [--start 1]` (a running VM is stopped first; a
snapshot with RAM state comes back running), `delsnapshot`. The same config sections and
data copies as container snapshots (pct_snapshot.py's helpers); the disks must be on
storages that can snapshot (lvmthin, zfspool, rbd, btrfs), cloud-init and CD-ROM drives
are left out.
"""

import shutil
import subprocess
import time

from .basics import SNAPSHOT_TYPES, STORAGES, TaskError
from .options import check_known, check_vmid, parse_opts
from .containers import is_running, kill_container
from .tasks import run_task
from .pct_snapshot import (
    check_new_snapname, check_snapname, copy_snap_data, drop_snap_section, parse_snaps,
    print_snapshot_tree, render_snaps, restore_snap_data, rolled_back_keys, snap_dir,
    unlink_snapshot,
)
from .qm_config import check_vm_lock, drives, load_vm, load_vm_or_die, vm_lock, write_vm


def disks(keys):
    return [(k, v) for k, v, o in drives(keys)
            if o.get("media") != "cdrom" and not k.startswith("unused")]


def lvm_vols(keys):
    return [v.split(":", 1)[1] for _k, v in disks(keys)
            if STORAGES.get(v.split(":")[0], {}).get("type") == "lvmthin"]


def qm_snapshot(args):
    u = "qm snapshot"
    pos, opts = parse_opts(args, u, bools=("vmstate",), positional=2)
    check_known(opts, {"description", "vmstate"}, u)
    vmid = check_vmid(pos[0], u)
    name = pos[1]
    check_new_snapname(name, u)
    o = dict(opts)
    load_vm_or_die(vmid)

    def task(t):
        with vm_lock(vmid):
            conf = load_vm(vmid)
            keys = conf["keys"]
            if keys.get("template") == "1":
                raise TaskError("you can't take a snapshot if it's a template")
            check_vm_lock(keys)
            snaps = parse_snaps(conf["tail"])
            if name in snaps:
                raise TaskError(f"snapshot name '{name}' already used")
            if not all(STORAGES.get(v.split(":")[0], {}).get("type") in SNAPSHOT_TYPES
                       for _k, v in disks(keys)):
                raise TaskError("snapshot feature is not available")
            skeys = {k: v for k, v in keys.items() if k not in ("lock", "description")
                     and not k.startswith("unused")}
            skeys["snaptime"] = str(int(time.time()))
            if o.get("vmstate") == "1" and is_running(vmid):
                skeys["vmstate"] = f"{disks(keys)[0][1].split(':')[0]}:vm-{vmid}-state-{name}"
            snaps[name] = {"descr": o["description"] + "\n" if o.get("description") else "",
                           "keys": skeys, "raw": []}
            keys["lock"] = "snapshot"
            conf["tail"] = render_snaps(snaps)
            write_vm(vmid, conf)
        try:
            copy_snap_data(vmid, name)
        except (OSError, subprocess.CalledProcessError) as e:
            shutil.rmtree(snap_dir(vmid, name), ignore_errors=True)
            with vm_lock(vmid):
                conf = load_vm(vmid)
                drop_snap_section(conf, name)
                write_vm(vmid, conf)
            raise TaskError(str(e))
        for vol in lvm_vols(load_vm(vmid)["keys"]):
            t.log(f'  Logical volume "snap_{vol}_{name}" created.')
        with vm_lock(vmid):
            conf = load_vm(vmid)
            conf["keys"].pop("lock", None)
            conf["keys"]["parent"] = name
            write_vm(vmid, conf)

    run_task(task)


def qm_listsnapshot(args):
    u = "qm listsnapshot"
    pos, opts = parse_opts(args, u, positional=1)
    check_known(opts, set(), u)
    print_snapshot_tree(load_vm_or_die(check_vmid(pos[0], u)))


def qm_rollback(args):
    u = "qm rollback"
    pos, opts = parse_opts(args, u, bools=("start",), positional=2)
    check_known(opts, {"start"}, u)
    vmid = check_vmid(pos[0], u)
    name = pos[1]
    check_snapname(name, u)
    load_vm_or_die(vmid)

    def task(t):
        with vm_lock(vmid):
            conf = load_vm(vmid)
            snaps = parse_snaps(conf["tail"])
            if name not in snaps:
                raise TaskError(f"snapshot '{name}' does not exist")
            if conf["keys"].get("template") == "1":
                raise TaskError("you can't rollback if vm is a template")
            check_vm_lock(conf["keys"])
            conf["keys"]["lock"] = "rollback"
            write_vm(vmid, conf)
        if is_running(vmid):
            kill_container(vmid)
        restore_snap_data(t, vmid, name, lvm_vols(snaps[name]["keys"]))
        with vm_lock(vmid):
            conf = load_vm(vmid)
            rolled_back_keys(conf, snaps[name]["keys"], name, ("snaptime", "parent", "vmstate"))
            write_vm(vmid, conf)
        if dict(opts).get("start") == "1" or snaps[name]["keys"].get("vmstate"):
            from .qm_lifecycle import do_start  # noqa: PLC0415
            do_start(t, vmid)

    run_task(task)


def qm_delsnapshot(args):
    u = "qm delsnapshot"
    pos, opts = parse_opts(args, u, bools=("force",), positional=2)
    check_known(opts, {"force"}, u)
    vmid = check_vmid(pos[0], u)
    name = pos[1]
    check_snapname(name, u)
    load_vm_or_die(vmid)

    def task(t):
        with vm_lock(vmid):
            conf = load_vm(vmid)
            snaps = parse_snaps(conf["tail"])
            if name not in snaps:
                raise TaskError(f"snapshot '{name}' does not exist")
            check_vm_lock(conf["keys"])
        for vol in lvm_vols(snaps[name]["keys"]):
            t.log(f'  Logical volume "snap_{vol}_{name}" successfully removed.')
        shutil.rmtree(snap_dir(vmid, name), ignore_errors=True)
        with vm_lock(vmid):
            conf = load_vm(vmid)
            unlink_snapshot(conf, name)
            write_vm(vmid, conf)

    run_task(task)
