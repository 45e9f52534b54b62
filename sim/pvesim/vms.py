"""Running VMs as seen from the host. A simulated VM runs on the container machinery
(containers.py: its own namespaces, /etc copy, /usr overlay, a real dockerd once Docker is
installed) with `pve.py _init --kind vm`, plus:
- its address (VM contract §5): `ipconfig0 ip=dhcp` gets a loopback address 127.0.200.x-
  127.0.207.x (a lease in STATE/vm-leases.json, kept across starts while free), a static
  `ip=127.x.y.z/n` is used as it is: where the node (its sshd, in the host's network
  namespace) reaches the VM's sshd;
- with `ip=dhcp`, also a LAN address on its eth0 like a container's (192.0.2.x from
  STATE/dhcp-leases.json, `dhcp_delay` after the start; ctinit.py), for what the guest
  reaches on the node's LAN; the agent lists it after the loopback address;
- a TCP socket bound to `<address>:22` in the host's network namespace, made here and
  inherited by the VM's pid 1, which listens once cloud-init has set up SSH and serves each
  connection with a real OpenSSH `sshd -i` inside the VM's namespaces;
- the guest agent: running when the VM's /run/pxsim/qga-running exists (written by the VM's
  qemu-guest-agent service, see sim/ct/systemctl).
"""

import hashlib
import os
import socket
import time

from .basics import FileLock, Sim, TaskError, read_json, st, write_json
from .config import current_keys, parse_propstr
from .containers import ct_dir, ensure_ct_fs, run_info, start_container
from .qm_config import agent_enabled, parse_net

IP_FREEBIND = 15
VM_BINDS = ["var/log", "var/lib/cloud"]
POOL = [f"127.0.{200 + a}.{b}" for a in range(8) for b in range(2, 255)]

SSHD_CONFIG = """# Debian's sshd_config (cloud image), written by pxsim
Include /etc/ssh/sshd_config.d/*.conf
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def vm_keys_for_init(vmid, keys):
    """The container-style keys pid 1 needs: hostname, and netN as veth with netN's MAC on
    its bridge in the node's LAN; `ipconfigN ip=dhcp` also gets a LAN lease there (as a
    container's `ip=dhcp`: 192.0.2.x, default route via 192.0.2.1), so the guest reaches
    the LAN (a webhook receiver on 192.0.2.1) as a real VM would. The node itself reaches
    the VM's sshd at its loopback address (address_and_socket), which stays first."""
    res = {"hostname": "localhost"}
    for k, v in keys.items():
        if k.startswith("net") and k[3:].isdigit():
            _model, mac, rest = parse_net(v)
            res[k] = f"name=eth{k[3:]},hwaddr={mac}" + (f",bridge={rest['bridge']}"
                                                         if rest.get("bridge") else "")
            if parse_propstr(keys.get(f"ipconfig{k[3:]}", "")).get("ip") == "dhcp":
                res[k] += ",ip=dhcp"
    return res


def ensure_vm_fs(vmid):
    """A fresh cloud image: no SSH host keys, Debian's sshd_config, hostname `localhost`,
    `cloud-init` in /usr/bin, the VM's own /var/log and /var/lib/cloud."""
    d = ct_dir(vmid)
    fresh = not os.path.isdir(os.path.join(d, "rootfs", "etc"))
    ensure_ct_fs(vmid)
    root = os.path.join(d, "rootfs")
    for sub in VM_BINDS:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    if fresh:
        sshd = os.path.join(root, "etc", "ssh")
        os.makedirs(os.path.join(sshd, "sshd_config.d"), exist_ok=True)
        for fn in os.listdir(sshd):
            if fn.startswith("ssh_host_"):
                os.unlink(os.path.join(sshd, fn))
        for fn in os.listdir(os.path.join(sshd, "sshd_config.d")):
            os.unlink(os.path.join(sshd, "sshd_config.d", fn))
        with open(os.path.join(sshd, "sshd_config"), "w") as f:
            f.write(SSHD_CONFIG)
        with open(os.path.join(root, "etc", "hostname"), "w") as f:
            f.write("localhost\n")
        for fn in ("90-cloud-init-users",):
            p = os.path.join(root, "etc", "sudoers.d", fn)
            if os.path.exists(p):
                os.unlink(p)
        upper = os.path.join(d, "usr-upper", "bin")
        os.makedirs(upper, exist_ok=True)
        link = os.path.join(upper, "cloud-init")
        if not os.path.lexists(link):
            os.symlink("/usr/lib/pxsim/cloud-init", link)


def static_address(keys):
    p = parse_propstr(keys.get("ipconfig0", ""))
    ip = p.get("ip", "")
    if "/" in ip and ip != "dhcp":
        a, n = ip.split("/")
        return a, int(n)
    return None, None


def bind_ssh(addr, wait=3.0):
    """Binds <addr>:22; waits a little while the last boot's processes let it go."""
    deadline = time.time() + wait
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        try:
            s.bind((addr, 22))
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def address_and_socket(vmid, keys):
    """(address, prefix, bound socket) for the VM's sshd (contract §5)."""
    addr, prefix = static_address(keys)
    if addr:
        try:
            return addr, prefix, bind_ssh(addr)
        except OSError as e:
            raise TaskError(f"pxsim: cannot bind {addr}:22 for VM {vmid}'s sshd - {e.strerror}"
                            f" (does this machine's own sshd listen on 0.0.0.0:22?)")
    if parse_propstr(keys.get("ipconfig0", "")).get("ip") != "dhcp":
        return None, None, None
    with FileLock("vm-leases.lock", "vm-leases"):
        leases = read_json(st("vm-leases.json"), {}) or {}
        used = {v for k, v in leases.items() if k != str(vmid)}
        h = int(hashlib.sha1(f"{Sim.state}/{vmid}".encode()).hexdigest(), 16) % len(POOL)
        cands = ([leases[str(vmid)]] if str(vmid) in leases else []) + \
            [POOL[(h + i) % len(POOL)] for i in range(len(POOL))]
        last = None
        for i, a in enumerate(cands):
            if a in used and a != leases.get(str(vmid)):
                continue
            try:
                s = bind_ssh(a, 3.0 if i == 0 and str(vmid) in leases else 0)
            except OSError as e:
                last = e  # taken by another simulated node on this machine
                continue
            leases[str(vmid)] = a
            write_json(st("vm-leases.json"), leases)
            return a, 8, s
    raise TaskError(f"pxsim: no free loopback address for VM {vmid}'s sshd - {last}")


def start_vm(t, vmid, conf):
    """Boot: the guest's pid 1 with the SSH socket; run.json gets the address."""
    keys = current_keys(conf)
    ensure_vm_fs(vmid)
    addr, prefix, sock = address_and_socket(vmid, keys)
    _m, mac, _r = parse_net(keys.get("net0", "")) if keys.get("net0") else (None, None, None)
    write_json(os.path.join(ct_dir(vmid), "vm.json"),
               {"address": addr, "prefix": prefix, "mac": mac,
                "agent": bool(agent_enabled(keys))})
    extra = ["--kind", "vm"]
    fds = ()
    if sock:
        extra += ["--sshfd", str(sock.fileno())]
        fds = (sock.fileno(),)
    try:
        start_container(vmid, conf, t, keys=vm_keys_for_init(vmid, keys), extra_args=extra,
                        pass_fds=fds, fail=f"start failed: QEMU exited with code 1")
    finally:
        if sock:
            sock.close()


def vm_info(vmid):
    return read_json(os.path.join(ct_dir(vmid), "vm.json"), {}) or {}


def agent_running(vmid, info=None):
    info = info or run_info(vmid)
    if not info:
        return False
    return os.path.exists(f"/proc/{info['init_pid']}/root/run/pxsim/qga-running")
