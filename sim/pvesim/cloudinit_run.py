"""cloud-init inside a simulated VM (`pve.py _cloudinit`, started by the VM's pid 1 at every
boot), applying the data of the "ISO" (STATE/ct/<vmid>/cidata/) like cloud-init 22.4.2:
- per instance (a new `instance-id` in meta-data; /var/lib/cloud/data/instance-id keeps the
  last one): write_files, hostname, /etc/hosts, users (useradd, sudoers, authorized keys,
  `passwd -l`), cc_ssh (`ssh_deletekeys`, `ssh_keys`, else `ssh_genkeytypes`), then - while
  sshd already answers - packages (`package_update`/`package_upgrade`/`packages` through the
  apt-get stand-in), deferred write_files, runcmd (written to a `#!/bin/sh` script and run:
  its exit code is the last command's, as the real scripts_user);
- every boot: the hostname, /etc/hosts, then SSH comes up (/run/pxsim/sshd-ready).
Command output goes to /var/log/cloud-init-output.log; the state to
/run/cloud-init/status.json, read by the VM's `cloud-init status` (sim/ct/cloud-init).
A user-data that does not parse (yamlish) is an error of cloud-init, not a crash.
"""

import base64
import grp
import json
import os
import pwd
import shlex
import socket
import subprocess
import time

from .basics import load_state
from .containers import ct_dir
from .yamlish import YamlError, loads

VERSION = "22.4.2"
LOG = "/var/log/cloud-init-output.log"
STATUS = "/run/cloud-init/status.json"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
       "DEBIAN_FRONTEND": "noninteractive"}
KEY_TYPES = ("rsa", "ecdsa", "ed25519", "dsa")


def stamp():
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())


class Run:
    def __init__(self, vmid):
        self.vmid = vmid
        self.errors = []
        self.t0 = time.time()
        self.status("running")

    def status(self, s):
        os.makedirs("/run/cloud-init", exist_ok=True)
        data = {"boot_status_code": "enabled-by-generator", "datasource": "nocloud",
                "detail": "DataSourceNoCloud [seed=/dev/sr0][dsmode=net]",
                "errors": self.errors, "extended_status": s, "last_update": stamp(),
                "recoverable_errors": {}, "status": s}
        tmp = STATUS + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, STATUS)

    def log(self, line):
        with open(LOG, "a") as f:
            f.write(line + "\n")

    def warn(self, module, msg):
        self.log(f"{time.strftime('%Y-%m-%d %H:%M:%S')},000 - {module}.py[WARNING]: {msg}")

    def cmd(self, argv, check=True, stdin=None):
        with open(LOG, "ab") as f:
            r = subprocess.run(argv, stdout=f, stderr=f, env=ENV, cwd="/",
                               input=stdin.encode() if stdin else None,
                               stdin=None if stdin else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError(f"Unexpected error while running command.\nCommand: {argv}\n"
                               f"Exit code: {r.returncode}")
        return r.returncode

    def module(self, name, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - a module failure is reported, as cloud-init does
            self.warn(f"cc_{name}", f"Running module {name} failed")
            for line in str(e).split("\n"):
                self.log(line)
            self.errors.append(f"('{name}', {type(e).__name__}({str(e)!r}))")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def as_list(v):
    if v is None:
        return []
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return list(v)


def write_files(r, cfg, deferred):
    for wf in cfg.get("write_files") or []:
        if bool(wf.get("defer")) != deferred:
            continue
        path = wf["path"]
        content = wf.get("content", "") or ""
        enc = str(wf.get("encoding", "")).lower()
        data = base64.b64decode(content) if enc in ("b64", "base64") else str(content).encode()
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "ab" if wf.get("append") else "wb") as f:
            f.write(data)
        perms = wf.get("permissions", "0644")
        os.chmod(path, int(str(perms), 8) if isinstance(perms, str) else perms)
        owner = str(wf.get("owner", "root:root"))
        u, _, g = owner.partition(":")
        os.chown(path, pwd.getpwnam(u).pw_uid, grp.getgrnam(g or u).gr_gid)


def set_hostname(r, cfg, meta):
    name = cfg.get("hostname") or meta.get("local-hostname")
    if not name:
        return
    name = str(name)
    fqdn = str(cfg.get("fqdn") or name)
    short = name.split(".")[0]
    with open("/etc/hostname", "w") as f:
        f.write(short + "\n")
    socket.sethostname(short)
    if cfg.get("manage_etc_hosts", True) not in (False, "false"):
        with open("/etc/hosts", "w") as f:
            f.write(f"127.0.1.1 {fqdn} {short}\n127.0.0.1 localhost\n\n"
                    "::1 localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n"
                    "ff02::2 ip6-allrouters\n")


def default_user(cfg):
    users = cfg.get("users", ["default"]) or []
    if isinstance(users, str):
        users = as_list(users)
    if "default" not in users and not any(isinstance(u, dict) and u.get("name") == "default"
                                          for u in users):
        return None
    return str(cfg.get("user") or "debian")


def add_user(r, name, u):
    try:
        pwd.getpwnam(name)
        exists = True
    except KeyError:
        exists = False
    if not exists:
        argv = ["useradd", name, "-m", "-s", str(u.get("shell", "/bin/bash"))]
        if u.get("gecos"):
            argv += ["-c", str(u["gecos"])]
        groups = [g for g in as_list(u.get("groups")) if g]
        for g in groups:
            try:
                grp.getgrnam(g)
            except KeyError:
                r.cmd(["groupadd", g])
        if groups:
            argv += ["-G", ",".join(groups)]
        r.cmd(argv)
    if u.get("lock_passwd", True):
        r.cmd(["passwd", "-l", name])
    sudo = u.get("sudo")
    if sudo:
        rules = as_list(sudo) if isinstance(sudo, list) else [sudo]
        p = "/etc/sudoers.d/90-cloud-init-users"
        text = read(p) or f"\n# Created by cloud-init v. {VERSION} on {stamp()}\n"
        text += f"\n# User rules for {name}\n" + "".join(f"{name} {x}\n" for x in rules)
        os.makedirs("/etc/sudoers.d", exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o440)
    keys = u.get("ssh_authorized_keys") or []
    if keys:
        authorize(name, as_list(keys) if isinstance(keys, str) else keys)


def authorize(name, keys):
    pw = pwd.getpwnam(name)
    d = os.path.join(pw.pw_dir, ".ssh")
    os.makedirs(d, mode=0o700, exist_ok=True)
    p = os.path.join(d, "authorized_keys")
    old = read(p) or ""
    with open(p, "w") as f:
        f.write(old + "".join(str(k).strip() + "\n" for k in keys))
    for x in (d, p):
        os.chown(x, pw.pw_uid, pw.pw_gid)
    os.chmod(p, 0o600)


def users_groups(r, cfg):
    for g in as_list(cfg.get("groups")):
        name = g if isinstance(g, str) else next(iter(g))
        try:
            grp.getgrnam(name)
        except KeyError:
            r.cmd(["groupadd", name])
    users = cfg.get("users", ["default"]) or []
    if isinstance(users, str):
        users = as_list(users)
    for u in users:
        if u == "default" or (isinstance(u, dict) and u.get("name") == "default"):
            name = default_user(cfg)
            add_user(r, name, {"sudo": "ALL=(ALL) NOPASSWD:ALL", "groups": ["sudo"],
                               "lock_passwd": True, "shell": "/bin/bash"})
        elif isinstance(u, dict):
            add_user(r, str(u["name"]), u)
        else:
            add_user(r, str(u), {})


def cc_ssh(r, cfg):
    if cfg.get("ssh_deletekeys", True):
        for fn in os.listdir("/etc/ssh"):
            if fn.startswith("ssh_host_") and "key" in fn:
                os.unlink(os.path.join("/etc/ssh", fn))
    if "ssh_keys" in cfg:
        keys = cfg["ssh_keys"] or {}
        for k, v in keys.items():
            typ, _, part = k.rpartition("_")
            if typ not in KEY_TYPES or part not in ("private", "public", "certificate"):
                r.warn("cc_ssh", f"Skipping unknown ssh key type {k}")
                continue
            fn = f"/etc/ssh/ssh_host_{typ}_key" + {"private": "", "public": ".pub",
                                                   "certificate": "-cert.pub"}[part]
            with open(fn, "w") as f:
                f.write(str(v) if str(v).endswith("\n") else f"{v}\n")
            os.chmod(fn, 0o600 if part == "private" else 0o644)
        for typ in KEY_TYPES:
            if f"{typ}_private" in keys and f"{typ}_public" not in keys:
                r.cmd(["sh", "-xc", f"ssh-keygen -y -f /etc/ssh/ssh_host_{typ}_key > "
                                    f"/etc/ssh/ssh_host_{typ}_key.pub"])
    else:
        for typ in as_list(cfg.get("ssh_genkeytypes", ["rsa", "ecdsa", "ed25519"])):
            fn = f"/etc/ssh/ssh_host_{typ}_key"
            if not os.path.exists(fn):
                r.cmd(["ssh-keygen", "-q", "-t", str(typ), "-N", "", "-f", fn])
    dflt = default_user(cfg)
    extra = cfg.get("ssh_authorized_keys") or []
    if dflt and extra:
        authorize(dflt, as_list(extra) if isinstance(extra, str) else extra)


def packages(r, cfg):
    pkgs = [str(p) if not isinstance(p, list) else "=".join(map(str, p))
            for p in cfg.get("packages") or []]
    if cfg.get("package_update") or cfg.get("package_upgrade") or pkgs:
        r.cmd(["apt-get", "update"])
    if cfg.get("package_upgrade"):
        r.cmd(["apt-get", "--option=Dpkg::Options::=--force-confold", "--assume-yes",
               "dist-upgrade"])
    if pkgs:
        r.cmd(["apt-get", "--option=Dpkg::Options::=--force-confold",
               "--option=Dpkg::options::=--force-unsafe-io", "--assume-yes", "--quiet",
               "install"] + pkgs)


def runcmd_script(cfg):
    lines = ["#!/bin/sh"]
    for c in cfg.get("runcmd") or []:
        lines.append(c if isinstance(c, str) else " ".join(shlex.quote(str(x)) for x in c))
    if os.environ.get("PXSIM_RUNCMD_FAIL"):
        # knob runcmd_fail[.vmid]: the user's last command fails (after the agent started)
        lines.append("echo 'pxsim: runcmd failed (knob runcmd_fail)'; exit 1")
    return "\n".join(lines) + "\n"


def scripts_user(r, cfg, raw_user):
    d = "/var/lib/cloud/instance/scripts"
    os.makedirs(d, exist_ok=True)
    scripts = []
    if cfg.get("runcmd"):
        with open(os.path.join(d, "runcmd"), "w") as f:
            f.write(runcmd_script(cfg))
        scripts.append("runcmd")
    if raw_user.startswith("#!"):
        with open(os.path.join(d, "part-001"), "w") as f:
            f.write(raw_user)
        scripts.append("part-001")
    failed = []
    for s in sorted(scripts):
        p = os.path.join(d, s)
        os.chmod(p, 0o700)
        if r.cmd([p], check=False) != 0:
            failed.append(s)
    if failed:
        r.warn("util", f"Failed running {d}/{failed[0]} [1]")
        raise RuntimeError(f"Runparts: {len(failed)} failures ({','.join(failed)}) in {d}")


def run_main(argv):
    os.environ["PXSIM_STATE"] = argv[argv.index("--state") + 1]
    vmid = int(argv[argv.index("--vmid") + 1])
    load_state()
    try:
        return run(vmid)
    except Exception as e:  # noqa: BLE001 - a simulator bug: cloud-init ends in error, SSH up
        import traceback  # noqa: PLC0415
        traceback.print_exc()
        r = Run.__new__(Run)
        r.errors = [f"pxsim: cloud-init run failed: {type(e).__name__}: {e}"]
        r.status("error")
        open("/run/pxsim/sshd-ready", "w").close()
        return 1


def run(vmid):
    from .basics import knob, truthy  # noqa: PLC0415
    if truthy(knob("runcmd_fail", vmid, 0)):
        os.environ["PXSIM_RUNCMD_FAIL"] = "1"
    d = os.path.join(ct_dir(vmid), "cidata")
    if not os.path.isdir(d):
        # no cloud-init drive: ds-identify finds no datasource, cloud-init stays disabled
        os.makedirs("/run/cloud-init", exist_ok=True)
        with open(STATUS, "w") as f:
            json.dump({"status": "disabled", "extended_status": "disabled", "errors": [],
                       "recoverable_errors": {}, "boot_status_code": "disabled-by-generator",
                       "detail": "Cloud-init disabled by cloud-init-generator",
                       "last_update": stamp()}, f, indent=1, sort_keys=True)
        open("/run/pxsim/sshd-ready", "w").close()
        return 0
    r = Run(vmid)
    r.log(f"Cloud-init v. {VERSION} running 'init' at {stamp()}. Up 2.5 seconds.")
    raw_user = read(os.path.join(d, "user-data")) or ""
    meta, cfg = {}, {}
    try:
        meta = loads(read(os.path.join(d, "meta-data")) or "") or {}
        vendor = loads(read(os.path.join(d, "vendor-data")) or "") or {}
        user = loads(raw_user) if raw_user.startswith("#cloud-config") else {}
        if not isinstance(meta, dict) or not isinstance(user, dict) or \
                not isinstance(vendor, dict):
            raise YamlError("a cloud-config must be a mapping")
        cfg = dict(vendor)
        cfg.update(user)
    except (YamlError, ValueError) as e:
        r.warn("util", f"Failed loading yaml blob. {e}")
        r.errors.append(f"Failed loading yaml blob. {e}")
        cfg = {}
    iid = str(meta.get("instance-id") or "iid-datasource-none")
    os.makedirs("/var/lib/cloud/data", exist_ok=True)
    first = (read("/var/lib/cloud/data/instance-id") or "").strip() != iid
    if first:
        with open("/var/lib/cloud/data/instance-id", "w") as f:
            f.write(iid + "\n")
        r.module("write_files", write_files, r, cfg, False)
    r.module("set_hostname", set_hostname, r, cfg, meta)
    if first:
        r.module("users_groups", users_groups, r, cfg)
        r.module("ssh", cc_ssh, r, cfg)
    open("/run/pxsim/sshd-ready", "w").close()
    r.log(f"Cloud-init v. {VERSION} running 'modules:final' at {stamp()}. Up 4.0 seconds.")
    if first:
        r.module("package_update_upgrade_install", packages, r, cfg)
        r.module("write_files_deferred", write_files, r, cfg, True)
        r.module("scripts_user", scripts_user, r, cfg, raw_user)
    up = time.time() - r.t0 + 2.5
    r.log(f"Cloud-init v. {VERSION} finished at {stamp()}. Datasource DataSourceNoCloud "
          f"[seed=/dev/sr0][dsmode=net].  Up {up:.2f} seconds")
    r.status("error" if r.errors else "done")
    return 0
