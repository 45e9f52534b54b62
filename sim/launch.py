#!/usr/bin/env python3
"""Start and stop the test stack: a real OpenSSH sshd on 127.0.0.1 in front of the
simulated Proxmox node (sim/pve.py + sim/bin/).

    python3 sim/launch.py up [--dir DIR] [--node pve] [--compose-version 2.40.3]
                             [--template-cached] [--sshd-extra 'Key value']... [--no-sim]
                             [--owner-pid PID] [--host-key ed25519|ecdsa|rsa]...
                             [--cluster NAME [--join FIRST_DIR] [--listen 127.0.0.2]]
    python3 sim/launch.py down --dir DIR [--keep]
    python3 sim/launch.py config --dir DIR [--source APP_DIR] [--base pxdeploy.toml]

`up` prints one JSON object on stdout:
    {"dir", "port", "host", "user", "identity_file", "known_hosts", "state",
     "sshd_pid", "sshd_log", "sim", "host_keys"}
`--host-key` (repeatable, default ed25519) chooses the types of sshd's host keys
(DIR/host_<type>); "host_keys" maps each type to its private key file, and the
`known_hosts` file has one line per host key.
Everything else (progress, warnings, errors) goes to stderr. `down` is idempotent.
`--cluster NAME` makes the node a member of a simulated cluster: the first member creates it,
the others `--join` the first member's DIR (they share its STATE/etc/pve, as pmxcfs shares
/etc/pve, and its client key), listen on their own loopback address (`--listen`) on the
first member's port, and appear in `pvesh get /cluster/status` with that address as `ip`.
A member always has an RSA host key too (added to --host-key), and its start records it in
the shared /etc/pve as pve-cluster does (`nodes/<node>/ssh_known_hosts`, and
`priv/known_hosts` for the creator; sim/pvesim/cluster.py `updatecerts`).
With --owner-pid, a small watchdog runs `down` when that process dies without doing it
(a test binary killed by Ctrl-C or a timeout leaves no sshd or dockerd behind).
`config` prints a complete pxdeploy.toml for the host in DIR: the settings of --base (default
APP_DIR/pxdeploy.toml when it exists) over small defaults, with [proxmox] pointing at the
simulated host and app.source the absolute APP_DIR.

DIR must not be under a folder the simulated containers cover (/tmp, /etc, /opt, /srv,
/root, /home, /run, /usr, /var/lib/docker, /var/lib/pxdeploy, /var/run); the default is a new folder
/var/tmp/pxsim-XXXXXXXX. Stdlib only; runs as root.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SIM = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(SIM)
PVE_PY = os.path.join(SIM, "pve.py")
SSHD = "/usr/sbin/sshd"
INSTALL = ("apt-get install -y --no-install-recommends openssh-server openssh-client "
           "(or run scripts/install-test-deps)")
# Folders that every simulated container covers with its own copy: the state must not be there.
COVERED = ["/tmp", "/etc", "/opt", "/srv", "/root", "/home", "/run", "/usr",
           "/var/lib/docker", "/var/lib/pxdeploy", "/var/run"]
READY_TIMEOUT = 10.0
PORT_ATTEMPTS = 5


class Fail(Exception):
    pass


def log(msg):
    sys.stderr.write(f"launch: {msg}\n")
    sys.stderr.flush()


def host_python():
    # The simulator runs under the system Python (the one sshd sessions find on PATH).
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def need_tools():
    missing = []
    if not os.access(SSHD, os.X_OK):
        missing.append(f"{SSHD} (package openssh-server)")
    for tool in ("ssh-keygen", "ssh"):
        if not shutil.which(tool, path="/usr/bin:/bin:/usr/sbin:/sbin"):
            missing.append(f"{tool} (package openssh-client)")
    if missing:
        raise Fail("missing " + ", ".join(missing) + "\n  install with: " + INSTALL)
    if os.geteuid() != 0:
        raise Fail("the test stack runs as root (sshd privilege separation, "
                   "the simulator's mount namespaces); run the tests as root")


def check_dir(path):
    real = os.path.realpath(path)
    for c in COVERED:
        if real == c or real.startswith(c + "/"):
            raise Fail(f"--dir {path}: must not be under {c} (the simulated containers "
                       f"cover it); use a folder under /var/tmp")
    return real


HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")


def keygen(path, comment, kind="ed25519"):
    for p in (path, path + ".pub"):
        if os.path.exists(p):
            os.unlink(p)
    r = subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", path],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise Fail(f"ssh-keygen -f {path} failed: {r.stderr.strip()}")
    os.chmod(path, 0o600)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_start_time(pid):
    """Start time of a process (clock ticks since boot), to guard against PID reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    return int(data[data.rindex(")") + 2:].split()[19])


def alive(pid, start=None):
    st = proc_start_time(pid)
    if st is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        if data[data.rindex(")") + 2] == "Z":
            return False
    except OSError:
        return False
    return start is None or st == start


def write_config(d, port, extra, host_keys, listen="127.0.0.1"):
    state = os.path.join(d, "state")
    path = "PATH=" + ":".join([os.path.join(SIM, "bin"), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    # sshd uses the FIRST value it reads for most keywords: extras go first so they win.
    # `Match` blocks must come last.
    plain = [e for e in extra if not e.lstrip().lower().startswith("match ")]
    match = [e for e in extra if e.lstrip().lower().startswith("match ")]
    lines = ["# written by sim/launch.py"]
    lines += plain
    lines += [
        f"Port {port}",
        f"ListenAddress {listen}",
    ]
    lines += [f"HostKey {d}/host_{kind}" for kind in host_keys]
    lines += [
        f"AuthorizedKeysFile {d}/authorized_keys",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        f"PidFile {d}/sshd.pid",
        "MaxSessions 50",
        "MaxStartups 50:30:100",
        "LogLevel VERBOSE",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "UseDNS no",
        "Subsystem sftp internal-sftp",
        f"SetEnv {path} PXSIM_STATE={state}",
    ]
    lines += match
    cfg = os.path.join(d, "sshd_config")
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run([SSHD, "-t", "-f", cfg], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise Fail(f"`sshd -t -f {cfg}` rejected the config:\n{r.stdout.strip()}")
    return cfg


# sshd (and so every session) runs in a private mount namespace where /etc is an overlay
# (upper on a tmpfs: nothing reaches the real /etc) and STATE/etc/pve is bound on /etc/pve,
# as sim/README.md asks, so pxdeploy can edit /etc/pve/lxc/<vmid>.conf like on a real node;
# and /run is an overlay (upper on the same tmpfs), so what sessions create there, like
# pxdeploy's lock folder /run/pxdeploy, is private to this host: the deploy locks of
# parallel tests and demos on this machine do not see each other, and a test can plant a
# hostile /run/pxdeploy (a symlink, another owner) without touching the real /run.
# unshare and sh exec, so the pid stays sshd's.
PRIVATE_ETC_PVE = """set -e
mount -t tmpfs -o mode=0755 pxsim-etc "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay pxsim-etc -o lowerdir=/etc,upperdir="$1/upper",workdir="$1/work" /etc
mkdir -p /etc/pve
mount --bind "$2" /etc/pve
# A cluster member's /etc/pve/lxc is its own nodes/<node>/lxc (pmxcfs' magic link).
if [ -n "$3" ]; then mount --bind "/etc/pve/nodes/$3/lxc" /etc/pve/lxc; fi
if [ -n "$3" ] && [ -d "/etc/pve/nodes/$3/qemu-server" ] && [ ! -L /etc/pve/qemu-server ]; then
  mount --bind "/etc/pve/nodes/$3/qemu-server" /etc/pve/qemu-server
fi
# The node's /var/lib/vz is the state's: snippets, import images, dumps at their real paths.
mkdir -p /var/lib/vz "$4"
mount --bind "$4" /var/lib/vz
mkdir "$1/run-upper" "$1/run-work"
mount -t overlay pxsim-run -o lowerdir=/run,upperdir="$1/run-upper",workdir="$1/run-work" /run
# bash sources root's ~/.bashrc for every command sshd runs (Debian's SSH_SOURCE_BASHRC).
# A Proxmox node's is Debian's stock one; this machine's may do slow things (`pyenv init`:
# 0.5 s per SSH channel), which would be charged to every pct call. The node gets the stock.
if [ -f /root/.bashrc ]; then
  if [ -f /etc/skel/.bashrc ]; then mount --bind /etc/skel/.bashrc /root/.bashrc
  else : > "$1/bashrc"; mount --bind "$1/bashrc" /root/.bashrc; fi
fi
shift 4
exec "$@"
"""


def private_etc_pve(d, member=""):
    ovl = os.path.join(d, "etc-overlay")
    pve = os.path.realpath(os.path.join(d, "state", "etc", "pve"))
    os.makedirs(ovl, exist_ok=True)
    os.makedirs(pve, exist_ok=True)
    vz = os.path.join(d, "state", "var", "lib", "vz")
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            PRIVATE_ETC_PVE, "sh", ovl, pve, member, vz]


def start_sshd(d, cfg, port, listen="127.0.0.1", member=""):
    """Start sshd; return its pid once it listens, or None when the port was taken."""
    logpath = os.path.join(d, "sshd.log")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    with open(logpath, "ab") as logf:
        offset = logf.tell()
        p = subprocess.Popen(private_etc_pve(d, member) + [SSHD, "-D", "-e", "-f", cfg],
                             stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=logf, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + READY_TIMEOUT
    want = f"Server listening on {listen} port {port}."
    while True:
        with open(logpath, errors="replace") as f:
            f.seek(offset)
            text = f.read()
        if want in text:
            return p.pid
        code = p.poll()
        if code is not None:
            if "Address already in use" in text or "Cannot bind any address" in text:
                return None
            raise Fail(f"sshd exited with code {code} before listening; its log "
                       f"({logpath}):\n{text.strip()}")
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            raise Fail(f"sshd did not listen on {listen}:{port} within {READY_TIMEOUT:.0f} s; "
                       f"its log ({logpath}):\n{text.strip()}")
        time.sleep(0.02)


def up(args):
    need_tools()
    if args.dir:
        d = check_dir(args.dir)
        os.makedirs(d, exist_ok=True)
        info = read_info(d)
        if info and alive(info["sshd_pid"], info.get("sshd_start")):
            raise Fail(f"{d} already has a running sshd (pid {info['sshd_pid']}); "
                       f"run `python3 sim/launch.py down --dir {d}` first")
    else:
        d = tempfile.mkdtemp(prefix="pxsim-", dir="/var/tmp")
    os.chmod(d, 0o755)
    state = os.path.join(d, "state")
    os.makedirs(state, exist_ok=True)

    host_keys = list(dict.fromkeys(args.host_key or ["ed25519"]))
    if args.cluster and "rsa" not in host_keys:
        host_keys.append("rsa")  # pve-cluster records only a node's RSA key, so it needs one
    host_pubs = []
    for kind in host_keys:
        keygen(os.path.join(d, f"host_{kind}"), "pxsim-host", kind)
        with open(os.path.join(d, f"host_{kind}.pub")) as f:
            host_pubs.append(" ".join(f.read().split()[:2]))
    first = None
    if args.join:
        first = os.path.realpath(args.join)
        finfo = read_info(first)
        if not finfo or "port" not in finfo:
            raise Fail(f"--join {args.join}: no running cluster member there")
        for f in ("client_ed25519", "client_ed25519.pub"):
            shutil.copyfile(os.path.join(first, f), os.path.join(d, f))
        os.chmod(os.path.join(d, "client_ed25519"), 0o600)
        shared = os.path.join(first, "state", "etc", "pve")
        os.makedirs(os.path.join(state, "etc"), exist_ok=True)
        if not os.path.lexists(os.path.join(state, "etc", "pve")):
            os.symlink(shared, os.path.join(state, "etc", "pve"))
    else:
        keygen(os.path.join(d, "client_ed25519"), "pxsim-client")
    shutil.copyfile(os.path.join(d, "client_ed25519.pub"), os.path.join(d, "authorized_keys"))
    listen = args.listen or "127.0.0.1"
    if args.cluster:
        # the node's own lxc/ is bound on /etc/pve/lxc by each sshd (not a shared symlink)
        os.makedirs(os.path.join(state, "etc", "pve", "lxc"), exist_ok=True)
        os.makedirs(os.path.join(state, "etc", "pve", "qemu-server"), exist_ok=True)
        init_sim(args, d, state)

    pid = None
    for _ in range(1 if first else PORT_ATTEMPTS):
        port = read_info(first)["port"] if first else free_port()
        cfg = write_config(d, port, args.sshd_extra or [], host_keys, listen)
        pid = start_sshd(d, cfg, port, listen, args.node if args.cluster else "")
        if pid is not None:
            break
        log(f"port {port} was taken before sshd could bind it; trying another")
    if pid is None:
        raise Fail(f"sshd could not bind a free port in {PORT_ATTEMPTS} attempts"
                   if not first else f"{listen}:{port} is taken")
    info = {"sshd_pid": pid, "sshd_start": proc_start_time(pid), "port": port}
    if args.owner_pid:
        wpid = start_watchdog(d, args.owner_pid)
        info.update(watchdog_pid=wpid, watchdog_start=proc_start_time(wpid))
    with open(os.path.join(d, "launch.json"), "w") as f:
        json.dump(info, f)

    kh = os.path.join(d, "known_hosts")
    with open(kh, "w") as f:
        f.writelines(f"[{listen}]:{port} {pub}\n" for pub in host_pubs)

    sim = bool(args.cluster)
    if args.cluster:
        register(args, state, listen)
    elif args.no_sim:
        pass
    elif os.path.exists(PVE_PY):
        init_sim(args, d, state)
        sim = True
    else:
        log(f"warning: {PVE_PY} does not exist yet: sshd runs without the simulated node")

    print(json.dumps({
        "dir": d,
        "port": port,
        "host": listen,
        "user": "root",
        "identity_file": os.path.join(d, "client_ed25519"),
        "known_hosts": kh,
        "state": state,
        "sshd_pid": pid,
        "sshd_log": os.path.join(d, "sshd.log"),
        "sim": sim,
        "host_keys": {kind: os.path.join(d, f"host_{kind}") for kind in host_keys},
    }))
    return 0


def init_sim(args, d, state):
    cmd = [host_python(), PVE_PY, "init", "--state", state, "--node", args.node]
    if args.compose_version:
        cmd += ["--compose-version", args.compose_version]
    if args.template_cached:
        cmd += ["--template-cached"]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        down(argparse.Namespace(dir=d, keep=False))
        raise Fail(f"`{' '.join(cmd)}` exited {r.returncode}:\n{r.stderr.strip()}")


def register(args, state, listen):
    """Adds this node to the cluster file in the shared etc/pve."""
    path = os.path.join(state, "etc", "pve", ".pxsim-cluster.json")
    try:
        with open(path) as f:
            c = json.load(f)
    except (OSError, ValueError):
        c = {"name": args.cluster, "nodes": {}}
    c["nodes"][args.node] = {"nodeid": len(c["nodes"]) + 1, "ip": listen,
                             "state": os.path.realpath(state)}
    c["version"] = len(c["nodes"]) + 1
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(c, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    # pve-cluster's SSH host key records in /etc/pve (sim/pvesim/cluster.py `updatecerts`)
    sys.path.insert(0, SIM)
    from pvesim.cluster import updatecerts  # noqa: PLC0415 - the simulator's package
    node_json = os.path.join(state, "node.json")
    with open(node_json) as f:
        version = json.load(f).get("pve_version", "9.2.11")
    with open(os.path.join(os.path.dirname(state), "host_rsa.pub")) as f:
        updatecerts(os.path.join(state, "etc", "pve"), args.node, listen, f.read(), version,
                    create=not args.join)


def start_watchdog(d, owner):
    start = proc_start_time(owner)
    if start is None:
        raise Fail(f"--owner-pid {owner}: no such process")
    p = subprocess.Popen([host_python(), os.path.realpath(__file__), "_watch", "--dir", d,
                          "--pid", str(owner), "--start", str(start)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, "watchdog.log"), "ab"),
                         start_new_session=True, close_fds=True)
    return p.pid


def watch(args):
    """Wait for the owner to die, then tear the host down (unless `down` came first)."""
    d = os.path.realpath(args.dir)
    while alive(args.pid, args.start):
        if not os.path.isdir(d):
            return 0
        time.sleep(1)
    if not os.path.isdir(d):
        return 0
    log(f"owner {args.pid} is gone: tearing down {d}")
    args.keep = False
    return down(args)


def read_info(d):
    try:
        with open(os.path.join(d, "launch.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    # Fall back to sshd's own pid file.
    try:
        with open(os.path.join(d, "sshd.pid")) as f:
            return {"sshd_pid": int(f.read().strip()), "sshd_start": None}
    except (OSError, ValueError):
        return None


def children_map():
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(p))
    return kids


def descendants(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def stop(d):
    """Kill sshd and every process below it (connection handlers and their commands)."""
    info = read_info(d)
    if not info:
        return
    pid = info["sshd_pid"]
    if not alive(pid, info.get("sshd_start")):
        return
    victims = [pid] + descendants(pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for v in victims:
            try:
                os.kill(v, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(alive(v) for v in victims):
            time.sleep(0.02)
        if not any(alive(v) for v in victims):
            break
        victims = [v for v in victims if alive(v)] + descendants(pid)
    if alive(pid):
        raise Fail(f"sshd (pid {pid}) survived SIGKILL")


def mounts_under(d):
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp == d or mp.startswith(d + "/"):
                    found.append(mp)
    except OSError:
        pass
    return found


def down(args):
    d = os.path.realpath(args.dir)
    if not os.path.isdir(d):
        return 0
    state = os.path.join(d, "state")
    errors = []
    info = read_info(d) or {}
    w = info.get("watchdog_pid")
    if w and w != os.getpid() and alive(w, info.get("watchdog_start")):
        try:
            os.kill(w, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if os.path.exists(PVE_PY) and os.path.exists(os.path.join(state, "node.json")):
        r = subprocess.run([host_python(), PVE_PY, "cleanup", "--state", state],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            errors.append(f"pve.py cleanup exited {r.returncode}: {r.stderr.strip()}")
    stop(d)
    if not args.keep:
        for mp in sorted(mounts_under(d), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        if mounts_under(d):
            errors.append(f"mounts remain under {d}: not removing it")
        else:
            shutil.rmtree(d, ignore_errors=True)
            if os.path.exists(d):
                errors.append(f"could not remove {d} completely")
    if errors:
        raise Fail("; ".join(errors))
    return 0


# The defaults of a config for the simulated host (as in tests/support/sim.rs).
CONFIG_DEFAULTS = {
    "container": {"vmid": 210, "hostname": "app", "template": "debian-12-standard",
                  "template_storage": "local", "storage": "local-lvm", "disk_gb": 4,
                  "memory_mb": 512, "swap_mb": 0, "cores": 1, "bridge": "vmbr0", "ip": "dhcp"},
    "app": {"name": "app", "source": ".", "compose_file": "docker-compose.yml"},
    "health": {"timeout_secs": 90, "interval_secs": 1},
}


def merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise Fail(f"cannot write {v!r} as TOML")


def toml_dump(table, prefix=""):
    out = []
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict)]
    if prefix and (scalars or not tables):
        out.append(f"[{prefix}]")
    for k, v in scalars:
        out.append(f"{k} = {toml_value(v)}")
    if scalars:
        out.append("")
    for k, v in tables:
        out.extend(toml_dump(v, f"{prefix}.{k}" if prefix else k))
    return out


def config(args):
    import copy
    d = os.path.realpath(args.dir)
    info = read_info(d)
    if not info or "port" not in info or not alive(info["sshd_pid"], info.get("sshd_start")):
        raise Fail(f"no running simulated host in {d}; start one with "
                   f"`python3 sim/launch.py up --dir {d}`")
    cfg = copy.deepcopy(CONFIG_DEFAULTS)
    source = os.path.realpath(args.source) if args.source else None
    base = args.base or (os.path.join(source, "pxdeploy.toml") if source else None)
    if base and os.path.exists(base):
        import tomllib
        with open(base, "rb") as f:
            merge(cfg, tomllib.load(f))
    elif args.base:
        raise Fail(f"--base {args.base}: no such file")
    cfg["proxmox"] = {
        "host": "127.0.0.1", "port": info["port"], "user": "root",
        "identity_file": os.path.join(d, "client_ed25519"),
        "known_hosts": os.path.join(d, "known_hosts"),
        "host_key_check": "strict", "connect_timeout_secs": 10,
    }
    if source:
        cfg.setdefault("app", {})["source"] = source
    order = ["proxmox", "container", "app", "env", "health", "backup"]
    ordered = {k: cfg[k] for k in order if k in cfg}
    ordered.update({k: v for k, v in cfg.items() if k not in ordered})
    print(f"# pxdeploy.toml for the simulated Proxmox host in {d} (sim/launch.py config)")
    print("\n".join(toml_dump(ordered)).rstrip())
    return 0


def main():
    ap = argparse.ArgumentParser(prog="launch.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start sshd (+ the simulated node) and print JSON")
    u.add_argument("--dir", help="folder for keys, config, logs and state "
                                 "(default: a new /var/tmp/pxsim-XXXXXXXX)")
    u.add_argument("--node", default="pve", help="Proxmox node name (default pve)")
    u.add_argument("--compose-version", help="Compose version inside containers")
    u.add_argument("--template-cached", action="store_true",
                   help="the Debian 12 template is already downloaded")
    u.add_argument("--sshd-extra", action="append", metavar="'Key value'",
                   help="extra sshd_config line (repeatable; wins over the defaults)")
    u.add_argument("--no-sim", action="store_true", help="sshd only, no simulated node")
    u.add_argument("--host-key", action="append", choices=HOST_KEY_TYPES,
                   help="a host key type for sshd (repeatable; default ed25519)")
    u.add_argument("--cluster", metavar="NAME", help="a member of the simulated cluster NAME")
    u.add_argument("--join", metavar="FIRST_DIR",
                   help="join the cluster of the member in FIRST_DIR (shared /etc/pve)")
    u.add_argument("--listen", metavar="ADDR", help="loopback address (default 127.0.0.1)")
    u.add_argument("--owner-pid", type=int,
                   help="tear everything down when this process dies (a watchdog process)")
    dn = sub.add_parser("down", help="stop everything and remove the folder")
    dn.add_argument("--dir", required=True)
    dn.add_argument("--keep", action="store_true", help="keep the folder (logs, state)")
    cf = sub.add_parser("config", help="print a pxdeploy.toml for the running host in DIR")
    cf.add_argument("--dir", required=True)
    cf.add_argument("--source", help="the app folder (app.source)")
    cf.add_argument("--base", help="a pxdeploy.toml whose settings to keep "
                                   "(default SOURCE/pxdeploy.toml when it exists)")
    w = sub.add_parser("_watch")  # internal: the --owner-pid watchdog
    w.add_argument("--dir", required=True)
    w.add_argument("--pid", type=int, required=True)
    w.add_argument("--start", type=int, required=True)
    args = ap.parse_args()
    try:
        return {"up": up, "down": down, "config": config, "_watch": watch}[args.cmd](args)
    except Fail as e:
        sys.stderr.write(f"launch: error: {e}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
