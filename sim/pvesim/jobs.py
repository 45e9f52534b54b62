"""Scheduled backup jobs (reference proxmox-more §6): `pvesh create|get|set|delete
/cluster/backup[/<id>]` and `pvesh get /cluster/jobs/schedule-analyze`, stored in
STATE/etc/pve/jobs.cfg in SectionConfig's layout (header `vzdump: <id>`, tab-indented
`key value` lines: `comment`, then `schedule`, then the rest sorted; an empty line after
each section). Sections of other job types are kept as they are.
"""

import os
import re
import time
import uuid

from . import calendar
from .basics import Exit, FileLock, die, param_die, st
from .options import check_vmid

BOOLS = ("enabled", "all", "repeat-missed", "remove", "stdexcludes", "protected")
STRINGS = ("id", "schedule", "vmid", "exclude", "pool", "storage", "mode", "compress",
           "prune-backups", "notes-template", "comment", "node", "mailto", "mailnotification",
           "notification-mode", "starttime", "dow", "fleecing", "bwlimit", "ionice", "zstd",
           "pigz", "performance", "tmpdir", "dumpdir", "lockwait", "stopwait", "script",
           "exclude-path")
PRUNE_KEYS = ("keep-all", "keep-daily", "keep-hourly", "keep-last", "keep-monthly",
              "keep-weekly", "keep-yearly")
NUMERIC = ("enabled", "all", "repeat-missed", "remove", "stdexcludes", "protected")


def jobs_path():
    return st("etc", "pve", "jobs.cfg")


def read_sections():
    """[(type, id, [(key, value), ...]), ...] in file order."""
    try:
        with open(jobs_path()) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    sections = []
    for line in text.splitlines():
        m = re.fullmatch(r"(\S+):\s+(\S+)\s*", line)
        if m:
            sections.append((m.group(1), m.group(2), []))
        elif line.strip() and sections:
            k, _, v = line.strip().partition(" ")
            sections[-1][2].append((k, v.strip()))
    return sections


def write_sections(sections):
    lines = []
    for kind, sid, keys in sections:
        lines.append(f"{kind}: {sid}")
        d = dict(keys)
        order = [k for k in ("comment", "schedule") if k in d]
        order += sorted(k for k in d if k not in ("comment", "schedule"))
        for k in order:
            lines.append(f"\t{k} {d[k]}")
        lines.append("")
    os.makedirs(os.path.dirname(jobs_path()), exist_ok=True)
    tmp = f"{jobs_path()}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    os.replace(tmp, jobs_path())


def find(sections, sid):
    for s in sections:
        if s[0] == "vzdump" and s[1] == sid:
            return s
    return None


def to_json(sid, keys, with_next_run):
    job = {"id": sid, "type": "vzdump"}
    for k, v in keys:
        if k in NUMERIC:
            job[k] = int(v)
        elif k == "prune-backups":
            job[k] = dict(p.split("=", 1) for p in v.split(",") if "=" in p)
        else:
            job[k] = v
    # every job with a schedule, enabled or not (pve-manager PVE/API2/Backup.pm:224-230)
    if with_next_run and "schedule" in job:
        nxt = calendar.next_run(calendar.parse(job["schedule"]), time.time())
        if nxt is not None:
            job["next-run"] = nxt
    return job


def check_params(opts, usage, known):
    """Schema checks of every option, reported at once as `400 Parameter verification
    failed.`; returns the options canonicalized."""
    errors = {}
    params = {}
    for k, v in opts:
        if k not in known:
            errors[k] = ("property is not defined in schema and the schema does not allow "
                         "additional properties")
            continue
        params[k] = v
    if "id" in params and not re.fullmatch(r"[a-z][a-z0-9_-]+", params["id"], re.I):
        errors["id"] = f"invalid format - invalid configuration ID '{params['id']}'"
    if "schedule" in params:
        try:
            calendar.parse(params["schedule"])
        except calendar.CalendarError as e:
            errors["schedule"] = (f"invalid format - invalid calendar event "
                                  f"'{params['schedule']}' - {e}")
    if "vmid" in params:
        for v in params["vmid"].split(","):
            if not re.fullmatch(r"[1-9][0-9]{2,8}", v):
                errors["vmid"] = "invalid format - value does not look like a valid VM ID"
    if params.get("mode") not in (None, "snapshot", "suspend", "stop"):
        errors["mode"] = (f"value '{params['mode']}' does not have a value in the enumeration "
                          f"'snapshot, suspend, stop'")
    if params.get("compress") not in (None, "0", "1", "gzip", "lzo", "zstd"):
        errors["compress"] = (f"value '{params['compress']}' does not have a value in the "
                              f"enumeration '0, 1, gzip, lzo, zstd'")
    if "prune-backups" in params:
        parts = {}
        for p in params["prune-backups"].split(","):
            k, _, v = p.partition("=")
            if k not in PRUNE_KEYS or not re.fullmatch(r"\d+", v):
                errors["prune-backups"] = f"invalid format - format error: '{p}'"
                break
            parts[k] = v
        params["prune-backups"] = ",".join(f"{k}={parts[k]}" for k in sorted(parts))
    for k in BOOLS:
        if k in params:
            params[k] = "1" if params[k] == "1" else "0"
    if errors:
        param_die(sorted(errors.items()), usage)
    return params


def cfs_lock():
    """pmxcfs's lock of jobs.cfg: one change at a time."""
    return FileLock("jobs-cfg.lock", "/etc/pve/priv/lock/file-jobs_cfg")


def jobs_create(path, opts):
    if path != "/cluster/backup":
        die(f"No 'create' handler defined for '{path}'")
    usage = "pvesh create"
    params = check_params(opts, usage, set(BOOLS) | set(STRINGS))
    if "schedule" not in params and "starttime" not in params:
        param_die([("schedule", "neither 'starttime' nor 'schedule' were set")], usage)
    chosen = [k for k in ("vmid", "all", "pool") if k in params and params[k] != "0"]
    if not chosen:
        param_die([("vmid", "property is missing")], usage)
    if "all" in chosen and "vmid" in chosen:
        param_die([("all", "option conflicts with option 'vmid'")], usage)
    if "notes-template" in params and "storage" not in params:
        param_die([("storage", "missing property required by 'notes-template'")], usage)
    sid = params.pop("id", None) or str(uuid.uuid4())
    params.setdefault("enabled", "1")
    with cfs_lock():
        sections = read_sections()
        if find(sections, sid):
            die(f"Job '{sid}' already exists")
        sections.append(("vzdump", sid, sorted(params.items())))
        write_sections(sections)
    raise Exit(0)


def job_id(path, verb):
    m = re.fullmatch(r"/cluster/backup/([^/]+)", path)
    if not m:
        die(f"No '{verb}' handler defined for '{path}'")
    return m.group(1)


def jobs_set(path, opts):
    sid = job_id(path, "set")
    usage = "pvesh set"
    delete = [d for k, v in opts if k == "delete" for d in re.split(r"[,; ]+", v) if d]
    params = check_params([(k, v) for k, v in opts if k != "delete"], usage,
                          (set(BOOLS) | set(STRINGS)) - {"id"})
    if not params and not delete:
        die("no options specified")
    with cfs_lock():
        sections = read_sections()
        job = find(sections, sid)
        if not job:
            die("no such vzdump job")
        keys = dict(job[2])
        if "vmid" in params:
            for k in ("all", "exclude", "pool"):
                keys.pop(k, None)
        for k in delete:
            keys.pop(k, None)
        keys.update(params)
        job[2][:] = sorted(keys.items())
        write_sections(sections)
    raise Exit(0)


def jobs_delete(path):
    sid = job_id(path, "delete")
    with cfs_lock():
        sections = read_sections()
        job = find(sections, sid)
        if not job:
            die(f"No such job '{sid}'")
        sections.remove(job)
        write_sections(sections)
    raise Exit(0)


def remove_vmid_from_backup_jobs(vmid):
    """`pct destroy --purge` (pve-guest-common src/PVE/VZDump/Plugin.pm:180-229): the vmid
    leaves every vzdump job's `vmid` list, and a job whose list becomes empty is deleted;
    for `all`/`pool` jobs it leaves `exclude` (dropped when empty). Other job types are
    untouched."""
    vmid = str(vmid)

    def without(text):
        return ",".join(v for v in re.split(r"[;,\s]+", text) if v and v != vmid)

    with cfs_lock():
        sections = read_sections()
        if not sections:
            return
        kept = []
        for kind, sid, keys in sections:
            d = dict(keys)
            if kind == "vzdump" and "vmid" in d:
                rest = without(d["vmid"])
                if not rest:
                    continue
                d["vmid"] = rest
            elif kind == "vzdump" and "exclude" in d:
                rest = without(d["exclude"])
                if rest:
                    d["exclude"] = rest
                else:
                    del d["exclude"]
            kept.append((kind, sid, [(k, d[k]) for k, _ in keys if k in d]))
        write_sections(kept)


def jobs_get(path, o):
    """The result of `pvesh get` for a jobs path, or None when the path is not one."""
    if path == "/cluster/backup":
        return [to_json(sid, keys, True) for kind, sid, keys in read_sections()
                if kind == "vzdump"]
    m = re.fullmatch(r"/cluster/backup/([^/]+)", path)
    if m:
        job = find(read_sections(), m.group(1))
        if not job:
            param_die([("id", f"No such job '{m.group(1)}'")], "pvesh get")
        return to_json(job[1], job[2], False)
    if path == "/cluster/jobs/schedule-analyze":
        if not o.get("schedule"):
            param_die([("schedule", "property is missing")], "pvesh get")
        try:
            spec = calendar.parse(o["schedule"])
        except calendar.CalendarError as e:
            param_die([("schedule", f"invalid format - invalid calendar event "
                                    f"'{o['schedule']}' - {e}")], "pvesh get")
        res, t = [], int(o.get("starttime") or time.time())
        for _ in range(int(o.get("iterations") or 10)):
            t = calendar.next_run(spec, t)
            if t is None:
                break
            res.append({"timestamp": t,
                        "utc": time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(t))})
        return res
    return None
