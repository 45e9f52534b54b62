"""Shared basics of the simulated node, imported by every other module: the fixed facts
(where the simulator lives, which host files a container hides, the storages, the template
catalogue, the usage lines of every command), the exit/error conventions (`Exit`,
`TaskError`, `die`, `param_die`), the state folder (`Sim`, `st`, `load_state`, JSON files,
test knobs, calls.log) and the flock-based locks.
"""

import datetime
import fcntl
import json
import os
import shutil
import sys
import time


# sim/ (this file is sim/pvesim/basics.py): ct/, bin/ and the entry point pve.py live there
SIM = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
CT_TOOLS = os.path.join(SIM, "ct")
HOST_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
DEFAULT_ASSETS = "/var/cache/pxsim"
PCT_PM = "/usr/share/perl5/PVE/CLI/pct.pm"

# Folders that belong to each container (bind-mounted from STATE/ct/<vmid>/rootfs).
# /tmp is bound last. /run is a fresh tmpfs on every start, /usr an overlay.
CT_BINDS = ["etc", "opt", "srv", "root", "home", "var/lib/docker", "var/lib/pxdeploy"]

# Host files hidden in a fresh container (a fresh Debian template has none of them).
HIDE_IN_CT = [
    "bin/docker", "local/bin/docker", "sbin/dockerd", "bin/dockerd", "sbin/docker-proxy",
    "bin/docker-proxy", "bin/docker-init", "bin/containerd", "bin/containerd-shim",
    "bin/containerd-shim-runc-v1", "bin/containerd-shim-runc-v2", "bin/ctr", "sbin/runc",
    "bin/runc", "bin/curl", "bin/docker-compose", "local/bin/docker-compose",
    "libexec/docker", "lib/docker", "local/lib/docker", "local/libexec/docker",
    "bin/dockerd-rootless.sh", "bin/dockerd-rootless-setuptool.sh", "bin/dnet",
    "sbin/ovrouter", "bin/rootlesskit",
]
# Stand-ins that replace host tools inside every container (see sim/ct/).
CT_STANDINS = {"bin/apt-get": "apt-get", "bin/apt": "apt-get", "bin/systemctl": "systemctl",
               "sbin/service": "service"}

STORAGES = {
    "local": {"type": "dir", "path": "/var/lib/vz",
              "content": ["backup", "import", "iso", "snippets", "vztmpl"],
              "total": 100861726720, "used": 9126805504},
    "local-lvm": {"type": "lvmthin", "content": ["images", "rootdir"],
                  "total": 374538764288, "used": 4494465171},
}

TEMPLATES_BASE = {
    "system": [
        "alpine-3.21-default_20241217_amd64.tar.xz",
        "archlinux-base_20240911-1_amd64.tar.zst",
        "debian-11-standard_11.7-1_amd64.tar.zst",
        "debian-12-standard_12.2-1_amd64.tar.zst",
        "debian-12-standard_12.7-1_amd64.tar.zst",
        "debian-13-standard_13.1-2_amd64.tar.zst",
        "ubuntu-22.04-standard_22.04-1_amd64.tar.zst",
        "ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
    ],
    "turnkeylinux": [
        "debian-12-turnkey-core_18.1-1_amd64.tar.gz",
        "debian-12-turnkey-wordpress_18.1-1_amd64.tar.gz",
    ],
}
# What `pveam update` adds (so "newest match" needs a numeric compare: 12.12 > 12.7).
TEMPLATES_UPDATE = {"system": ["debian-12-standard_12.12-1_amd64.tar.zst",
                               "debian-13-standard_13.6-1_amd64.tar.zst"]}
TEMPLATE_SIZE = 126_136_320  # sparse template files, as big as a real one looks

USAGE = {
    "pct create": "pct create <vmid> <ostemplate> [OPTIONS]",
    "pct set": "pct set <vmid> [OPTIONS]",
    "pct start": "pct start <vmid> [OPTIONS]",
    "pct stop": "pct stop <vmid> [OPTIONS]",
    "pct shutdown": "pct shutdown <vmid> [OPTIONS]",
    "pct reboot": "pct reboot <vmid> [OPTIONS]",
    "pct destroy": "pct destroy <vmid> [OPTIONS]",
    "pct status": "pct status <vmid> [OPTIONS]",
    "pct config": "pct config <vmid> [OPTIONS]",
    "pct exec": "pct exec <vmid> [<extra-args>] [OPTIONS]",
    "pct enter": "pct enter <vmid> [OPTIONS]",
    "pct push": "pct push <vmid> <file> <destination> [OPTIONS]",
    "pct pull": "pct pull <vmid> <path> <destination> [OPTIONS]",
    "pct unlock": "pct unlock <vmid>",
    "pct list": "pct list",
    "pct pending": "pct pending <vmid>",
    "pveam download": "pveam download <storage> <template>",
    "pveam list": "pveam list <storage> [OPTIONS]",
    "pveam available": "pveam available  [OPTIONS]",
    "pveam remove": "pveam remove <template_path>",
    "pveam update": "pveam update",
    "vzdump": "vzdump {<vmid>} [OPTIONS]",
    "pvesm list": "pvesm list <storage> [OPTIONS]",
    "pvesm status": "pvesm status  [OPTIONS]",
    "pvesm path": "pvesm path <volume>",
    "pvesh get": "pvesh get <api_path> [OPTIONS] [FORMAT_OPTIONS]",
    "pvesh create": "pvesh create <api_path> [OPTIONS] [FORMAT_OPTIONS]",
    "pvesh set": "pvesh set <api_path> [OPTIONS] [FORMAT_OPTIONS]",
    "pvesh delete": "pvesh delete <api_path> [OPTIONS] [FORMAT_OPTIONS]",
    "pct snapshot": "pct snapshot <vmid> <snapname> [OPTIONS]",
    "pct listsnapshot": "pct listsnapshot <vmid>",
    "pct rollback": "pct rollback <vmid> <snapname> [OPTIONS]",
    "pct delsnapshot": "pct delsnapshot <vmid> <snapname> [OPTIONS]",
    "pct restore": "pct restore <vmid> <ostemplate> [OPTIONS]",
    "qm create": "qm create <vmid> [OPTIONS]",
    "qm set": "qm set <vmid> [OPTIONS]",
    "qm start": "qm start <vmid> [OPTIONS]",
    "qm stop": "qm stop <vmid> [OPTIONS]",
    "qm shutdown": "qm shutdown <vmid> [OPTIONS]",
    "qm reboot": "qm reboot <vmid> [OPTIONS]",
    "qm destroy": "qm destroy <vmid> [OPTIONS]",
    "qm status": "qm status <vmid> [OPTIONS]",
    "qm config": "qm config <vmid> [OPTIONS]",
    "qm list": "qm list  [OPTIONS]",
    "qm unlock": "qm unlock <vmid>",
    "qm pending": "qm pending <vmid>",
    "qm disk resize": "qm disk resize <vmid> <disk> <size> [OPTIONS]",
    "qm disk import": "qm disk import <vmid> <source> <storage> [OPTIONS]",
    "qm guest cmd": "qm guest cmd <vmid> <command>",
    "qm guest exec": "qm guest exec <vmid> [<extra-args>] [OPTIONS]",
    "qm guest exec-status": "qm guest exec-status <vmid> <pid>",
    "qm snapshot": "qm snapshot <vmid> <snapname> [OPTIONS]",
    "qm listsnapshot": "qm listsnapshot <vmid>",
    "qm rollback": "qm rollback <vmid> <snapname> [OPTIONS]",
    "qm delsnapshot": "qm delsnapshot <vmid> <snapname> [OPTIONS]",
    "qmrestore": "qmrestore <archive> <vmid> [OPTIONS]",
}

# Storage types whose container volumes can be snapshotted (reference more §1.3).
SNAPSHOT_TYPES = ("zfspool", "lvmthin", "rbd", "btrfs")


# ----------------------------------------------------------------------------- basics

class Exit(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class TaskError(Exception):
    pass


def out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def err(msg):
    sys.stderr.write(msg if msg.endswith("\n") else msg + "\n")
    sys.stderr.flush()


def die(msg, code=2):
    """A Perl `die` before any task starts (§1a): message on stderr, exit 2."""
    err(msg)
    raise Exit(code)


def param_die(errors, usage_key):
    """400 Parameter verification failed (§1a)."""
    lines = ["400 Parameter verification failed."]
    for k, v in errors:
        lines.append(f"{k}: {v}")
    if usage_key in USAGE:
        lines.append(USAGE[usage_key])
    die("\n".join(lines))


def need_tool(name, package):
    path = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path:
        die(f"pxsim: '{name}' not found on this machine - install it: "
            f"apt-get install -y {package}", 1)
    return path


class Sim:
    state = None
    node = "pve"
    cfg = {}


def st(*parts):
    return os.path.join(Sim.state, *parts)


def load_state():
    state = os.environ.get("PXSIM_STATE")
    if not state:
        die("pxsim: PXSIM_STATE is not set (it names the simulator's state folder, "
            "created by `python3 sim/pve.py init --state DIR`)", 1)
    if not os.path.exists(os.path.join(state, "node.json")):
        die(f"pxsim: {state} is not a simulator state folder "
            f"(run `python3 sim/pve.py init --state {state}`)", 1)
    Sim.state = state
    with open(st("node.json")) as f:
        Sim.cfg = json.load(f)
    Sim.node = Sim.cfg["node"]
    apply_storage_knobs()


def apply_storage_knobs():
    """Knob `storage_zfs` 1: a `local-zfs` zfspool storage for containers; knob
    `local_rootdir` 1: the `local` dir storage also holds container volumes; knob
    `local_vm_content` 0: `local` has neither `import` nor `snippets` (a VM's needs); knob
    `storage_pbs` 1: a Proxmox Backup Server storage `pbs` (content backup, see pbs.py)."""
    if truthy(knob("storage_pbs", default=0)):
        STORAGES.setdefault("pbs", {"type": "pbs", "content": ["backup"],
                                    "total": 1967317549056, "used": 412316860416})
    if truthy(knob("storage_zfs", default=0)):
        STORAGES.setdefault("local-zfs", {"type": "zfspool", "content": ["images", "rootdir"],
                                          "total": 240518168576, "used": 2147483648})
    if not truthy(knob("local_vm_content", default=1)):
        for c in ("import", "snippets"):
            if c in STORAGES["local"]["content"]:
                STORAGES["local"]["content"].remove(c)
    if truthy(knob("local_rootdir", default=0)):
        for c in ("images", "rootdir"):
            if c not in STORAGES["local"]["content"]:
                STORAGES["local"]["content"].append(c)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_json(path, data):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


CLUSTER_FILE = (".pxsim-cluster.json",)  # under STATE/etc/pve: shared by a cluster's nodes


def members():
    """The simulated cluster (etc/pve/.pxsim-cluster.json, written by launch.py):
    {"name": ..., "nodes": {name: {"nodeid", "ip", "state"}}}; None on a standalone node."""
    c = read_json(st("etc", "pve", *CLUSTER_FILE))
    return c if c and c.get("nodes") else None


def knob(name, vmid=None, default=None):
    """Test knobs (STATE/knobs.json): `name.<vmid>` wins over `name`."""
    k = read_json(st("knobs.json"), {}) or {}
    if vmid is not None and f"{name}.{vmid}" in k:
        return k[f"{name}.{vmid}"]
    return k.get(name, default)


def truthy(v):
    return str(v).lower() in ("1", "yes", "true", "on")


def now_local():
    return datetime.datetime.now()


def fmt_time(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def log_call(argv, code):
    if not Sim.state:
        return
    # "ssh": the client address and port of the SSH connection the call came through (one
    # per pxdeploy run), so a test can tell its run's calls from a concurrent test's.
    ssh = " ".join(os.environ.get("SSH_CLIENT", "").split()[:2])
    line = json.dumps({"time": round(time.time(), 3), "argv": argv, "exit": code,
                       "ssh": ssh}) + "\n"
    try:
        fd = os.open(st("calls.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line.encode())
        os.close(fd)
    except OSError:
        pass


class FileLock:
    """flock-based lock like PVE's lock_file (10 s timeout)."""

    def __init__(self, name, shown, timeout=10):
        self.path = st("run", "lock", name)
        self.shown = shown
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.time() + self.timeout
        said = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if not said:
                    err("trying to acquire lock...")
                    said = True
                if time.time() > deadline:
                    os.close(self.fd)
                    die(f"can't lock file '{self.shown}' - got timeout")
                time.sleep(0.1)

    def __exit__(self, *a):
        os.close(self.fd)


def ct_lock(vmid):
    return FileLock(f"pve-config-{vmid}.lock", f"/run/lock/lxc/pve-config-{vmid}.lock")
