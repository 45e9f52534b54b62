"""The `vm` scenario of scripts/bench (issue 25): the same app in a VM and in a container.

On the one simulated node of the bench: the container the bench already made and deployed
(examples/app), and a VM (`[vm]`, same app folder, same remote_dir) made with
`pxdeploy create` (each named step's time from its progress lines) and deployed once. Then,
interleaved (one of each per round, the order rotating): the unchanged redeploy on each,
and the changed redeploy on each (one file of `web` changed before every run). The ratio
VM/container of the medians, against the goal of <= 1.2x. Afterwards one `-vv` run of each
redeploy on each kind for its round trips (`round trips: N`) and, for the VM, where the
time of opening its session goes (the `-vv` timestamps of the node's and the VM's
connection).

In the simulator a VM is processes (a real sshd and dockerd in their own namespaces), not
QEMU: the ratio measures pxdeploy's extra hop (a direct-tcpip channel through the node) and
the SSH session inside it, not a real VM's boot or disk. Stdlib only.
"""

import os
import re
import statistics
import subprocess
import sys
import time

LABEL = ("simulated: measures pxdeploy's extra hop (direct-tcpip through the node) and the "
         "SSH session inside it, not a real VM's boot or disk")

# `-vv` lines: `2026-12-07T18:50:01.123456Z DEBUG target: message`.
VV_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:(\d\d(?:\.\d+)?))Z?\s+(\w+)\s+(.*)$")


def vm_toml(vmid, name, remote_dir, interval):
    """The bench's app settings with a `[vm]` section instead of `[container]`."""
    import json
    import tomllib
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    with open(os.path.join(root, "examples", "pxdeploy.toml"), "rb") as f:
        cfg = tomllib.load(f)
    lines = ["[vm]", f"vmid = {vmid}", 'name = "benchvm"', 'image = "debian-12"',
             'image_storage = "local"', 'storage = "local-lvm"', "disk_gb = 8",
             "memory_mb = 1024", "cores = 1", 'bridge = "vmbr0"', 'ip = "dhcp"',
             "[app]", f'name = "{name}"', f'remote_dir = "{remote_dir}"', "[env.secrets]"]
    lines += [f"{k} = {v}" for k, v in cfg["env"]["secrets"].items()]
    lines.append("[env.values]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in cfg["env"]["values"].items()]
    lines += ["[health]", "timeout_secs = 120", f"interval_secs = {interval}"]
    return "\n".join(lines) + "\n"


def strip_container(cfg_path):
    """launch.py config merges its defaults, `[container]` among them: a `[vm]` target must
    not have one."""
    with open(cfg_path) as f:
        text = f.read()
    out, skip = [], False
    for line in text.splitlines():
        if line.startswith("["):
            skip = line.strip() == "[container]"
        if not skip:
            out.append(line)
    with open(cfg_path, "w") as f:
        f.write("\n".join(out) + "\n")


def create_steps(stderr, step_done):
    """[(step title, seconds)] from `create`'s progress lines, in order."""
    got = []
    for line in stderr.splitlines():
        m = step_done.match(line.strip())
        if m:
            got.append((m.group(1), float(m.group(2))))
    return got


def round_trips(stderr):
    m = re.findall(r"round trips: (\d+)", stderr)
    return int(m[-1]) if m else None


def vv_timeline(stderr):
    """The `-vv` lines about connecting, with seconds since the first line."""
    rows, first = [], None
    keep = ("handshake", "connect", "direct-tcpip", "authenticat", "host key", "channel",
            "session", "round trips", "address", "agent", "qm ", "hostname")
    for line in stderr.splitlines():
        m = VV_LINE.match(line.strip())
        if not m:
            continue
        secs = float(m.group(2))
        hhmm = m.group(1)[11:16]
        t = int(hhmm[:2]) * 3600 + int(hhmm[3:]) * 60 + secs
        if first is None:
            first = t
        if any(k in m.group(4).lower() for k in keep):
            rows.append((t - first, m.group(4)[:150]))
    return rows


def vm_scenario(b, h, info, px, env, work, app, ct_cfg, runs, interval, step_done):
    """Prints the Markdown section of the `vm` scenario. `b`: the bench's helpers."""
    vmid = h.vmid + 1000 if h.vmid + 1000 < 9000 else h.vmid - 1000
    cfg = h.config(app, vm_toml(vmid, "exampleapp", "/opt/exampleapp", interval),
                   os.path.join(work, "vm.toml"))
    strip_container(cfg)

    def px_run(c, *a):
        t = time.monotonic()
        r = subprocess.run([px, "-c", c, *a], env=env, capture_output=True, text=True)
        took = time.monotonic() - t
        if r.returncode != 0:
            sys.exit(f"bench: pxdeploy {' '.join(a)} ({c}) failed (exit {r.returncode}):\n"
                     f"{r.stderr}")
        return took, r.stderr

    b.log(f"vm: create VM {vmid}")
    create_t, create_err = px_run(cfg, "create")
    steps = create_steps(create_err, step_done)
    b.log("vm: first deploy")
    first_t, _ = px_run(cfg, "deploy")

    kinds = (("container", ct_cfg), ("VM", cfg))
    b.log(f"vm: {runs} unchanged redeploys of each, interleaved")
    unchanged = b.interleaved(runs, [(k, (lambda c=c: px_run(c, "deploy")[0])) for k, c in kinds])
    b.log(f"vm: {runs} changed redeploys of each, interleaved")
    changed = b.interleaved(runs, [(k, (lambda c=c: px_run(c, "deploy")[0])) for k, c in kinds],
                            before=lambda: b.bump(app))

    b.log("vm: one -vv run of each for the round trips")
    rt, vv = {}, {}
    # The last round's change may not have been deployed to both kinds yet: deploy it first,
    # so that the unchanged -vv runs are unchanged.
    for k, c in kinds:
        px_run(c, "deploy")
    # Unchanged on both first: a change is seen by the next deploy of each kind.
    for k, c in kinds:
        _, err = px_run(c, "-vv", "deploy")
        rt[(k, "unchanged")] = round_trips(err)
        if k == "VM":
            vv["unchanged"] = err
    for k, c in kinds:
        b.bump(app)
        _, err = px_run(c, "-vv", "deploy")
        rt[(k, "changed")] = round_trips(err)
    with open(os.path.join(work, "..", f"benchvm-vv-{os.getpid()}.log"), "w") as f:
        f.write(vv["unchanged"])

    def med(d, k):
        return statistics.median(d[k])

    ru = med(unchanged, "VM") / med(unchanged, "container")
    rc = med(changed, "VM") / med(changed, "container")

    def verdict(r):
        return "met" if r <= 1.2 else "not met"

    out = [f"## A VM next to a container: redeploys of examples/app on one simulated node "
           f"({runs} runs each, interleaved, median)", "",
           f"*{LABEL}.*", "",
           "| | median | min | max | round trips (`-vv`, one run) |", "|---|---|---|---|---|"]
    for name, d in (("unchanged", unchanged), ("changed", changed)):
        for k, _ in kinds:
            out.append(b.row(f"{name} redeploy, {k}", d[k], f" {rt[(k, name)]} |"))
    out += ["",
            f"- VM / container, unchanged redeploy: **{ru:.2f}x** (goal <= 1.2x: {verdict(ru)})",
            f"- VM / container, changed redeploy: **{rc:.2f}x** (goal <= 1.2x: {verdict(rc)})",
            "", f"## `create` of the VM, step by step (one run: {create_t:.1f} s in all; the "
            f"first deploy after it {first_t:.1f} s)", "", "| step | time |", "|---|---|"]
    for title, secs in steps:
        out.append(f"| {title} | {secs:.1f} s |")
    rest = create_t - sum(s for _, s in steps)
    out += [f"| the rest (connecting, checks between steps, exiting) | {rest:.1f} s |", "",
            "The VM's unchanged redeploy under `-vv`, the lines about connecting (seconds since "
            "the first line):", ""]
    for t, msg in vv_timeline(vv["unchanged"]):
        out.append(f"    {t:6.3f} s  {msg}")
    return "\n".join(out) + "\n"
