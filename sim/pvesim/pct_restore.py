"""`pct restore <vmid> <archive> [--force 1] [--storage S] [--start 1] [config options]`
(reference more §2): the checks before the task in their order, the task's output lines, a real
extraction of the vzdump tar into new container folders, the old volumes (and snapshots)
destroyed after the new ones exist, and a failed forced restore that leaves no container.
A Proxmox Backup Server volume id (`<storage>:backup/ct/<vmid>/<time>Z`, pbs.py) is restored
from the snapshot: its pct.conf blob first, then root.pxar (pve-container
src/PVE/LXC/Create.pm:24-89, 293-346).
"""

import os
import re
import shutil
import subprocess

from .basics import STORAGES, Sim, TaskError, ct_lock, die, knob, need_tool, param_die, st
from .options import check_known, check_vmid, parse_opts
from .config import conf_path, load_conf, owner_of, parse_conf, parse_propstr, write_conf
from .containers import ct_dir, is_running
from .tasks import run_task
from .pct_lifecycle import do_start_task, mkfs_lines
from .pct_config import SET_KEYS, validate_value
from . import pbs


def archive_path(volid):
    """`local:backup/<file>` or `/var/lib/vz/dump/<file>` -> the file in the state folder."""
    m = re.fullmatch(r"([^:\s/]+):backup/([^/]+)", volid)
    if m:
        return m.group(2), st("var", "lib", "vz", "dump", m.group(2)) \
            if m.group(1) == "local" else None
    if volid.startswith("/var/lib/vz/dump/"):
        return os.path.basename(volid), st(volid.lstrip("/"))
    return os.path.basename(volid), None


def decompressor(fn):
    for ext, tool, pkg in ((".zst", "zstd", "zstd"), (".gz", "gzip", "gzip"),
                           (".lzo", "lzop", "lzop")):
        if fn.endswith(ext):
            return [need_tool(tool, pkg), "-dc"]
    return None


def extract(path, dest):
    """Extracts the archive into dest; returns the bytes read."""
    os.makedirs(dest)
    tar = ["tar", "-xpf", "-", "--totals", "--numeric-owner", "-C", dest]
    comp = decompressor(path)
    with open(path, "rb") as f:
        if comp:
            p1 = subprocess.Popen(comp, stdin=f, stdout=subprocess.PIPE)
            p2 = subprocess.Popen(tar, stdin=p1.stdout, stderr=subprocess.PIPE)
            p1.stdout.close()
            errout = p2.stderr.read().decode(errors="replace")
            rc = p2.wait() or p1.wait()
        else:
            p2 = subprocess.Popen(tar, stdin=f, stderr=subprocess.PIPE)
            errout = p2.stderr.read().decode(errors="replace")
            rc = p2.wait()
    if rc != 0:
        raise TaskError(f"command 'tar xpf - --totals ...' failed: exit code {rc}")
    m = re.search(r"Total bytes read: (\d+)", errout)
    return int(m.group(1)) if m else 0


def human(n):
    for unit, mul in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= mul:
            return f"{n / mul:.1f}{unit}"
    return f"{n}B"


def disk_name(stype, vmid, index):
    if stype == "dir":
        return f"{vmid}/vm-{vmid}-disk-{index}.raw"
    if stype == "zfspool":
        return f"subvol-{vmid}-disk-{index}"
    return f"vm-{vmid}-disk-{index}"


def pct_restore(args):
    u = "pct restore"
    pos, opts = parse_opts(args, u, bools=("force", "start", "unique", "unprivileged",
                                           "ignore-unpack-errors", "onboot", "protection"),
                           positional=2)
    known = SET_KEYS | {"force", "start", "storage", "unique", "pool", "bwlimit",
                        "ignore-unpack-errors", "ha-managed"}
    check_known(opts, known, u)
    vmid = check_vmid(pos[0], u)
    volid = pos[1]
    o = dict(opts)
    force = o.get("force") == "1"
    old = load_conf(vmid, missing_ok=True)
    own = owner_of(vmid)
    if own and not (old and force):
        die(f"{'CT' if own[0] == 'lxc' else 'VM'} {vmid} already exists on node '{own[1]}'")
    if old and force:
        if is_running(vmid):
            die("can't overwrite running container")
        if old["keys"].get("protection") == "1":
            die(f"unable to restore CT {vmid} - protection mode enabled")
    storage = o.get("storage", "local")
    if storage not in STORAGES:
        param_die([("storage", f"storage '{storage}' does not exist")], u)
    if "rootdir" not in STORAGES[storage]["content"]:
        param_die([("storage", f"storage '{storage}' does not support container directories")],
                  u)
    if old and old["keys"].get("lock"):
        die(f"unable to restore CT {vmid} - CT is locked ({old['keys']['lock']})")
    given = {k: validate_value(k, v, u, vmid) for k, v in opts if k in SET_KEYS}
    fname, path = archive_path(volid)
    stype = STORAGES[storage]["type"]

    def task(t):
        d = ct_dir(vmid)
        stage = os.path.join(st("ct"), f".restore-{vmid}-{os.getpid()}")
        old_vol = None
        with ct_lock(vmid):
            conf = load_conf(vmid, missing_ok=True)
            if conf:
                old_vol = parse_propstr(conf["keys"].get("rootfs", ""), "volume").get("volume")
                conf["keys"]["lock"] = "create"
            else:
                conf = {"keys": {"lock": "create"}, "raw": [], "pending": None, "tail": ""}
            write_conf(vmid, conf)
        touched = False
        try:
            snap = pbs.snapshot_of(volid)  # a PBS volume id: the snapshot on the server
            if snap:
                t.log(f"recovering backed-up configuration from '{volid}'")
                try:
                    with open(os.path.join(snap[2], "pct.conf")) as f:
                        backed = parse_conf(f.read())
                except OSError:
                    raise pbs.client_failed(snap[1], "pct.conf -")
            elif not path or not os.path.isfile(path):
                raise TaskError(f"can't find file '{volid}'")
            else:
                t.log(f"recovering backed-up configuration from '{volid}'")
            shown = "/var/lib/vz/dump/" + fname
            m = re.search(r"-disk-(\d+)", old_vol or "")
            index = int(m.group(1)) + 1 if m else 0
            disk = disk_name(stype, vmid, index)
            touched = True
            if stype == "lvmthin":
                t.log(f'  Logical volume "{disk}" created.')
                t.log(f'  Logical volume pve/{disk} changed.')
            if stype != "zfspool":
                mkfs_lines(t, 8)
            t.log(f"restoring '{volid}' now..")
            if snap:  # `proxmox-backup-client restore <name> root.pxar <rootdir>`: no output
                if not os.path.isfile(os.path.join(snap[2], "root.tar")):
                    raise pbs.client_failed(snap[1], "root.pxar")
                extract(os.path.join(snap[2], "root.tar"), stage)
            else:
                t.log(f"extracting archive '{shown}'")
                total = extract(path, stage)
                t.log(f"Total bytes read: {total} ({human(total)}, 210MiB/s)")
                pconf = os.path.join(stage, "etc", "vzdump", "pct.conf")
                try:
                    with open(pconf) as f:
                        backed = parse_conf(f.read())
                except OSError:
                    raise TaskError("rootfs configuration could not be recovered, please "
                                    "check and specify manually!")
                os.unlink(pconf)
            reason = knob("restore_fail", vmid)
            if reason:
                raise TaskError(str(reason))
            # the old volumes (and their snapshots) go once the new ones exist
            if old_vol and ":" in old_vol:
                ost = STORAGES.get(old_vol.split(":")[0], {}).get("type")
                if ost == "lvmthin":
                    t.log(f'  Logical volume "{old_vol.split(":", 1)[1]}" successfully removed.')
            for part in ("rootfs", "snapshots"):
                shutil.rmtree(os.path.join(d, part), ignore_errors=True)
            os.makedirs(d, exist_ok=True)
            os.rename(stage, os.path.join(d, "rootfs"))
            t.log("merging backed-up and given configuration..")
            keys = {k: v for k, v in backed["keys"].items() if k not in ("lock", "parent")}
            size = parse_propstr(keys.get("rootfs", ""), "volume").get("size", "8G")
            keys["rootfs"] = f"{storage}:{disk},size={size}"
            keys.update(given)
            with ct_lock(vmid):
                write_conf(vmid, {"keys": keys, "raw": backed["raw"], "pending": None,
                                  "tail": ""})
        except (TaskError, OSError, subprocess.CalledProcessError) as e:
            shutil.rmtree(stage, ignore_errors=True)
            with ct_lock(vmid):
                if touched:
                    # new volumes freed, config deleted; with --force the old ones are gone too
                    shutil.rmtree(d, ignore_errors=True)
                    try:
                        os.unlink(conf_path(vmid))
                    except FileNotFoundError:
                        pass
                else:
                    c = load_conf(vmid, missing_ok=True)
                    if c and old:
                        c["keys"].pop("lock", None)
                        write_conf(vmid, c)
                    elif c:
                        os.unlink(conf_path(vmid))
            raise TaskError(f"unable to restore CT {vmid} - {e}")
        if o.get("start") == "1":
            do_start_task(t, vmid)

    run_task(task)
