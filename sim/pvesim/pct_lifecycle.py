"""The lifecycle commands of `pct`: create (config, simulated LVM/mkfs/extract output,
the container's folders, optional start), start (pending changes applied), stop,
shutdown, reboot (a locked CT is stopped, then its start refused) and destroy.
"""

import os
import random
import re
import shutil
import subprocess

from .basics import STORAGES, Exit, Sim, TaskError, ct_lock, die, knob, param_die, st
from .options import check_known, check_vmid, parse_opts
from .config import (
    conf_path, current_keys, fmt_disk_size, load_conf, load_conf_or_die, owner_of,
    parse_propstr, write_conf,
)
from .containers import (
    ct_dir, ensure_ct_fs, is_running, kill_container, shutdown_container, start_container,
)
from .tasks import check_lock, run_task, systemd_warning
from .ha import crm_lock, ha_managed, ha_request, read_resources, write_resources
from .pct_config import SET_KEYS, validate_value


def template_path(volid):
    """local:vztmpl/<file> -> state path (or None for other storages)."""
    m = re.fullmatch(r"([^:\s]+):vztmpl/(.+)", volid)
    if m:
        if m.group(1) != "local":
            return None
        return st("var", "lib", "vz", "template", "cache", m.group(2))
    if volid.startswith("/var/lib/vz/template/cache/"):
        return st(volid.lstrip("/"))
    return None


def superblocks(blocks):
    mult = sorted({1} | {p ** e for p in (3, 5, 7) for e in range(1, 20)})
    return [32768 * m for m in mult if 32768 * m < blocks]


def pct_create(args):
    u = "pct create"
    pos, opts = parse_opts(args, u, bools=("start", "unprivileged", "onboot", "protection",
                                           "force", "console", "template", "debug",
                                           "ignore-unpack-errors", "unique", "restore"),
                           positional=2)
    known = SET_KEYS | {"start", "storage", "password", "ssh-public-keys", "pool", "bwlimit",
                        "force", "ignore-unpack-errors", "unique", "restore", "ha-managed"}
    check_known(opts, known, u)
    vmid = check_vmid(pos[0], u)
    ostemplate = pos[1]
    o = dict(opts)
    own = owner_of(vmid)
    if own:
        die(f"{'CT' if own[0] == 'lxc' else 'VM'} {vmid} already exists on node '{own[1]}'")
    storage = o.get("storage", "local")
    if storage not in STORAGES:
        param_die([("storage", f"storage '{storage}' does not exist")], u)
    keys = {}
    for k, v in opts:
        if k in SET_KEYS and k not in ("rootfs",):
            keys[k] = validate_value(k, v, u, vmid)
    # rootfs
    rootfs = o.get("rootfs")
    if rootfs is None:
        rootfs = f"{storage}:4"
    elif re.fullmatch(r"\d+(\.\d+)?", rootfs):
        rootfs = f"{storage}:{rootfs}"
    rparts = rootfs.split(",")
    m = re.fullmatch(r"(?:volume=)?([^:\s]+):(\d+(?:\.\d+)?)", rparts[0])
    if not m:
        param_die([("rootfs", "invalid format - volume must be a new disk "
                              "(STORAGE_ID:SIZE_IN_GiB)")], u)
    rstore, rsize = m.group(1), float(m.group(2))
    if rstore not in STORAGES:
        param_die([("rootfs", f"storage '{rstore}' does not exist")], u)
    if "rootdir" not in STORAGES[rstore]["content"]:
        param_die([("storage", f"storage '{rstore}' does not support container directories")], u)
    extra = dict(p.split("=", 1) for p in rparts[1:] if "=" in p)
    extra["size"] = fmt_disk_size(rsize)
    if STORAGES[rstore]["type"] == "dir":
        vol = f"{rstore}:{vmid}/vm-{vmid}-disk-0.raw"
    elif STORAGES[rstore]["type"] == "zfspool":
        vol = f"{rstore}:subvol-{vmid}-disk-0"
    else:
        vol = f"{rstore}:vm-{vmid}-disk-0"
    keys["rootfs"] = vol + "".join(f",{k}={extra[k]}" for k in sorted(extra))
    keys.setdefault("memory", "512")
    keys.setdefault("swap", "512")
    keys.setdefault("hostname", f"CT{vmid}")
    keys["arch"] = keys.get("arch", "amd64")
    tname = os.path.basename(ostemplate)
    ostype = "debian"
    for pre, ot in (("ubuntu", "ubuntu"), ("alpine", "alpine"), ("archlinux", "archlinux"),
                    ("centos", "centos"), ("fedora", "fedora"), ("rocky", "centos")):
        if tname.startswith(pre):
            ostype = ot
    keys.setdefault("ostype", ostype)
    unpriv = keys.pop("unprivileged", None)
    if unpriv is None:
        unpriv = "1" if pve_major() >= 9 else "0"
    if unpriv == "1":
        keys["unprivileged"] = "1"
    sshkeys = None
    if "ssh-public-keys" in o:
        try:
            with open(o["ssh-public-keys"]) as f:
                sshkeys = f.read()
        except OSError as e:
            die(f"unable to open file '{o['ssh-public-keys']}' - {e.strerror}")
    start = o.get("start") == "1"

    def task(t):
        with ct_lock(vmid):
            if owner_of(vmid):
                raise TaskError(f"unable to create CT {vmid} - CT {vmid} already exists on "
                                f"node '{Sim.node}'")
            write_conf(vmid, {"keys": {"lock": "create", **keys}, "raw": [], "pending": None,
                              "tail": ""})
        lvm = STORAGES[rstore]["type"] == "lvmthin"
        disk = f"vm-{vmid}-disk-0"
        try:
            if lvm:
                t.log(f'  Logical volume "{disk}" created.')
            if STORAGES[rstore]["type"] != "zfspool":
                mkfs_lines(t, rsize)
            reason = knob("create_fail", vmid)
            path = template_path(ostemplate)
            if not path or not os.path.exists(path):
                raise TaskError(f"can't find file '{ostemplate}'")
            shown = "/var/lib/vz/template/cache/" + os.path.basename(path)
            t.log(f"extracting archive '{shown}'")
            if reason:
                raise TaskError(str(reason))
            ensure_ct_fs(vmid)
            if sshkeys:
                sdir = os.path.join(ct_dir(vmid), "rootfs", "root", ".ssh")
                os.makedirs(sdir, mode=0o700, exist_ok=True)
                with open(os.path.join(sdir, "authorized_keys"), "w") as f:
                    f.write(sshkeys)
            t.log("Total bytes read: 521902080 (498MiB, 187MiB/s)")
            t.log(f"Detected container architecture: {keys['arch']}")
            if ostype != "alpine":
                for kt in ("ed25519", "rsa", "ecdsa"):
                    t.log(f"Creating SSH host key 'ssh_host_{kt}_key' - this may take some "
                          f"time ...")
                    t.log(f"done: SHA256:{fingerprint()} root@{keys['hostname']}")
                systemd_warning(t, keys)
        except (TaskError, OSError, subprocess.CalledProcessError) as e:
            if lvm:
                t.log(f'  Logical volume "{disk}" successfully removed.')
            shutil.rmtree(ct_dir(vmid), ignore_errors=True)
            try:
                os.unlink(conf_path(vmid))
            except FileNotFoundError:
                pass
            raise TaskError(f"unable to create CT {vmid} - {e}")
        with ct_lock(vmid):
            conf = load_conf(vmid)
            conf["keys"].pop("lock", None)
            write_conf(vmid, conf)
        if start:
            do_start_task(t, vmid)

    run_task(task)


def mkfs_lines(t, size_gib):
    blocks = int(size_gib * 262144)
    t.log(f"Creating filesystem with {blocks} 4k blocks and {blocks // 4} inodes")
    t.log(f"Filesystem UUID: {uuid()}")
    t.log("Superblock backups stored on blocks: ")
    t.log("\t" + ", ".join(str(b) for b in superblocks(blocks)))


def pve_major():
    try:
        return int(Sim.cfg.get("pve_version", "9.2.11").split(".")[0])
    except ValueError:
        return 9


def uuid():
    h = "%032x" % random.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def fingerprint():
    import base64
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


def apply_pending(vmid, lock=ct_lock, load=load_conf, write=write_conf):
    """The pending changes into the config before a start (qm passes its VM lock, load, write)."""
    with lock(vmid):
        conf = load(vmid)
        if conf.get("pending"):
            conf["keys"] = current_keys(conf)
            conf["pending"] = None
            write(vmid, conf)
        return conf


def do_start_task(t, vmid, skiplock=False):
    conf = load_conf(vmid)
    keys = conf["keys"]
    if keys.get("template") == "1":
        raise TaskError("you can't start a CT if it's a template")
    if not skiplock and keys.get("lock") and keys.get("lock") != "mounted":
        check_lock(keys)
    conf = apply_pending(vmid)
    systemd_warning(t, conf["keys"])
    start_container(vmid, conf, t)


def pct_start(args):
    u = "pct start"
    pos, opts = parse_opts(args, u, bools=("skiplock", "debug"), positional=1)
    check_known(opts, {"skiplock", "debug"}, u)
    vmid = check_vmid(pos[0], u)
    if is_running(vmid):
        die(f"CT {vmid} already running")
    if ha_managed(vmid):
        ha_handover(vmid, "start", "started")
    run_task(lambda t: do_start_task(t, vmid, dict(opts).get("skiplock") == "1"))


def ha_handover(vmid, what, state, kind="CT"):
    """pct start/stop/shutdown of an HA-managed CT only asks the HA manager (more §4.5); so do
    qm's of a VM (kind "VM"; Qemu.pm: `ha-manager set vm:<vmid> --state started`,
    `crm-command stop vm:<vmid>`)."""
    print(f"Requesting HA {what} for {kind} {vmid}")
    res = read_resources()
    res[vmid]["state"] = state
    write_resources(res)
    ha_request(vmid, "state")
    raise Exit(0)


def pct_stop(args):
    u = "pct stop"
    pos, opts = parse_opts(args, u, bools=("skiplock", "overrule-shutdown"), positional=1)
    check_known(opts, {"skiplock", "overrule-shutdown", "timeout"}, u)
    vmid = check_vmid(pos[0], u)
    if not is_running(vmid):
        die(f"CT {vmid} not running")
    if ha_managed(vmid):
        if dict(opts).get("overrule-shutdown") == "1":
            param_die([("overrule-shutdown", "Not applicable for HA resources.")], u)
        ha_handover(vmid, "stop", "stopped")

    def task(t):
        conf = load_conf(vmid)
        keys = conf["keys"]
        if dict(opts).get("skiplock") != "1" and keys.get("lock") != "mounted":
            check_lock(keys)
        kill_container(vmid)

    run_task(task)


def pct_shutdown(args):
    u = "pct shutdown"
    pos, opts = parse_opts(args, u, bools=("forceStop",), positional=1)
    check_known(opts, {"forceStop", "timeout"}, u)
    vmid = check_vmid(pos[0], u)
    o = dict(opts)
    timeout = int(o.get("timeout", 60))
    if not is_running(vmid):
        die(f"CT {vmid} not running")
    if ha_managed(vmid):
        ha_handover(vmid, "stop", "stopped")

    def task(t):
        conf = load_conf(vmid)
        check_lock(conf["keys"])
        if not shutdown_container(vmid, timeout):
            if o.get("forceStop") == "1":
                kill_container(vmid)
                return
            t.log(f"command 'lxc-stop -n {vmid} --nokill --timeout {timeout}' failed: "
                  f"exit code 1")
            raise TaskError("container did not stop")

    run_task(task)


def pct_reboot(args):
    u = "pct reboot"
    pos, opts = parse_opts(args, u, positional=1)
    check_known(opts, {"timeout"}, u)
    vmid = check_vmid(pos[0], u)
    timeout = int(dict(opts).get("timeout", 60))
    if not is_running(vmid):
        die(f"VM {vmid} not running")

    def task(t):
        # vm_reboot (pve-container src/PVE/LXC.pm:3273-3286): no lock check before the stop;
        # the start's pre-start hook refuses a locked CT (src/lxc-pve-prestart-hook:59-60),
        # with lxc's generic lines: the CT is left stopped.
        if not shutdown_container(vmid, timeout):
            kill_container(vmid)
        lock = load_conf(vmid)["keys"].get("lock")
        if lock and lock != "mounted":
            t.log("run_buffer: 571 Script exited with status 2")
            t.log(f'lxc_init: 845 Failed to run lxc.hook.pre-start for container "{vmid}"')
            t.log(f'__lxc_start: 2034 Failed to initialize container "{vmid}"')
            raise TaskError(f"startup for container '{vmid}' failed")
        do_start_task(t, vmid)

    run_task(task)


def pct_destroy(args):
    u = "pct destroy"
    pos, opts = parse_opts(args, u, bools=("purge", "force", "destroy-unreferenced-disks"),
                           positional=1)
    check_known(opts, {"purge", "force", "destroy-unreferenced-disks"}, u)
    vmid = check_vmid(pos[0], u)
    o = dict(opts)
    conf = load_conf_or_die(vmid)
    keys = conf["keys"]
    if keys.get("protection") == "1":
        die(f"can't remove CT {vmid} - protection mode enabled")
    if keys.get("lock"):
        die(f"CT is locked ({keys['lock']})")
    if ha_configured(vmid) and o.get("purge") != "1":
        die(f"unable to remove CT {vmid} - used in HA resources and purge parameter not set.")
    if is_running(vmid) and o.get("force") != "1":
        die(f"unable to destroy CT {vmid} - container is running")

    def task(t):
        with ct_lock(vmid):
            c = load_conf(vmid)
            if c["keys"].get("protection") == "1":
                raise TaskError(f"can't remove CT {vmid} - protection mode enabled")
            check_lock(c["keys"])
            if is_running(vmid):
                t.log(f"forced to stop CT {vmid} before destroying!")
                kill_container(vmid)
            rootfs = parse_propstr(c["keys"].get("rootfs", ""), "volume").get("volume", "")
            if rootfs.split(":")[0] in STORAGES and \
                    STORAGES[rootfs.split(":")[0]]["type"] == "lvmthin":
                t.log(f'  Logical volume "{rootfs.split(":", 1)[1]}" successfully removed.')
            shutil.rmtree(ct_dir(vmid), ignore_errors=True)
            purge_related(t, vmid, o.get("purge") == "1")
            os.unlink(conf_path(vmid))

    run_task(task)


def ha_configured(vmid):
    """PVE::HA::Config::service_is_configured: a resource `ct:<vmid>` in any state."""
    return int(vmid) in read_resources()


def purge_related(t, vmid, purge, what="CT"):  # what: "VM" for qm destroy
    """What the real destroy task does after the disks (pve-container src/PVE/API2/LXC.pm
    907-915): the firewall file always goes; with --purge also the CT's backup-job entries
    (a job left without guests goes entirely, pve-guest-common src/PVE/VZDump/Plugin.pm
    186-229) and its HA resource."""
    try:
        os.unlink(st("etc", "pve", "firewall", f"{vmid}.fw"))
    except FileNotFoundError:
        pass
    if not purge:
        return
    t.log(f"purging CT {vmid} from related configurations.." if what == "CT" else
          f"purging VM {vmid} from related configurations..")
    from .jobs import remove_vmid_from_backup_jobs  # noqa: PLC0415
    remove_vmid_from_backup_jobs(vmid)
    if ha_configured(vmid):
        with crm_lock():
            res = read_resources()
            res.pop(int(vmid), None)
            write_resources(res)
        t.log(f"NOTE: removed CT {vmid} from HA resource configuration." if what == "CT" else
              f"NOTE: removed VM {vmid} from HA resource configuration.")
