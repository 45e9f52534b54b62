"""The HA manager (reference more §4): `ha-manager add|set|remove|config|status|
crm-command|migrate|relocate`, the resources in the shared etc/pve/ha/resources.cfg, and a
CRM without a daemon: every simulated call first runs `tick()`, which applies a requested
state once it is `ha_delay[.vmid]` seconds old (knob of the node called, default 2; real
clusters take 10-20 s) and puts a container back into its requested state when it left it
behind HA's back (a `started` one that was killed is started again). A start that fails puts
the service into `error` (pve-ha-manager src/PVE/HA/Manager.pm, next_state_started: after
max_restart/max_relocate), where it stays whatever is requested, until the requested state
is `disabled` (next_state_error). `pct start/stop/shutdown/migrate` of a managed CT only
request (`Requesting HA ... for CT <vmid>`, §4.5); a VM is `vm:<vmid>` (start/stop through
qm's task; HA migration of a VM is not simulated).
"""

import contextlib
import fcntl
import io
import os
import re
import shutil
import time

from .basics import Exit, Sim, die, knob, members, out, read_json, st, write_json
from .config import conf_path, owner_of
from .containers import is_running, kill_container, shutdown_container
from .tasks import Task
from .nodes import node_names, on_node, online

STATES = ("started", "stopped", "enabled", "disabled", "ignored")
KEYS = ("comment", "failback", "group", "max_relocate", "max_restart", "state")


def sid(vmid):
    """The HA resource id: `vm:<vmid>` for a VM, `ct:<vmid>` for a container."""
    o = owner_of(vmid)
    return f"{'vm' if o and o[0] == 'qemu' else 'ct'}:{vmid}"


def ha_dir(*p):
    return st("etc", "pve", "ha", *p)


@contextlib.contextmanager
def crm_lock():
    """Cluster-wide (the file is in the shared /etc/pve/ha)."""
    os.makedirs(ha_dir(), exist_ok=True)
    fd = os.open(ha_dir(".pxsim-crm.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_resources():
    """resources.cfg → {vmid: {key: value}} in file order."""
    res = {}
    cur = None
    try:
        with open(ha_dir("resources.cfg")) as f:
            text = f.read()
    except FileNotFoundError:
        return res
    for line in text.split("\n"):
        m = re.fullmatch(r"(ct|vm):\s*(\d+)\s*", line)
        if m:
            cur = res.setdefault(int(m.group(2)), {})
            continue
        m = re.fullmatch(r"\s+(\S+)\s+(.*)", line)
        if m and cur is not None:
            cur[m.group(1)] = m.group(2)
    return res


def write_resources(res):
    os.makedirs(ha_dir(), exist_ok=True)
    s = ""
    for vmid, keys in res.items():
        s += f"{sid(vmid).split(':')[0]}: {vmid}\n"
        if "comment" in keys:
            s += f"\tcomment {keys['comment']}\n"
        for k in sorted(keys):
            if k != "comment":
                s += f"\t{k} {keys[k]}\n"
        s += "\n"
    tmp = ha_dir(f"resources.cfg.tmp.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(s)
    os.replace(tmp, ha_dir("resources.cfg"))


def requested(keys):
    s = keys.get("state", "started")
    return "started" if s == "enabled" else s


def ha_managed(vmid):
    keys = read_resources().get(int(vmid))
    return keys is not None and keys.get("state") != "ignored"


def ha_started(vmid):
    """`vm_is_ha_managed($vmid, 'started')` (pve-ha-manager src/PVE/HA/Config.pm:467): managed
    with the requested state `started` (or the old `enabled`, or none)."""
    keys = read_resources().get(int(vmid))
    return keys is not None and requested(keys) == "started"


def crm():
    return read_json(ha_dir(".pxsim-crm.json"), {}) or {}


def ha_request(vmid, what, target=None):
    """Records a request (state change or migration) for the CRM's next round."""
    with crm_lock():
        c = crm()
        rec = {"since": time.time(), "migrate": target if what == "migrate" else None}
        if (c.get(str(vmid)) or {}).get("error"):
            rec["error"] = True  # only `disabled` clears the error state
        c[str(vmid)] = rec
        write_json(ha_dir(".pxsim-crm.json"), c)


def delay(vmid=None):
    return float(knob("ha_delay", vmid, default=2))


def owner(vmid):
    o = owner_of(vmid)
    return o[1] if o else None


def actual(vmid):
    """Is the CT running on its owner node?"""
    node = owner(vmid)
    if node is None:
        return None
    with on_node(node):
        return is_running(vmid)


def tick(start):
    """One CRM/LRM round: applies what is due. `start(task, vmid)` starts a container (the
    LRM's start task: `pct start`'s, given by the caller as it lives in a module above this
    one)."""
    if not os.path.exists(ha_dir("resources.cfg")):
        return
    with crm_lock():
        res = read_resources()
        c = crm()
        now = time.time()
        changed = False
        for vmid, keys in res.items():
            want = requested(keys)
            rec = c.get(str(vmid))
            if rec and rec.get("error"):
                # next_state_error: only a request for `disabled` clears it (to stopped)
                if want == "disabled" and now - rec["since"] >= delay(vmid):
                    c.pop(str(vmid), None)
                    changed = True
                continue
            if want not in ("started", "stopped"):
                continue
            node = owner(vmid)
            if node is None:
                continue
            if rec and rec.get("migrate") and now - rec["since"] >= delay(vmid):
                migrate_now(vmid, node, rec["migrate"])
                node = rec["migrate"]
                rec["migrate"] = None
                changed = True
            running = actual(vmid)
            if (want == "started") == bool(running):
                if rec and not rec.get("migrate"):
                    c.pop(str(vmid), None)
                    changed = True
                continue
            if not rec:  # left its state behind HA's back: noticed now, fixed next round
                c[str(vmid)] = {"since": now, "migrate": None}
                changed = True
                continue
            if now - rec["since"] < delay(vmid):
                continue
            failed = False
            # the LRM's task output goes to its task log, never to the command that ran
            # this round
            lrm_log = io.StringIO()
            with on_node(node), contextlib.redirect_stdout(lrm_log):
                if want == "started":
                    try:
                        start(Task(), vmid)
                    except Exception:  # noqa: BLE001 - the CRM marks it `error`
                        failed = True
                elif not shutdown_container(vmid, 10):
                    kill_container(vmid)
            if failed:
                c[str(vmid)] = {"since": now, "migrate": None, "error": True}
            else:
                c.pop(str(vmid), None)
            changed = True
        if changed:
            write_json(ha_dir(".pxsim-crm.json"), c)


def migrate_now(vmid, src, target):
    m = members()
    if not m or target not in m["nodes"]:
        return
    with on_node(src):
        was = is_running(vmid)
        if was and not shutdown_container(vmid, 10):
            kill_container(vmid)
        dest = os.path.join(m["nodes"][target]["state"], "ct", str(vmid))
        shutil.rmtree(dest, ignore_errors=True)
        if os.path.exists(st("ct", str(vmid))):
            shutil.move(st("ct", str(vmid)), dest)
        os.makedirs(os.path.dirname(conf_path(vmid, target)), exist_ok=True)
        os.replace(conf_path(vmid), conf_path(vmid, target))


def verbose_state(vmid, keys, c):
    want = requested(keys)
    rec = c.get(str(vmid))
    if want == "ignored":
        return want
    if rec and rec.get("error"):
        # get_verbose_service_state (pve-ha-manager src/PVE/HA/Tools.pm:246-249)
        return "clearing error flag" if want == "disabled" else "error"
    if want == "disabled":
        return want
    running = actual(vmid)
    if rec and rec.get("migrate"):
        return "migrate"
    if want == "started":
        return "started" if running else ("starting" if rec else "started")
    if running:
        young = rec and time.time() - rec["since"] < delay(vmid) / 2
        return "request_stop" if young else "stopping"
    return "stopped"


def sid_of(word, usage):
    m = re.fullmatch(r"(?:(ct|vm):)?(\d+)", word or "")
    if not m:
        die(f"400 Parameter verification failed.\nsid: invalid format - "
            f"value does not look like a valid ha resource id\n{usage}")
    return int(m.group(2)), bool(m.group(1))


def parse(args, usage, positional):
    from .options import parse_opts  # noqa: PLC0415
    return parse_opts(args, usage, positional=positional)


def ha_main(args):
    if not args:
        die("ERROR: no command specified", 255)
    cmd, rest = args[0], args[1:]
    if cmd in ("add", "set"):
        pos, opts = parse(rest, f"ha-manager {cmd}", 1)
        vmid, prefixed = sid_of(pos[0], f"ha-manager {cmd} <sid> [OPTIONS]")
        o = dict(opts)
        if "state" in o and o["state"] not in STATES:
            die(f"400 Parameter verification failed.\nstate: value '{o['state']}' does not "
                f"have a value in the enumeration '{', '.join(STATES)}'")
        res = read_resources()
        if cmd == "add":
            if owner(vmid) is None or (prefixed and pos[0] != sid(vmid)):
                if prefixed:
                    die(f"resource '{pos[0]}' does not exist in cluster")
                die(f"unable to detect SID from VMID - VM/CT {vmid} does not exist")
            if vmid in res:
                die(f"create resource failed: resource ID '{sid(vmid)}' already defined")
            res[vmid] = {k: v for k, v in opts if k in KEYS}
        else:
            if vmid not in res:
                die(f"update resources config failed: no such resource '{sid(vmid)}'")
            for k in (o.get("delete") or "").split(","):
                res[vmid].pop(k, None)
            res[vmid].update({k: v for k, v in opts if k in KEYS})
        write_resources(res)
        ha_request(vmid, "state")
        raise Exit(0)
    if cmd == "remove":
        pos, _ = parse(rest, "ha-manager remove", 1)
        vmid, _ = sid_of(pos[0], "ha-manager remove <sid>")
        res = read_resources()
        if vmid not in res:
            die(f"cannot delete service '{sid(vmid)}', not HA managed!")
        del res[vmid]
        write_resources(res)
        raise Exit(0)
    if cmd == "config":
        for vmid, keys in sorted(read_resources().items(), key=lambda kv: sid(kv[0])):
            out(sid(vmid))
            for k in sorted(keys):
                out(f"\t{k} {keys[k]}")
            out("")
        raise Exit(0)
    if cmd == "status":
        status()
        raise Exit(0)
    if cmd in ("migrate", "relocate") or (cmd == "crm-command" and rest[:1] in
                                          (["migrate"], ["relocate"], ["stop"])):
        if cmd == "crm-command":
            cmd, rest = rest[0], rest[1:]
        pos, _ = parse(rest, f"ha-manager {cmd}", 2)
        vmid, _ = sid_of(pos[0], f"ha-manager {cmd} <sid> <node>")
        res = read_resources()
        if vmid not in res:
            die(f"resource '{sid(vmid)}' is not HA managed")
        if cmd != "stop" and sid(vmid).startswith("vm:"):
            die("pxsim: HA migration of a VM is not simulated", 1)
        if cmd == "stop":
            res[vmid]["state"] = "stopped"
            write_resources(res)
            ha_request(vmid, "state")
        else:
            ha_request(vmid, "migrate", pos[1])
        raise Exit(0)
    die(f"ERROR: unknown command 'ha-manager {cmd}'", 255)


def status():
    out("quorum OK")
    res = read_resources()
    if not res:
        return
    t = time.strftime("%a %b %e %H:%M:%S %Y", time.localtime())
    nodes = sorted(node_names())
    out(f"master {nodes[0]} (active, {t})")
    c = crm()
    for n in nodes:
        busy = any(owner(v) == n for v in res)
        out(f"lrm {n} ({'active' if busy and online(n) else 'idle'}, {t})" if online(n)
            else f"lrm {n} (old timestamp - dead?, {t})")
    for vmid, keys in sorted(res.items(), key=lambda kv: sid(kv[0])):
        out(f"service {sid(vmid)} ({owner(vmid) or Sim.node}, {verbose_state(vmid, keys, c)})")


def hastate(vmid):
    """The `hastate` of /cluster/resources (None when not managed)."""
    keys = read_resources().get(int(vmid))
    if keys is None:
        return None
    return verbose_state(int(vmid), keys, crm())

