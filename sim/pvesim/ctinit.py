"""Pid 1 of a simulated container (`pve.py _init`, run inside the new namespaces): mounts
(/run, sysfs, the /usr overlay, the container's own folders), hostname and /etc files,
the tools from sim/ct/, network setup including the DHCP lease, docker.service at boot,
and the graceful shutdown on SIGTERM.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

from .basics import (
    CT_BINDS, CT_TOOLS, DEFAULT_ASSETS, FileLock, SIM, Sim, knob, load_state, read_json, st,
    truthy, write_json,
)
from .config import current_keys, load_conf, parse_propstr
from .containers import ct_dir, net_confs


def sh(*args, check=True):
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stdout.decode(errors='replace').strip()}")
    return r


def init_main(argv):
    """pid 1 of a simulated container (runs inside the new namespaces)."""
    state = argv[argv.index("--state") + 1]
    vmid = int(argv[argv.index("--vmid") + 1])
    vm = "--kind" in argv and argv[argv.index("--kind") + 1] == "vm"
    sshfd = int(argv[argv.index("--sshfd") + 1]) if "--sshfd" in argv else None
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
    binds = list(CT_BINDS)
    if vm:
        from .qm_config import agent_enabled, load_vm  # noqa: PLC0415
        from .vms import VM_BINDS, vm_keys_for_init  # noqa: PLC0415
        # Imported now: once the VM's own /tmp is bound, a simulator checked out under /tmp
        # is out of sight, so cloud-init runs in a fork of this process (vm_boot).
        from .cloudinit_run import run_main  # noqa: PLC0415, F401
        conf = load_vm(vmid)
        keys = vm_keys_for_init(vmid, current_keys(conf))
        agent_port = bool(agent_enabled(current_keys(conf)))
        binds += VM_BINDS
    else:
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
        for sub in binds:
            target = "/" + sub
            os.makedirs(target, exist_ok=True)
            sh("mount", "--bind", os.path.join(rootfs, sub), target)
        if os.path.isdir("/dev/shm"):
            sh("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm")
        sh("mount", "--bind", os.path.join(rootfs, "tmp"), "/tmp")
        os.chdir("/")
        if vm:
            try:
                with open("/etc/hostname") as f:
                    hostname = f.read().strip() or "localhost"
            except OSError:
                hostname = "localhost"
            socket.sethostname(hostname)
        else:
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
               "features_check": (not vm) and truthy(knob("docker_features_check", vmid, "1")),
               "kind": "vm" if vm else "ct", "agent_port": vm and agent_port,
               # runc's CVE-2025-52881 breakage (sim/ct/runc): the version `runc --version`
               # reports (unset: the host's runc, untouched), the node's lxc-pve, and whether
               # the container runs without AppArmor.
               "runc_version": knob("runc_version", vmid, None),
               "lxc_pve": knob("lxc_pve_version", None, "6.0.5-3"),
               "apparmor_unconfined": ("lxc.apparmor.profile", "unconfined") in
                                      [(k, v.strip()) for k, v in conf["raw"]]}
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
        if vm:
            vm_boot(state, vmid, agent_port)
        # docker.service, if installed and enabled, comes up with the system
        docker_enabled = (os.path.exists("/etc/systemd/system/multi-user.target.wants/docker.service")
                          and os.path.exists("/usr/sbin/dockerd"))
        delay = float(knob("docker_boot_delay", vmid, "0") or 0)
        if docker_enabled and delay <= 0:
            subprocess.run(["/usr/lib/pxsim/pxsim-service", "start", "docker"],
                           stdout=sys.stdout, stderr=sys.stdout)
        # the other enabled units (sim/ct/systemctl plays them), after docker.service
        wants = "/etc/systemd/system/multi-user.target.wants"
        for unit in sorted(os.listdir(wants)) if os.path.isdir(wants) else []:
            f = os.path.join("/etc/systemd/system", unit)
            if unit != "docker.service" and os.path.isfile(f) and not os.path.islink(f):
                subprocess.run(["/usr/lib/pxsim/systemctl", "start", unit],
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
    listener = None
    while not flags["term"]:
        reap()
        if sshfd is not None and listener is None and os.path.exists("/run/pxsim/sshd-ready"):
            listener = socket.socket(fileno=sshfd)
            listener.set_inheritable(False)
            listener.listen(128)
            listener.setblocking(False)
        if listener is not None:
            serve_ssh(listener)
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
        if listener is None:
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


def vm_boot(state, vmid, agent_port):
    """A VM's boot after the mounts: sshd's folders, the guest agent when installed (its
    udev rule starts it once the virtio port is there), then cloud-init in the background."""
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    os.makedirs("/run/cloud-init", exist_ok=True)
    try:
        with open("/etc/pxsim/installed-packages") as f:
            pkgs = f.read().split()
    except OSError:
        pkgs = []
    if agent_port:
        open("/run/pxsim/qga-port", "w").close()
        if "qemu-guest-agent" in pkgs:
            open("/run/pxsim/qga-running", "w").close()
    # A fork, not `pve.py _cloudinit`: the simulator's files may be under the host's /tmp,
    # which the VM's own /tmp now covers (the module was imported before the mounts).
    from .cloudinit_run import run_main  # noqa: PLC0415
    if os.fork() == 0:
        rc = 1
        try:
            os.setsid()
            null = os.open("/dev/null", os.O_RDWR)
            err = os.open("/run/cloud-init/runner.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(err, 2)
            os.chdir("/")
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            rc = run_main(["--state", state, "--vmid", str(vmid)]) or 0
        except BaseException:  # noqa: BLE001 - the runner's own errors go to runner.err
            import traceback  # noqa: PLC0415
            traceback.print_exc()
        finally:
            os._exit(rc)


def serve_ssh(listener):
    """Waits up to 0.1 s for a connection; each is served by `sshd -i` (inetd mode)."""
    try:
        ready, _, _ = select.select([listener], [], [], 0.1)
    except (OSError, ValueError):
        time.sleep(0.1)
        return
    if not ready:
        return
    try:
        conn, _addr = listener.accept()
    except OSError:
        return
    conn.setblocking(True)
    log = open("/var/log/sshd.log", "ab")
    try:
        subprocess.Popen(["/usr/sbin/sshd", "-i", "-e", "-f", "/etc/ssh/sshd_config"],
                         stdin=conn.fileno(), stdout=conn.fileno(), stderr=log,
                         start_new_session=True, close_fds=True, cwd="/",
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    except OSError as e:
        print(f"init: sshd -i failed: {e}", flush=True)
    finally:
        conn.close()
        log.close()


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
