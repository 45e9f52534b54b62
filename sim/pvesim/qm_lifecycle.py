"""The lifecycle commands of `qm` (reference vm §2, §3): create (checks before the task,
one line per created disk, `--start 1`), start (pending changes applied, the cloud-init
"ISO" rebuilt: `generating cloud-init ISO`), stop, shutdown (`VM quit/powerdown failed -
got timeout`, `--forceStop 1`), reboot and destroy (protection/HA/running checks before
the task, the lock inside it).
"""

import os
import re
import shutil
import time
from urllib.parse import quote

from .basics import STORAGES, Exit, Sim, TaskError, die, err, knob, param_die, truthy
from .options import check_known, check_vmid, parse_opts
from .config import owner_of, qemu_conf_path
from .containers import ct_dir, is_running, kill_container, shutdown_container
from .tasks import run_task
from .qm_config import (
    BOOLS, DRIVE_RE, KEYS, canon_net, check_vm_lock, drives, load_vm, load_vm_or_die,
    validate, vm_lock, write_vm,
)
from .qm_disks import alloc_drive, check_drive
from .pct_lifecycle import apply_pending, ha_configured, ha_handover, purge_related, uuid
from .vms import start_vm


def qm_create(args):
    u = "qm create"
    pos, opts = parse_opts(args, u, bools=tuple(BOOLS) + ("start", "unique", "force"),
                           positional=1)
    drive_keys = {k for k, _ in opts if DRIVE_RE.fullmatch(k)}
    check_known(opts, KEYS | drive_keys | {"start", "storage", "pool", "unique", "force",
                                           "archive", "bwlimit"}, u)
    vmid = check_vmid(pos[0], u)
    o = dict(opts)
    own = owner_of(vmid)
    if own:
        die(f"unable to create VM {vmid} - {'CT' if own[0] == 'lxc' else 'VM'} {vmid} already "
            f"exists on node '{own[1]}'")
    keys = {}
    for k, v in opts:
        if k in ("start", "storage", "pool", "unique", "force", "bwlimit"):
            continue
        if re.fullmatch(r"net\d+", k):
            keys[k] = canon_net(k, v, u)
        elif k == "sshkeys":
            try:
                with open(v) as f:
                    keys[k] = quote(f.read(), safe="")
            except OSError as e:
                die(f"unable to open file '{v}' - {e.strerror}")
        elif DRIVE_RE.fullmatch(k):
            check_drive(k, v, u)
            keys[k] = v
        else:
            keys[k] = validate(k, v, u)
    keys["meta"] = f"creation-qemu=10.0.2,ctime={int(time.time())}"
    keys["smbios1"] = f"uuid={uuid()}"
    keys["vmgenid"] = uuid()
    start = o.get("start") == "1"

    def task(t):
        with vm_lock(vmid):
            if owner_of(vmid):
                raise TaskError(f"unable to create VM {vmid} - VM {vmid} already exists on "
                                f"node '{Sim.node}'")
            write_vm(vmid, {"keys": {"lock": "create"}, "raw": [], "pending": None,
                            "tail": ""})
        final = {}
        try:
            reason = knob("create_fail", vmid)
            for k in sorted(keys, key=lambda x: (not DRIVE_RE.fullmatch(x), x)):
                if DRIVE_RE.fullmatch(k):
                    final[k] = alloc_drive(t, vmid, k, keys[k], final)
                else:
                    final[k] = keys[k]
            if reason:
                raise TaskError(str(reason))
        except (TaskError, OSError) as e:
            remove_disks(t, final)
            try:
                os.unlink(qemu_conf_path(vmid))
            except FileNotFoundError:
                pass
            raise TaskError(f"unable to create VM {vmid} - {e}")
        with vm_lock(vmid):
            write_vm(vmid, {"keys": final, "raw": [], "pending": None, "tail": ""})
        if start:
            do_start(t, vmid)

    run_task(task)


def remove_disks(t, keys):
    for _k, vol, opts in drives(keys):
        sid = vol.split(":")[0]
        if STORAGES.get(sid, {}).get("type") == "lvmthin" and ":" in vol:
            t.log(f'  Logical volume "{vol.split(":", 1)[1]}" successfully removed.')


def do_start(t, vmid, skiplock=False):
    from .cloudinit import build  # noqa: PLC0415 - cloudinit imports qm_config like us
    conf = load_vm(vmid)
    keys = conf["keys"]
    if keys.get("template") == "1":
        raise TaskError("you can't start a vm if it's a template")
    if is_running(vmid):
        raise TaskError(f"VM {vmid} already running")
    if not skiplock:
        check_vm_lock(keys)
    conf = apply_pending(vmid, vm_lock, load_vm, write_vm)
    build(t, vmid, conf["keys"])
    if truthy(knob("start_fail", vmid, "0")):
        raise TaskError("start failed: QEMU exited with code 1")
    start_vm(t, vmid, conf)


def ha_managed_vm(vmid):
    from .ha import ha_managed  # noqa: PLC0415
    return ha_managed(vmid)


def qm_start(args):
    u = "qm start"
    pos, opts = parse_opts(args, u, bools=("skiplock",), positional=1)
    check_known(opts, {"skiplock", "timeout", "machine", "stateuri", "migratedfrom",
                       "force-cpu"}, u)
    vmid = check_vmid(pos[0], u)
    load_vm_or_die(vmid)
    if ha_managed_vm(vmid):
        ha_handover(vmid, "start", "started", "VM")
    run_task(lambda t: do_start(t, vmid, dict(opts).get("skiplock") == "1"))


def qm_stop(args):
    u = "qm stop"
    pos, opts = parse_opts(args, u, bools=("skiplock", "keepActive", "overrule-shutdown"),
                           positional=1)
    check_known(opts, {"skiplock", "keepActive", "overrule-shutdown", "timeout",
                       "migratedfrom"}, u)
    vmid = check_vmid(pos[0], u)
    load_vm_or_die(vmid)
    if ha_managed_vm(vmid):
        if dict(opts).get("overrule-shutdown") == "1":
            param_die([("overrule-shutdown", "Not applicable for HA resources.")], u)
        ha_handover(vmid, "stop", "stopped", "VM")

    def task(t):
        # _do_vm_stop (QemuServer.pm): a stopped VM returns at once, the lock is checked after
        if not is_running(vmid):
            return
        if dict(opts).get("skiplock") != "1":
            check_vm_lock(load_vm(vmid)["keys"])
        kill_container(vmid)

    run_task(task)


def qm_shutdown(args):
    u = "qm shutdown"
    pos, opts = parse_opts(args, u, bools=("forceStop", "skiplock", "keepActive"),
                           positional=1)
    check_known(opts, {"forceStop", "skiplock", "keepActive", "timeout"}, u)
    vmid = check_vmid(pos[0], u)
    o = dict(opts)
    load_vm_or_die(vmid)
    if ha_managed_vm(vmid):
        ha_handover(vmid, "stop", "stopped", "VM")
    timeout = int(o.get("timeout", 60))

    def task(t):
        if not is_running(vmid):
            return
        if o.get("skiplock") != "1":
            check_vm_lock(load_vm(vmid)["keys"])
        if not shutdown_vm(vmid, timeout):
            if o.get("forceStop") == "1":
                err("VM still running - terminating now with SIGTERM")
                kill_container(vmid)
                return
            raise TaskError("VM quit/powerdown failed - got timeout")

    run_task(task)


def shutdown_vm(vmid, timeout):
    """guest-shutdown through the agent or ACPI: both end in the guest's orderly stop."""
    return shutdown_container(vmid, timeout)


def qm_reboot(args):
    u = "qm reboot"
    pos, opts = parse_opts(args, u, positional=1)
    check_known(opts, {"timeout"}, u)
    vmid = check_vmid(pos[0], u)
    load_vm_or_die(vmid)
    if not is_running(vmid):
        die(f"VM {vmid} not running")
    timeout = int(dict(opts).get("timeout", 60))

    def task(t):
        check_vm_lock(load_vm(vmid)["keys"])
        if not shutdown_vm(vmid, timeout):
            raise TaskError("VM quit/powerdown failed - got timeout")
        do_start(t, vmid)

    run_task(task)


def qm_destroy(args):
    u = "qm destroy"
    pos, opts = parse_opts(args, u, bools=("purge", "skiplock", "destroy-unreferenced-disks"),
                           positional=1)
    check_known(opts, {"purge", "skiplock", "destroy-unreferenced-disks"}, u)
    vmid = check_vmid(pos[0], u)
    o = dict(opts)
    conf = load_vm_or_die(vmid)
    if conf["keys"].get("protection") == "1":
        die(f"can't remove VM {vmid} - protection mode enabled")
    if ha_configured(vmid) and o.get("purge") != "1":
        die(f"unable to remove VM {vmid} - used in HA resources and purge parameter not set.")
    if is_running(vmid):
        die(f"VM {vmid} is running - destroy failed")

    def task(t):
        with vm_lock(vmid):
            c = load_vm(vmid)
            if o.get("skiplock") != "1":
                check_vm_lock(c["keys"])
            keys = dict(c["keys"])
            for sect in re.findall(r"^\[([^\]]+)\]", c.get("tail", ""), re.M):
                if sect != "pve:pending":
                    snap = os.path.join(ct_dir(vmid), "snapshots", sect)
                    shutil.rmtree(snap, ignore_errors=True)
            remove_disks(t, keys)
            shutil.rmtree(ct_dir(vmid), ignore_errors=True)
            purge_related(t, vmid, o.get("purge") == "1", what="VM")
            os.unlink(qemu_conf_path(vmid))

    run_task(task)
    raise Exit(0)
