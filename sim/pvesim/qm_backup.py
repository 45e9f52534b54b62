"""Backups of VMs (reference vm §3): vzdump's VM part (`vzdump-qemu-<vmid>-<stamp>.vma[.zst]`,
`VM Name`, `include disk`, the agent's `fs-freeze`/`fs-thaw` lines, `starting kvm to execute
backup task` … `stopping kvm after backup task` for a stopped VM) and `qmrestore <archive>
<vmid> [--storage] [--force 1] [--unique 1] [--start 1]`. The ".vma" is a tar in the sim:
`./etc/vzdump/qemu-server.conf` first, then the VM's folders (its "disk": rootfs and the
/usr overlay upper, so Docker installed in the VM comes back with a restore).
"""

import os
import re
import shutil
import subprocess
import time

from .basics import STORAGES, Exit, TaskError, die, knob, st
from .options import check_known, check_vmid, parse_opts
from .config import owner_of, parse_conf, render_conf
from .containers import ct_dir, is_running
from .tasks import run_task
from .qm_config import agent_enabled, canon_net, load_vm, vm_lock, write_vm
from .qm_snapshot import disks
from .vms import agent_running

GiB = 1024 ** 3


def vm_archive(vmid, conf, tmp, ext):
    stage = st("run", f"vzdump-{vmid}-{os.getpid()}")
    os.makedirs(os.path.join(stage, "etc", "vzdump"), exist_ok=True)
    c = dict(conf, keys={k: v for k, v in conf["keys"].items() if k != "lock"}, pending=None,
             tail="")
    with open(os.path.join(stage, "etc", "vzdump", "qemu-server.conf"), "w") as f:
        f.write(render_conf(c))
    d = ct_dir(vmid)
    tar = ["tar", "-cpf", "-", "--numeric-owner", "--sparse", "--warning=no-file-changed",
           "--warning=no-file-removed", "-C", stage, "./etc/vzdump/qemu-server.conf",
           "--exclude=./rootfs/tmp/?*", "-C", d, "./rootfs", "./usr-upper"]
    with open(tmp, "wb") as f:
        if ext == ".zst":
            p1 = subprocess.Popen(tar, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            p2 = subprocess.Popen(["zstd", "-q", "--threads=1"], stdin=p1.stdout, stdout=f)
            p1.stdout.close()
            rc1, rc2 = p1.wait(), p2.wait()
        elif ext == ".gz":
            p1 = subprocess.Popen(tar, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            p2 = subprocess.Popen(["gzip", "-c"], stdin=p1.stdout, stdout=f)
            p1.stdout.close()
            rc1, rc2 = p1.wait(), p2.wait()
        else:
            rc1, rc2 = subprocess.run(tar, stdout=f, stderr=subprocess.DEVNULL).returncode, 0
    shutil.rmtree(stage, ignore_errors=True)
    if rc1 not in (0, 1) or rc2 != 0:
        raise TaskError(f"command 'vma create' failed: exit code {rc1 or rc2}")


def backup_vm(vmid, info, shown_path, tmp, path, ext, mode):
    """The VM part of backup_one (vzdump.py): lock, lines, archive. Returns the conf."""
    with vm_lock(vmid):
        conf = load_vm(vmid)
        keys = conf["keys"]
        if keys.get("lock"):
            raise TaskError(f"VM is locked ({keys['lock']})")
        keys["lock"] = "backup"
        write_vm(vmid, conf)
    try:
        running = is_running(vmid)
        info(f"status = {'running' if running else 'stopped'}")
        if not running:
            info("backup mode: stop")
            info("ionice priority: 7")
        info(f"VM Name: {keys.get('name', f'VM{vmid}')}")
        total = 0
        for k, v in disks(keys):
            size = dict(p.split("=", 1) for p in v.split(",")[1:] if "=" in p).get("size", "")
            info(f"include disk '{k}' '{v.split(',')[0]}' {size}")
            m = re.fullmatch(r"(\d+)([KMGT])", size)
            if m:
                total += int(m.group(1)) * {"K": 1024, "M": 1024 ** 2, "G": GiB,
                                            "T": 1024 ** 4}[m.group(2)]
        if running:
            info(f"backup mode: {mode}")
            info("ionice priority: 7")
        info(f"creating vzdump archive '{shown_path}'")
        if not running:
            info("starting kvm to execute backup task")
        elif agent_enabled(keys) and mode == "snapshot":
            if agent_running(vmid):
                info("issuing guest-agent 'fs-freeze' command")
                info("issuing guest-agent 'fs-thaw' command")
            else:
                info("skipping guest filesystem freeze - agent configured but not running?")
        reason = knob("vzdump_fail", vmid)
        if reason not in (None, False, 0, "0", ""):
            raise TaskError(str(reason) if str(reason) not in ("1", "true", "yes") else
                            "job failed with err -5 - Input/output error")
        info(f"started backup task '{os.urandom(16).hex()[:8]}-{os.urandom(8).hex()[:4]}'")
        if running:
            info("resuming VM again")
        delay = float(knob("vzdump_delay", vmid, 0) or 0)
        if delay > 0:
            time.sleep(delay)
        vm_archive(vmid, conf, tmp, ext)
        os.rename(tmp, path)
        info(f"100% ({total / GiB:.1f} GiB of {total / GiB:.1f} GiB) in 1s, read: "
             f"{total / GiB:.1f} GiB/s, write: 0 B/s")
        info(f"backup is sparse: {total * 0.9 / GiB:.2f} GiB (90%) total zero data")
        info(f"transferred {total / GiB:.2f} GiB in 1 seconds ({total / GiB:.1f} GiB/s)")
        if not running:
            info("stopping kvm after backup task")
        return conf
    finally:
        with vm_lock(vmid):
            c = load_vm(vmid, missing_ok=True)
            if c and c["keys"].get("lock") == "backup":
                c["keys"].pop("lock")
                write_vm(vmid, c)


def archive_path(archive):
    m = re.fullmatch(r"([^:\s]+):backup/(.+)", archive)
    if m:
        if m.group(1) != "local":
            return None, archive
        return st("var", "lib", "vz", "dump", m.group(2)), f"/var/lib/vz/dump/{m.group(2)}"
    if archive.startswith("/var/lib/vz/"):
        return st(archive.lstrip("/")), archive
    return archive, archive


def qmrestore_main(args):
    u = "qmrestore"
    pos, opts = parse_opts(args, u, bools=("force", "unique", "start", "live-restore"),
                           positional=2)
    check_known(opts, {"force", "unique", "start", "storage", "pool", "bwlimit",
                       "live-restore"}, u)
    archive = pos[0]
    vmid = check_vmid(pos[1], u)
    o = dict(opts)
    storage = o.get("storage")
    if storage and (storage not in STORAGES or "images" not in STORAGES[storage]["content"]):
        die(f"storage '{storage}' does not support vm images")
    path, shown = archive_path(archive)
    # create_vm with an archive (qemu-server API2/Qemu.pm): the archive, then
    # create_and_lock_config and the running check, all before the task
    if not path or not os.path.isfile(path):
        die(f"can't find file '{archive}'")
    own = owner_of(vmid)
    if own and not (own[0] == "qemu" and o.get("force") == "1"):
        die(f"unable to restore VM {vmid} - {'CT' if own[0] == 'lxc' else 'VM'} {vmid} already "
            f"exists on node '{own[1]}'")
    if own and load_vm(vmid)["keys"].get("protection") == "1":
        die(f"unable to restore VM {vmid} - protection mode enabled")
    if own and is_running(vmid):
        die(f"unable to restore VM {vmid} - vm is running")

    def task(t):
        zst = path.endswith(".zst")
        t.log(f"restore vma archive: {'zstd -q -d -c ' + shown + ' | ' if zst else ''}vma "
              f"extract -v -r /var/tmp/vzdumptmp{os.getpid()}.fifo "
              f"{'-' if zst else shown} /var/tmp/vzdumptmp{os.getpid()}")
        r = subprocess.run(["tar", "-xOf", path, "./etc/vzdump/qemu-server.conf"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise TaskError(f"command 'vma extract' failed: exit code 1")
        conf = parse_conf(r.stdout.decode())
        t.log(f"CFG: size: {len(r.stdout)} name: qemu-server.conf")
        old = load_vm(vmid, missing_ok=True)
        with vm_lock(vmid):
            keys = dict(conf["keys"])
            for k, v in disks(keys):
                sid = storage or v.split(":")[0]
                size = dict(p.split("=", 1) for p in v.split(",")[1:] if "=" in p).get("size")
                t.log(f"DEV: dev_id=1 size: {size} devname: drive-{k}")
                vol = f"{sid}:vm-{vmid}-disk-{k[-1] if k[-1].isdigit() else 0}"
                if STORAGES.get(sid, {}).get("type") == "lvmthin":
                    t.log(f'  Logical volume "{vol.split(":")[1]}" created.')
                t.log(f"new volume ID is '{vol}'")
                keys[k] = ",".join([vol] + v.split(",")[1:])
            for k, v in list(keys.items()):
                if ":cloudinit" in v or re.search(r"vm-\d+-cloudinit", v):
                    sid = storage or v.split(":")[0]
                    keys[k] = f"{sid}:vm-{vmid}-cloudinit,media=cdrom"
                if o.get("unique") == "1" and re.fullmatch(r"net\d+", k):
                    model = v.split("=")[0]
                    rest = ",".join(v.split(",")[1:])
                    keys[k] = canon_net(k, f"{model}" + (f",{rest}" if rest else ""), u)
            t.log("progress 100% (read 3221225472 bytes, duration 1 sec)")
            t.log("rescan volumes...")
            if old:
                for _k, v in disks(old["keys"]):
                    if STORAGES.get(v.split(":")[0], {}).get("type") == "lvmthin":
                        t.log(f'  Logical volume "{v.split(",")[0].split(":")[1]}" '
                              f'successfully removed.')
            d = ct_dir(vmid)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            x = subprocess.run(["tar", "-xpf", path, "--numeric-owner", "-C", d, "./rootfs",
                                "./usr-upper"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if x.returncode != 0:
                raise TaskError(f"command 'vma extract' failed: exit code {x.returncode}")
            os.makedirs(os.path.join(d, "usr-work"), exist_ok=True)
            write_vm(vmid, {"keys": keys, "raw": [], "pending": None, "tail": ""})
        if o.get("start") == "1":
            from .qm_lifecycle import do_start  # noqa: PLC0415
            do_start(t, vmid)

    run_task(task)
    raise Exit(0)
