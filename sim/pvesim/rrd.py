"""What a node measures of its containers (reference proxmox-vm-and-monitoring.md §6):
the live counters `vmstatus` reads (pve-container `LXC.pm vmstatus`), pvestatd's samples
with the `cpu` it computes between two of them, and the RRD they feed (pve-cluster
`RRD.pm create_rrd_data`, `pmxcfs/status.c` `rrd_def_vm_pve9_0`).

A simulated container has no cgroup of its own, so its "cgroup" is its processes: the
descendants of its pid 1 and whatever runs in its PID namespace (`pct exec`). CPU time is
the sum of `utime+stime+cutime+cstime` of those (a reaped child's time moves into its
parent's `cutime`, so the sum only grows, as a cgroup's `usage_usec` does), memory the sum
of `RssAnon+RssShmem` (a cgroup's `memory.current - file`), disk I/O the sum of
`read_bytes`/`write_bytes` of `/proc/<pid>/io` (reaped children included), network the
host side of its veth pairs (`veth<vmid>i<n>`, received = the guest's `netout`), disk use
the blocks of its own folders.

pvestatd: every simulated call (main.py) records a sample of every local container when
the last is `pvestatd_interval` seconds old (knob; real: 10; a sixth of `rrd_step`); `/cluster/resources` and
`rrddata` record one first when the last is more than a second old (as if pvestatd had
just run). Samples are JSON lines in STATE/rrd/pve-vm-9.0/<vmid> (kept for a day; the
real RRD keeps consolidated rows for ten years). `rrddata` consolidates them like rrdtool:
60-s primary points (step 60, heartbeat 120: two samples further apart leave the time
between them unknown; a point at least half unknown is unknown), DERIVE fields as bytes/s
(a counter that went down is unknown), rows of `reso` seconds by AVERAGE or MAX (unknown
when more than half their points are, xff 0.5), the running bucket left out, a last row
with only `time` dropped. Test knob `rrd_step` (seconds, default 60) shortens the
"minute": the step, the heartbeat and every timeframe's resolution scale with it (the
same number of rows), so a test sees its first complete step in seconds. Pressure fields are never recorded (no PSI per simulated CT):
their keys are missing, as RRD leaves unknown values out.
"""

import fcntl
import json
import os
import re
import time

from .basics import Sim, knob, read_json, st, truthy, write_json
from .config import load_conf, local_vmids, parse_propstr, size_to_bytes

STEP = 60  # pmxcfs' step; the heartbeat is twice it
# timeframe -> (resolution in seconds, rows) (RRD.pm `$setup`, PVE 9)
TIMEFRAMES = {"hour": (60, 60), "day": (60, 1440), "week": (1800, 336),
              "month": (1800, 1440), "year": (21600, 1440)}
GAUGES = ("maxcpu", "cpu", "maxmem", "mem", "maxdisk", "disk", "memhost")
DERIVES = ("netin", "netout", "diskread", "diskwrite")
KEEP = 86400
CLK_TCK = os.sysconf("SC_CLK_TCK")


def step():
    """The RRD's step: 60 s, or knob `rrd_step` (a whole number of seconds, at least 1)."""
    return max(1, int(knob("rrd_step", None, STEP)))


def rrd_file(vmid):
    return st("rrd", "pve-vm-9.0", str(vmid))


# ----------------------------------------------------------------------------- measuring

def _stat(pid):
    """(ppid, start, cpu seconds incl. reaped children) of /proc/<pid>/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[1]), int(fields[19]),
                sum(int(x) for x in fields[11:15]) / CLK_TCK)
    except (OSError, IndexError, ValueError):
        return None


def members(init_pid):
    """The processes of the container: pid 1's descendants, its PID namespace's (`pct
    exec`), and the `nsenter` parents of those (which reap them): pid -> (ppid, start,
    cpu)."""
    try:
        ns = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError:
        return {}
    procs, kids, nss = _table()
    found, todo = set(), [init_pid]
    while todo:
        pid = todo.pop()
        if pid in found or pid not in procs:
            continue
        found.add(pid)
        todo.extend(kids.get(pid, []))
    for pid in procs:
        if pid not in found and nss.get(pid) == ns:
            found.add(pid)
            if procs[pid][0] in procs:
                found.add(procs[pid][0])
    return {pid: procs[pid] for pid in found}


_TABLE = []


def _table():
    """The host's processes, read once per simulated call (every container's share of
    them is taken from the same reading): pid -> stat, ppid -> children, pid -> PID
    namespace."""
    if not _TABLE:
        procs, nss = {}, {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                s = _stat(int(name))
                if s:
                    procs[int(name)] = s
                    try:
                        nss[int(name)] = os.readlink(f"/proc/{name}/ns/pid")
                    except OSError:
                        pass
        kids = {}
        for pid, s in procs.items():
            kids.setdefault(s[0], []).append(pid)
        _TABLE.append((procs, kids, nss))
    return _TABLE[0]


def account(prev, procs):
    """(CPU seconds, bytes read, bytes written) since `prev` ({pid: [ppid, start, cpu,
    read, write]} of the last sample): the growth of every process, less what those gone
    into a member's totals had (counted already). A process that lived only between two
    samples and was reaped outside is lost (a real cgroup would keep it)."""
    used = [0.0, 0, 0]
    for pid, (ppid, start, *now) in procs.items():
        p = prev.get(str(pid))
        for i in range(3):
            used[i] += now[i] - p[2 + i] if p and len(p) == 5 and p[1] == start else now[i]
    for pid, (ppid, start, *was) in ((k, v) for k, v in prev.items() if len(v) == 5):
        now = procs.get(int(pid))
        if (not now or now[1] != start) and (int(ppid) in procs or str(ppid) in prev):
            for i in range(3):
                used[i] -= was[i]
    return [max(0, x) for x in used]


def _status_kb(pid, keys):
    total = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in keys:
                    total += int(v.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return total


def _io(pid):
    r = w = 0
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "read_bytes":
                    r = int(v)
                elif k == "write_bytes":
                    w = int(v)
    except (OSError, ValueError):
        pass
    return r, w


def _veth(vmid):
    """(netin, netout) of the guest: its veth peers on the LAN side (`transmit` is what the
    guest received)."""
    lan = read_json(st("run", "lan.json")) or {}
    netin = netout = 0
    try:
        with open(f"/proc/{lan.get('pid')}/net/dev") as f:
            lines = f.readlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        name, _, rest = line.partition(":")
        if name.strip().startswith(f"veth{vmid}i"):
            v = rest.split()
            netout += int(v[0])
            netin += int(v[8])
    return netin, netout


def _du(paths):
    seen, total = set(), 0
    for top in paths:
        for dirpath, dirs, files in os.walk(top):
            for n in dirs + files:
                try:
                    s = os.lstat(os.path.join(dirpath, n))
                except OSError:
                    continue
                if s.st_nlink > 1:
                    if (s.st_dev, s.st_ino) in seen:
                        continue
                    seen.add((s.st_dev, s.st_ino))
                total += s.st_blocks * 512
    return total


def disk_used(vmid, max_age=10):
    """The blocks of the container's own folders (what `df` in it would count as used),
    measured when the last measurement is `max_age` seconds old."""
    cache = st("rrd", f"disk-{vmid}.json")
    c = read_json(cache)
    if c and time.time() - c["time"] < max_age:
        return c["used"]
    d = os.path.join(Sim.state, "ct", str(vmid))
    used = _du([os.path.join(d, "rootfs"), os.path.join(d, "usr-upper")])
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    tmp = f"{cache}.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"time": time.time(), "used": used}, f)
    os.replace(tmp, cache)
    return used


def cpus(keys):
    return int(keys.get("cores") or keys.get("cpulimit") or os.cpu_count() or 1)


def maxdisk(keys):
    return size_to_bytes(parse_propstr(keys.get("rootfs", ""), "volume").get("size", "4G"))


def measure(vmid, keys, info, disk_age=10):
    """The live counters of `vmstatus` (zeros for a stopped container), plus `procs` (the
    container's processes, for [`account`]) and `boot` (which start they belong to)."""
    d = {"time": time.time(), "maxcpu": cpus(keys), "maxmem": int(keys.get("memory", 512))
         * 1048576, "maxdisk": maxdisk(keys), "mem": 0, "disk": 0, "netin": 0, "netout": 0,
         "diskread": 0, "diskwrite": 0, "used": 0.0, "boot": None, "memhost": 0}
    if not info:
        return d
    procs = members(info["init_pid"])
    d["boot"] = info["init_start"]
    d["mem"] = sum(_status_kb(p, ("RssAnon", "RssShmem")) for p in procs)
    d["procs"] = {}
    for p, v in procs.items():
        r, w = _io(p)
        d["diskread"] += r
        d["diskwrite"] += w
        d["procs"][str(p)] = list(v) + [r, w]
    d["netin"], d["netout"] = _veth(vmid)
    d["disk"] = disk_used(vmid, disk_age)
    return d


# ----------------------------------------------------------------------------- pvestatd

def _samples(vmid, since=0.0):
    try:
        with open(rrd_file(vmid)) as f:
            lines = f.readlines()
    except OSError:
        return []
    res = []
    for line in lines:
        try:
            s = json.loads(line)
        except ValueError:
            continue
        if s.get("time", 0) >= since:
            res.append(s)
    return res


def record(vmid, keys, info, min_age, disk_age=10):
    """pvestatd's update of one container: a sample when the newest is `min_age` seconds
    old, with the `cpu` computed against the previous sample of the same start (pid 1's
    start, usage 0, when none: the cgroup is new); returns the newest sample."""
    path = rrd_file(vmid)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        prev = (_samples(vmid) or [None])[-1]
        if prev and time.time() - prev["time"] < min_age:
            return prev
        s = measure(vmid, keys, info, disk_age)
        procs = {int(p): v for p, v in s.pop("procs", {}).items()}
        last = read_json(st("rrd", f"procs-{vmid}.json")) or {}
        s["cpu"] = 0
        if s["boot"] is not None:
            same = last.get("boot") == s["boot"]
            base = last if same else {"time": info["started"], "used": 0.0, "cpu": 0}
            grown = account(last.get("procs", {}) if same else {}, procs)
            s["used"] = round(base["used"] + grown[0], 3)
            s["diskread"] = base.get("diskread", 0) + grown[1]
            s["diskwrite"] = base.get("diskwrite", 0) + grown[2]
            # LXC.pm: a new value only when more than a second of all cores passed
            elapsed = (s["time"] - base["time"]) * (os.cpu_count() or 1)
            if elapsed > 1:
                s["cpu"] = round((s["used"] - base["used"]) / elapsed
                                 * (os.cpu_count() or 1) / s["maxcpu"], 6)
                write_json(st("rrd", f"procs-{vmid}.json"),
                           {"boot": s["boot"], "time": s["time"], "used": s["used"],
                            "cpu": s["cpu"], "diskread": s["diskread"],
                            "diskwrite": s["diskwrite"],
                            "procs": {str(p): v for p, v in procs.items()}})
            else:
                s["cpu"] = base.get("cpu", 0)
        s["time"] = round(s["time"], 3)
        os.write(fd, (json.dumps(s, sort_keys=True) + "\n").encode())
        if os.fstat(fd).st_size > 512 * 1024:
            keep = [json.dumps(x, sort_keys=True) + "\n"
                    for x in _samples(vmid, time.time() - KEEP)]
            os.ftruncate(fd, 0)
            os.write(fd, "".join(keep).encode())
        return s
    finally:
        os.close(fd)


def tick():
    """pvestatd's loop, run at every simulated call: samples every local container when
    the last round is `pvestatd_interval` seconds old."""
    interval = float(knob("pvestatd_interval", None, step() / 6))
    mark = st("rrd", "last-round")
    try:
        if time.time() - os.stat(mark).st_mtime < interval:
            return
    except OSError:
        pass
    os.makedirs(os.path.dirname(mark), exist_ok=True)
    with open(mark, "w"):
        pass
    from .containers import run_info  # noqa: PLC0415 - only when a round is due
    for vmid in local_vmids():
        conf = load_conf(vmid, missing_ok=True)
        if conf:
            # the disk as last measured (walking every container's folders would slow
            # down whichever call runs the round); a `pvesh` read measures it again
            record(vmid, conf["keys"], run_info(vmid), interval, disk_age=3600)


def resource(vmid, keys, info):
    """The numbers of a guest's `/cluster/resources` entry: pvestatd's newest sample (one is
    taken first when the last is more than a second old), `cpu` a fraction of `maxcpu`;
    with knob `rrd_missing.<vmid>`: no RRD data (`status: unknown`, no name, no numbers)."""
    if truthy(knob("rrd_missing", vmid, 0)):
        return {"status": "unknown"}
    s = record(vmid, keys, info, 1)
    e = {k: s[k] for k in GAUGES + DERIVES}
    e.update({"status": "running" if info else "stopped",
              "uptime": int(time.time() - info["started"]) if info else 0,
              "name": re.sub(r"\s", "", keys.get("hostname") or f"CT{vmid}"),
              "template": int(keys.get("template", 0))})
    return e


# ----------------------------------------------------------------------------- rrddata

def _intervals(samples, heartbeat):
    """Known (from, to, values) intervals between consecutive samples."""
    res = []
    for a, b in zip(samples, samples[1:]):
        dt = b["time"] - a["time"]
        if dt <= 0 or dt > heartbeat:
            continue
        v = {k: b[k] for k in GAUGES if k in b}
        for k in DERIVES:
            if a.get("boot") == b.get("boot") and b[k] >= a[k]:
                v[k] = (b[k] - a[k]) / dt
        res.append((a["time"], b["time"], v))
    return res


def _pdps(intervals, first, last, step):
    """Primary points (60 s: `step`) between `first` and `last` (exclusive): name -> value,
    for the points at least half known."""
    sums = {}
    for lo, hi, v in intervals:
        m = max(first, int(lo // step) * step)
        while m < min(hi, last):
            part = min(hi, m + step) - max(lo, m)
            if part > 0:
                cell = sums.setdefault(m, {})
                for k, x in v.items():
                    t, w = cell.get(k, (0.0, 0.0))
                    cell[k] = (t + x * part, w + part)
            m += step
    return {m: {k: t / w for k, (t, w) in cell.items() if w >= step / 2}
            for m, cell in sums.items()}


def rrddata(vmid, timeframe, cf):
    one = step()
    reso, count = TIMEFRAMES[timeframe]
    reso = reso * one // STEP
    now = time.time()
    ctime = reso * int(now // reso)
    start = ctime - reso * count
    samples = _samples(vmid, start - 2 * one)
    pdps = _pdps(_intervals(samples, 2 * one), start, ctime, one)
    per_row = reso // one
    rows = []
    for i in range(count):
        t0 = start + i * reso
        entry = {"time": t0}
        cells = [pdps[m] for m in range(t0, t0 + reso, one) if m in pdps]
        for k in GAUGES + DERIVES:
            vals = [c[k] for c in cells if k in c]
            if vals and len(vals) * 2 >= per_row:
                x = max(vals) if cf == "MAX" else sum(vals) / len(vals)
                entry[k] = int(x) if k in ("maxcpu", "maxmem", "maxdisk", "memhost") \
                    and x == int(x) else x
        rows.append(entry)
    if rows and len(rows[-1]) == 1:
        rows.pop()
    return rows


def has_rrd(vmid):
    return os.path.exists(rrd_file(vmid))
