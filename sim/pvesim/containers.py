"""Running containers as seen from the host: run.json and liveness of a container's
pid 1, the per-state LAN namespace with its bridges, starting a container (a detached
`unshare` running `pve.py _init`, veth pairs), stopping it (SIGKILL or graceful SIGTERM,
leftover Docker cgroups removed) and creating its own folders (a copy of /etc, the /usr
overlay upper that hides the host's Docker tools).
"""

import fcntl
import os
import re
import shutil
import signal
import stat
import subprocess
import time

from .basics import (
    CT_BINDS, CT_STANDINS, HIDE_IN_CT, HOST_PY, SIM, Sim, TaskError, knob, need_tool, out,
    read_json, st, truthy, write_json,
)
from .config import current_keys, parse_propstr


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


def lan_setup_lock():
    """Held while the LAN namespace or a bridge is made: containers started at the same
    time on one node would otherwise both create it (`RTNETLINK answers: File exists`)."""
    os.makedirs(st("run", "lock"), exist_ok=True)
    fd = os.open(st("run", "lock", "lan-setup.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def ensure_lan():
    """One network namespace per state folder plays the node's LAN: it holds the
    bridges (vmbr0, ...) that the containers' veth peers are attached to."""
    fd = lan_setup_lock()
    try:
        return make_lan()
    finally:
        os.close(fd)


def make_lan():
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
    fd = lan_setup_lock()
    try:
        make_bridge(name)
    finally:
        os.close(fd)


def make_bridge(name):
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


def start_container(vmid, conf, t, keys=None, extra_args=(), pass_fds=(), fail=None):
    """Start the simulated container: a detached `unshare` whose child (pid 1 of a
    new PID namespace, with its own mount, net and UTS namespaces) is `pve.py _init`.
    A VM (vms.py) passes its own keys, `--kind vm`, its SSH socket and failure text."""
    check_ct_tools()
    keys = keys or current_keys(conf)
    fail = fail or f"startup for container '{vmid}' failed"
    for k, net in net_confs(keys):
        br = net.get("bridge")
        if br and br not in bridges():
            raise TaskError(f"bridge '{br}' does not exist")
    if not extra_args and truthy(knob("start_fail", vmid, "0")):
        out(f"lxc-start: {vmid}: ../src/lxc/lxccontainer.c: wait_on_daemonized_start: "
            f"870 Received container state \"ABORTING\" instead of \"RUNNING\"")
        raise TaskError(fail)
    if not extra_args:
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
         "--state", Sim.state, "--vmid", str(vmid), *extra_args],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
        close_fds=True, pass_fds=tuple(pass_fds), cwd="/")
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
        raise TaskError(fail)
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
        raise TaskError(f"{fail} - {e.stderr.decode(errors='replace').strip()}")
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
    raise TaskError(fail)


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
