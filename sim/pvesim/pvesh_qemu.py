"""The VM paths of `pvesh get` (reference vm §4.3, §6.1): `/nodes/<node>/qemu`,
`/nodes/<node>/qemu/<vmid>/status/current` (`cpu` always 0, `disk` 0), `/config`, and
`/agent/<command>` (the agent's answer wrapped in `{"result": …}`); the VMs' entries of
`/cluster/resources` (type `qemu`, id `qemu/<vmid>`); and the tasks' status
(`/nodes/<node>/tasks/<UPID>/status`).
"""

import re

from .basics import Sim, die
from .config import current_keys, local_qemu_vmids
from .containers import run_info
from .ha import hastate
from .qm_config import load_vm, load_vm_or_die, vmstatus

INT_KEYS = ("memory", "cores", "sockets", "onboot", "protection", "ciupgrade", "balloon")


def resources():
    res = []
    for vmid in local_qemu_vmids():
        conf = load_vm(vmid, missing_ok=True)
        if conf is None:
            continue
        keys = current_keys(conf)
        s = vmstatus(vmid, keys, run_info(vmid))
        g = {"id": f"qemu/{vmid}", "vmid": vmid, "node": Sim.node, "type": "qemu",
             "status": s["status"], "uptime": s["uptime"], "name": s["name"],
             "template": int(keys.get("template", 0)), "maxcpu": s["cpus"], "cpu": 0,
             "maxmem": s["maxmem"], "mem": s["mem"], "maxdisk": s["maxdisk"], "disk": 0,
             "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0}
        for k in ("lock", "tags"):
            if keys.get(k):
                g[k] = keys[k]
        h = hastate(vmid)
        if h:
            g["hastate"] = h
        res.append(g)
    return res


def qemu_get(sub, o):
    """A /nodes/<node>/… path of a VM (or the tasks); None when it is not one."""
    if sub == "/qemu":
        res = []
        for vmid in local_qemu_vmids():
            conf = load_vm(vmid, missing_ok=True)
            if conf is None:
                continue
            s = vmstatus(vmid, current_keys(conf), run_info(vmid))
            s.pop("nics", None)
            s.pop("blockstat", None)
            res.append(s)
        return res
    m = re.fullmatch(r"/tasks/([^/]+)/status", sub)
    if m:
        from .download import task_status  # noqa: PLC0415
        return task_status(m.group(1))
    m = re.fullmatch(r"/qemu/(\d+)(/.*)", sub)
    if not m:
        return None
    vmid, rest = int(m.group(1)), m.group(2)
    conf = load_vm_or_die(vmid)
    if rest == "/status/current":
        return vmstatus(vmid, conf["keys"], run_info(vmid))
    if rest == "/config":
        res = dict(current_keys(conf))
        for k in INT_KEYS:
            if k in res and res[k].isdigit():
                res[k] = int(res[k])
        res["digest"] = "%040x" % abs(hash(str(sorted(res.items()))))
        return res
    m = re.fullmatch(r"/agent/([a-z-]+)", rest)
    if m:
        from .qm_guest import CMDS, agent_answer, assert_agent  # noqa: PLC0415
        if m.group(1) not in CMDS:
            die(f"No 'get' handler defined for '/nodes/{Sim.node}/qemu/{vmid}{rest}'")
        keys, info = assert_agent(vmid)
        return {"result": agent_answer(vmid, m.group(1), keys, info)}
    return None
