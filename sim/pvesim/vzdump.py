"""`vzdump` (reference §12): the backup job with its INFO lines, the global lock and the
`lock: backup` of each guest, real tar archives (zstd/gzip/lzo), .log/.notes/.protected
files, and pruning with PVE's retention algorithm; to a Proxmox Backup Server storage, a
snapshot on the server instead (pbs.py).
"""

import fcntl
import os
import re
import shlex
import subprocess
import time

from .basics import (
    Exit, FileLock, STORAGES, Sim, TaskError, ct_lock, die, fmt_time, knob,
    now_local, out, param_die, st,
)
from .options import check_known, check_vmid, parse_opts
from .config import (
    conf_path, load_conf, local_qemu_vmids, local_vmids, owner_of, parse_propstr, qemu_conf_path,
    render_conf, write_conf,
)
from .vzdump_archive import backup_conf, make_archive
from .containers import (
    ct_dir, is_running, kill_container, run_info, shutdown_container, start_container,
)
from .tasks import Task, run_task
from .ha import ha_started
from .pct_lifecycle import apply_pending
from .pveam import storage_check
from .pvesm import backup_list
from . import pbs


def format_size(size):
    kb = size / 1024
    if kb < 1024:
        return f"{int(kb)}KB"
    mb = size / (1024 * 1024)
    if mb < 1024:
        return f"{int(mb)}MB"
    gb = mb / 1024
    if gb < 1024:
        return "%.2fGB" % gb
    return "%.2fTB" % (gb / 1024)


def format_duration(sec):
    sec = int(sec)
    return "%02d:%02d:%02d" % (sec // 3600, (sec % 3600) // 60, sec % 60)


def render_notes(tmpl, vmid, name):
    def var(m):
        return {"cluster": Sim.cfg.get("cluster", ""), "guestname": name, "node": Sim.node,
                "vmid": str(vmid)}[m.group(1)]
    s = re.sub(r"\{\{(\w+)\}\}", var, tmpl)
    return s.replace("\\n", "\n").replace("\\\\", "\\")


def check_notes_template(tmpl):
    for m in re.finditer(r"\{\{([^}]*)\}\}", tmpl):
        if m.group(1) not in ("cluster", "guestname", "node", "vmid"):
            param_die([("notes-template", f"found unknown: variable '{m.group(1)}' at char "
                                          f"{m.start()}")], "vzdump")


def prune_marks(backups, keep):
    """PVE::Storage::prune_mark_backup_group."""
    lst = sorted(backups, key=lambda b: -b["ctime"])
    for b in lst:
        b["mark"] = "protected" if b.get("protected") else None
    if keep.get("keep-all") == "1" or not keep:
        for b in lst:
            b["mark"] = b["mark"] or "keep"
        return lst
    rules = [("keep-last", lambda t, i: i),
             ("keep-hourly", lambda t, i: time.strftime("%Y/%m/%d/%H", time.localtime(t))),
             ("keep-daily", lambda t, i: time.strftime("%Y/%m/%d", time.localtime(t))),
             ("keep-weekly", lambda t, i: time.strftime("%G/%V", time.localtime(t))),
             ("keep-monthly", lambda t, i: time.strftime("%Y/%m", time.localtime(t))),
             ("keep-yearly", lambda t, i: time.strftime("%Y", time.localtime(t)))]
    for name, period in rules:
        n = int(keep.get(name, 0) or 0)
        if n <= 0:
            continue
        kept = set()
        for i, b in enumerate(lst):
            if b["mark"] == "protected":
                continue
            pid = period(b["ctime"], i)
            if pid in kept:
                continue
            if b["mark"] == "keep":
                kept.add(pid)
                continue
            if len(kept) >= n:
                break
            kept.add(pid)
            b["mark"] = "keep"
    for b in lst:
        b["mark"] = b["mark"] or "remove"
    return lst


def vzdump_main(args):
    u = "vzdump"
    bools = ("all", "remove", "protected", "stdout", "quiet", "stop", "pigz-unused")
    pos, opts = parse_opts(args, u, bools=bools, allow_extra=True)
    known = {"storage", "mode", "compress", "prune-backups", "remove", "notes-template",
             "protected", "dumpdir", "stdout", "zstd", "quiet", "node", "all", "exclude",
             "bwlimit", "ionice", "lockwait", "stopwait", "tmpdir", "mailto",
             "mailnotification", "notification-mode", "pigz", "script", "maxfiles", "stop",
             "performance", "fleecing", "pool", "exclude-path", "job-id", "size"}
    check_known(opts, known, u)
    o = dict(opts)
    vmids = []
    for p in pos:
        for v in re.split(r"[,;\s]+", p):
            if v:
                vmids.append(check_vmid(v, u))
    if o.get("all") == "1":
        vmids = sorted(local_vmids() + local_qemu_vmids())
    if not vmids:
        param_die([("vmid", "property is missing and it is not optional")], u)
    mode = o.get("mode", "snapshot")
    if mode not in ("snapshot", "suspend", "stop"):
        param_die([("mode", f"value '{mode}' does not have a value in the enumeration "
                            f"'snapshot, suspend, stop'")], u)
    compress = o.get("compress", "0")
    ext = {"0": "", "1": ".lzo", "lzo": ".lzo", "gzip": ".gz", "zstd": ".zst"}.get(compress)
    if ext is None:
        param_die([("compress", f"value '{compress}' does not have a value in the enumeration "
                                f"'0, 1, gzip, lzo, zstd'")], u)
    if ("notes-template" in o or "protected" in o) and "storage" not in o:
        which = "notes-template" if "notes-template" in o else "protected"
        param_die([("storage", f"missing property - '{which}' requires this property")], u)
    if "notes-template" in o:
        check_notes_template(o["notes-template"])
    storage = o.get("storage", "local" if "dumpdir" not in o else None)
    if storage is not None:
        storage_check(storage)
        if "backup" not in STORAGES[storage]["content"]:
            die(f"storage '{storage}' does not support backups")
    keep = {}
    if o.get("prune-backups"):
        for part in o["prune-backups"].split(","):
            if "=" not in part:
                param_die([("prune-backups", "invalid format - format error")], u)
            k, v = part.split("=", 1)
            if k not in ("keep-all", "keep-last", "keep-hourly", "keep-daily", "keep-weekly",
                         "keep-monthly", "keep-yearly") or not v.isdigit():
                param_die([(f"prune-backups.{k}", "invalid format - format error")], u)
            keep[k] = v
    remove = o.get("remove", "1") == "1"
    local = [v for v in vmids if os.path.exists(conf_path(v)) or
             os.path.exists(qemu_conf_path(v))]
    foreign = [v for v in vmids if v not in local and owner_of(v)]
    if foreign and not local and len(foreign) == len(vmids):
        raise Exit(0)

    def cmdline():
        parts = ["vzdump"] + [str(v) for v in vmids]
        for k, v in opts:
            parts.append(f"--{k}")
            parts.append(v if re.fullmatch(r"[\w=,.:/@%+-]+", v) else shlex.quote(v))
        return " ".join(parts)

    def task(t):
        errors = 0
        glock = FileLock("vzdump.lock", "/var/run/vzdump.lock", timeout=3600)
        os.makedirs(os.path.dirname(glock.path), exist_ok=True)
        fd = os.open(glock.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out("INFO: trying to get global lock - waiting...")
            fcntl.flock(fd, fcntl.LOCK_EX)
            out("INFO: got global lock")
        out(f"INFO: starting new backup job: {cmdline()}")
        if foreign:
            out(f"INFO: skip external VMs: {', '.join(str(v) for v in foreign)}")
        for vmid in sorted(v for v in vmids if v not in foreign):
            if not backup_one(vmid, storage, o, mode, ext, keep, remove):
                errors += 1
        if errors:
            out("INFO: Backup job finished with errors")
            os.close(fd)
            raise TaskError("job errors")
        out("INFO: Backup job finished successfully")
        os.close(fd)

    run_task(task)


def backup_one(vmid, storage, o, mode, ext, keep, remove):
    """One guest's backup; prints the INFO lines; returns success."""
    log = []

    def info(msg, level="INFO"):
        line = f"{level}: {msg}"
        out(line)
        log.append(f"{fmt_time(now_local())} {line}")

    vm = not os.path.exists(conf_path(vmid)) and os.path.exists(qemu_conf_path(vmid))
    if not os.path.exists(conf_path(vmid)) and not vm:
        out(f"ERROR: Backup of VM {vmid} failed - unable to find VM '{vmid}'")
        return False
    if mode == "stop" and ha_started(vmid):  # pve-manager PVE/VZDump.pm:939-945
        out(f"ERROR: Backup of VM {vmid} failed - Cannot execute a backup with stop mode on a "
            f"HA managed and enabled Service. Use snapshot mode or disable the Service.")
        out(f"INFO: Failed at {fmt_time(now_local())}")
        return False
    on_pbs = pbs.is_pbs(storage)  # a PBS storage: no dump folder, a snapshot on the server
    dumpdir = None if on_pbs else \
        st("var", "lib", "vz", "dump") if storage == "local" else o["dumpdir"]
    shown_dir = "/var/lib/vz/dump" if storage == "local" else o.get("dumpdir")
    if dumpdir:
        os.makedirs(dumpdir, exist_ok=True)
    # unique name: never two archives of one guest in the same second
    while True:
        start = now_local()
        stamp = start.strftime("%Y_%m_%d-%H_%M_%S")
        base = f"vzdump-{'qemu' if vm else 'lxc'}-{vmid}-{stamp}"
        epoch = int(start.timestamp())
        if on_pbs and not os.path.exists(pbs.snapshot_dir(storage, vmid, epoch)):
            break
        if dumpdir and not any(f.startswith(base) for f in os.listdir(dumpdir)):
            break
        time.sleep(1.0 - (time.time() % 1.0) + 0.01)
    t0 = time.time()
    info(f"Starting Backup of VM {vmid} ({'qemu' if vm else 'lxc'})")
    info(f"Backup started at {fmt_time(start)}")
    archive = f"{base}.{'vma' if vm else 'tar'}{ext}"
    path = os.path.join(dumpdir, archive) if dumpdir else None
    tmp = re.sub(r"\.[^.]+$", ".dat", path) if path else None
    locked_by_us = False

    def fail(reason):
        info(f"Backup of VM {vmid} failed - {reason}", "ERROR")
        info(f"Failed at {fmt_time(now_local())}")
        for p in (tmp, path):
            try:
                os.unlink(p) if p else None
            except FileNotFoundError:
                pass
        write_log()
        return False

    def write_log(done=False):
        # on PBS the log is uploaded to a good snapshot (upload-log), else kept nowhere
        where = os.path.join(dumpdir, f"{base}.log") if dumpdir else \
            os.path.join(pbs.snapshot_dir(storage, vmid, epoch), "client.log") if done else None
        if where:
            with open(where, "w") as f:
                f.write("\n".join(log) + "\n")

    def post(name, typ):
        """Notes, protection and pruning, after the archive."""
        if o.get("notes-template"):
            info("adding notes to backup")
            notes = render_notes(o["notes-template"], vmid, name)
            if on_pbs:
                pbs.set_notes(storage, vmid, epoch, notes)
            else:
                with open(path + ".notes", "w") as f:
                    f.write(notes)
        if o.get("protected") == "1":
            info("marking backup as protected")  # VZDump.pm:1240, before pruning
            if on_pbs:
                pbs.set_protected(storage, vmid, epoch)
            else:
                open(path + ".protected", "w").close()
        if remove and keep and keep.get("keep-all") != "1":
            keepstr = ", ".join(f"{k}={v}" for k, v in sorted(keep.items()))  # VZDump.pm:1248
            info(f"prune older backups with retention: {keepstr}")
            pruned = 0
            if on_pbs:
                info(f"running 'proxmox-backup-client prune' for 'ct/{vmid}'")
            for b in prune_marks(pbs.list_backups(storage, vmid) if on_pbs else
                                 backup_list(storage, vmid), keep):
                if b["mark"] != "remove" or b["type"] != typ:
                    continue
                pruned += 1
                if on_pbs:  # the server prunes: no line per backup
                    pbs.remove(b)
                    continue
                info(f"removing backup '{b['volid']}'")
                for p in (b["path"], b["path"] + ".notes",
                          re.sub(r"\.(tar|vma)(\.\w+)?$", ".log", b["path"])):
                    try:
                        os.unlink(p)
                    except FileNotFoundError:
                        pass
            extra = " not covered by keep-retention policy" if pruned else ""
            info(f"pruned {pruned} backup(s){extra}")

    try:
        if vm:
            if on_pbs:
                return fail("pxsim: VM backups to a Proxmox Backup Server are not simulated")
            from .qm_backup import backup_vm  # noqa: PLC0415
            conf = backup_vm(vmid, info, os.path.join(shown_dir, archive), tmp, path, ext, mode)
            info(f"archive file size: {format_size(os.path.getsize(path))}")
            post(conf["keys"].get("name", f"VM{vmid}"), "qemu")
            info(f"Finished Backup of VM {vmid} ({format_duration(time.time() - t0)})")
            info(f"Backup finished at {fmt_time(now_local())}")
            write_log(done=True)
            return True
        with ct_lock(vmid):
            conf = load_conf(vmid)
            keys = conf["keys"]
            if keys.get("lock"):
                return fail(f"CT is locked ({keys['lock']})")
            keys["lock"] = "backup"
            write_conf(vmid, conf)
            locked_by_us = True
        name = keys.get("hostname", f"CT{vmid}")
        running = is_running(vmid)
        info(f"status = {'running' if running else 'stopped'}")
        eff = mode if running else "stop"
        rootvol = parse_propstr(keys.get("rootfs", ""), "volume").get("volume", "")
        lvm = STORAGES.get(rootvol.split(":")[0], {}).get("type") == "lvmthin"
        disk = rootvol.split(":", 1)[1] if ":" in rootvol else f"vm-{vmid}-disk-0"
        if running:
            info(f"CT Name: {name}")
            info("including mount point rootfs ('/') in backup")
            info(f"backup mode: {eff}")
            info("ionice priority: 7")
        else:
            info("backup mode: stop")
            info("ionice priority: 7")
            info(f"CT Name: {name}")
            info("including mount point rootfs ('/') in backup")
        restart = False
        if running and eff == "snapshot":
            info("create storage snapshot 'vzdump'")
            if lvm:
                out(f'  Logical volume "snap_{disk}_vzdump" created.')
        elif running and eff == "stop":
            info("stopping virtual guest")
            if not shutdown_container(vmid, 600):
                kill_container(vmid)
            restart = True
        elif running and eff == "suspend":
            info(f"starting first sync /proc/{run_info(vmid)['init_pid']}/root/ to "
                 f"/var/tmp/vzdumptmp{os.getpid()}_{vmid}/")
            info("first sync finished - transferred 0 bytes in 1s")
            info("suspending guest")
            info(f"starting final sync /proc/{run_info(vmid)['init_pid']}/root/ to "
                 f"/var/tmp/vzdumptmp{os.getpid()}_{vmid}/")
            info("final sync finished - transferred 0 bytes in 0s")
            info("resuming guest")
            info("guest is online again after 1 seconds")
        if on_pbs:
            info(f"creating Proxmox Backup Server archive 'ct/{vmid}/{pbs.iso(epoch)}'")
        else:
            info(f"creating vzdump archive '{os.path.join(shown_dir, archive)}'")
        reason = knob("vzdump_fail", vmid)
        if reason not in (None, False, 0, "0", ""):
            if running and eff == "snapshot":
                info("cleanup temporary 'vzdump' snapshot")
                if lvm:
                    out(f'  Logical volume "snap_{disk}_vzdump" successfully removed.')
            msg = reason if str(reason) not in ("1", "true", "yes") else \
                f"command 'set -o pipefail && lxc-usernsexec -m u:0:100000:65536 -m " \
                f"g:0:100000:65536 -- tar cpf - --totals --one-file-system ...' failed: exit code 2"
            return fail(str(msg))
        delay = float(knob("vzdump_delay", vmid, 0) or 0)
        if delay > 0:
            time.sleep(delay)
        if on_pbs:
            pbs.backup(info, vmid, storage, epoch, render_conf(backup_conf(conf)),
                       os.path.join(ct_dir(vmid), "rootfs"), keys.get("unprivileged") == "1",
                       "/mnt/vzsnap0" if running and eff == "snapshot" else
                       f"/var/lib/lxc/{vmid}/rootfs")
        else:
            total = make_archive(vmid, conf, tmp, ext)
            os.rename(tmp, path)
            info(f"Total bytes written: {total}")
            info(f"archive file size: {format_size(os.path.getsize(path))}")
        post(name, "lxc")
        if running and eff == "snapshot":
            info("cleanup temporary 'vzdump' snapshot")
            if lvm:
                out(f'  Logical volume "snap_{disk}_vzdump" successfully removed.')
        if restart:
            info("restarting vm")
            t1 = time.time()
            start_container(vmid, apply_pending(vmid), Task())
            info(f"guest is online again after {int(time.time() - t1)} seconds")
        info(f"Finished Backup of VM {vmid} ({format_duration(time.time() - t0)})")
        info(f"Backup finished at {fmt_time(now_local())}")
        write_log(done=True)
        return True
    except (OSError, subprocess.CalledProcessError, TaskError) as e:
        return fail(str(e))
    finally:
        if locked_by_us:
            with ct_lock(vmid):
                c = load_conf(vmid, missing_ok=True)
                if c and c["keys"].get("lock") == "backup":
                    c["keys"].pop("lock")
                    write_conf(vmid, c)
