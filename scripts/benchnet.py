"""The `net` scenario of scripts/bench (issue 27): a far node behind a narrow uplink.

A TCP proxy on 127.0.0.1 in front of the simulated node's sshd delays every byte by half
the round trip each way and paces each direction through a token bucket (one link shared
by every connection, as a home uplink is). The kernel here has no `netem`, so `tc` cannot
do it. Every contender goes through the same proxy in the same run:

- first deploy of a generated source tree (fixed seed: the same bytes every run): pxdeploy
  against the floor, `tar -c | ssh 'tar -x && docker compose up -d --wait'` (uncompressed,
  as the old scripts sent it), and the same floor with `tar -z` (for comparison);
- unchanged redeploys of examples/app: pxdeploy against the one-`ssh`-per-step script;
- changed redeploys of examples/app: pxdeploy against the floor and the script.

pxdeploy's own round-trip count comes from its `-vv` line (`round trips: N`); the proxy
counts, for every contender alike, the turns it sees (data from the node right after data
from the client) and the bytes each way. Stdlib only.
"""

import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import deque


class Link:
    """One direction of the link: a serial line of `mbit` Mbit/s (the time each byte takes
    to go out), then `delay` seconds of propagation."""

    def __init__(self, mbit, delay):
        self.rate = mbit * 1e6 / 8 if mbit > 0 else 0
        self.delay = delay
        self.free = 0.0
        self.lock = threading.Lock()
        self.bytes = 0
        self.reads = []  # (when, bytes so far) of every read: where a push's time goes

    def arrival(self, n):
        """When `n` bytes read now reach the other side."""
        now = time.monotonic()
        with self.lock:
            self.bytes += n
            self.reads.append((now, self.bytes))
            if not self.rate:
                return now + self.delay
            start = max(now, self.free)
            self.free = start + n / self.rate
            return self.free + self.delay


class LinkProxy:
    """127.0.0.1:<port> -> 127.0.0.1:<target>, through an uplink and a downlink."""

    # Bytes queued in one direction before the proxy stops reading (a router's buffer).
    QUEUE = 256 * 1024

    def __init__(self, target, rtt_ms, mbit, down_mbit=None):
        self.up = Link(mbit, rtt_ms / 2000)
        self.down = Link(down_mbit if down_mbit is not None else mbit, rtt_ms / 2000)
        self.target = target
        self.lock = threading.Lock()
        self.turns = 0
        self.connections = 0
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def counters(self):
        """(turns, connections, bytes up, bytes down) so far."""
        with self.lock:
            return self.turns, self.connections, self.up.bytes, self.down.bytes

    # The commands before and after a push send a few KiB each; the upload is where the bytes
    # from the start pass EDGE, until the last EDGE bytes before the end.
    EDGE = 128 * 1024

    def upload(self, since, base=0):
        """(start, end) monotonic times of the bulk upload since `since`, `base` bytes having
        gone up before (None: under 3 x EDGE sent), and forgets the reads."""
        with self.up.lock:
            reads, self.up.reads = [r for r in self.up.reads if r[0] >= since], []
        if not reads:
            return None
        total = reads[-1][1] - base
        if total < 3 * self.EDGE:
            return None
        start = next(t for t, c in reads if c - base >= self.EDGE)
        end = next(t for t, c in reads if c - base >= total - self.EDGE)
        return start, end

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            for x in (c, s):
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
            last = ["down"]  # which way data moved last, for the turn count
            for a, b, link, way in ((c, s, self.up, "up"), (s, c, self.down, "down")):
                q = deque()
                cond = threading.Condition()
                state = {"queued": 0}
                threading.Thread(target=self._read, args=(a, link, q, cond, state, way, last),
                                 daemon=True).start()
                threading.Thread(target=self._write, args=(b, q, cond, state), daemon=True).start()

    def _read(self, a, link, q, cond, state, way, last):
        try:
            while True:
                data = a.recv(16384)
                at = link.arrival(len(data)) if data else time.monotonic() + link.delay
                with self.lock:
                    if data and way == "down" and last[0] == "up":
                        self.turns += 1
                    if data:
                        last[0] = way
                with cond:
                    while state["queued"] > self.QUEUE:
                        cond.wait()
                    q.append((at, data))
                    state["queued"] += len(data)
                    cond.notify_all()
                if not data:
                    return
        except OSError:
            with cond:
                q.append((time.monotonic(), b""))
                cond.notify_all()

    def _write(self, b, q, cond, state):
        try:
            while True:
                with cond:
                    while not q:
                        cond.wait()
                    at, data = q[0]
                wait = at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                with cond:
                    q.popleft()
                    state["queued"] -= len(data)
                    cond.notify_all()
                if not data:
                    b.shutdown(socket.SHUT_WR)
                    return
                b.sendall(data)
        except OSError:
            try:
                b.close()
            except OSError:
                pass

    def close(self):
        self.srv.close()


# --- A source tree with a fixed seed ------------------------------------------------------

WORDS = ("the a to of and in is it for on with as be this that by from at or not are we "
         "you can will if when then each one all new service container node release deploy "
         "file folder user value config error state health image build push store data time "
         "run start stop check wait read write send open close list name path port host key "
         "test case result cache queue event order account payment invoice customer report "
         "session token request response handler router model view template style").split()
KEYWORDS = ("def class return if else elif for while import from try except with as pass "
            "const let var function async await export default new this null true false "
            "fn pub struct impl match use mut self Some None Ok Err").split()


def _identifiers(rng, n):
    parts = WORDS[20:]
    return [rng.choice(parts) + rng.choice(["", "_" + rng.choice(parts), rng.choice(parts).title()])
            for _ in range(n)]


def _code(rng, size, idents):
    out, n = [], 0
    depth = 0
    while n < size:
        kind = rng.random()
        if kind < 0.15:
            line = "# " + " ".join(rng.choices(WORDS, k=rng.randint(4, 12)))
        elif kind < 0.3:
            line = f"{rng.choice(KEYWORDS)} {rng.choice(idents)}({', '.join(rng.choices(idents, k=rng.randint(0, 3)))}):"
            depth = min(depth + 1, 4)
        elif kind < 0.4:
            depth = max(depth - 1, 0)
            line = f"return {rng.choice(idents)}"
        else:
            line = (f"{rng.choice(idents)} = {rng.choice(idents)}.{rng.choice(idents)}"
                    f"({rng.choice(idents)}, \"{' '.join(rng.choices(WORDS, k=rng.randint(1, 4)))}\", "
                    f"{rng.randint(0, 9999)})")
        line = "    " * depth + line + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()


def _prose(rng, size):
    weights = [1.0 / (i + 1) for i in range(len(WORDS))]
    out, n = [], 0
    while n < size:
        words = rng.choices(WORDS, weights, k=rng.randint(40, 120))
        para = " ".join(words).capitalize() + ".\n\n"
        out.append(para)
        n += len(para)
    return "".join(out).encode()


def _records(rng, size, idents):
    out, n, i = ["id,name,kind,amount,created\n"], 0, 0
    while n < size:
        i += 1
        line = (f"{i},{rng.choice(idents)},{rng.choice(WORDS)},{rng.randint(0, 10**6) / 100},"
                f"2026-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}T{rng.randint(0, 23):02}:"
                f"{rng.randint(0, 59):02}:00Z\n")
        out.append(line)
        n += len(line)
    return "".join(out).encode()


IDLE_COMPOSE = ("services:\n  idle:\n    image: base:local\n    pull_policy: never\n"
                "    network_mode: none\n    command: [\"sleep\", \"100000\"]\n")


def make_tree(folder, mb, seed):
    """A web app's repository of about `mb` MB: code (.py .js .css .html), docs (.md),
    data (.csv .json), and already-compressed assets (.jpg .png .woff2, random bytes: what
    their compressed content looks like to gzip): 50 % code, 25 % docs and data, 25 % assets
    by size. Same `seed`, same
    bytes. Returns {kind: bytes}."""
    rng = random.Random(seed)
    idents = _identifiers(rng, 400)
    total = mb * 1_000_000
    sizes = {"code": 0, "text": 0, "assets": 0}
    plan = [("code", 0.50), ("text", 0.25), ("assets", 0.25)]
    exts = {"code": [".py", ".js", ".css", ".html"], "text": [".md", ".csv", ".json"],
            "assets": [".jpg", ".png", ".woff2"]}
    i = 0
    for kind, share in plan:
        budget = total * share
        while sizes[kind] < budget:
            i += 1
            ext = rng.choice(exts[kind])
            sub = {"code": f"src/{rng.choice(idents)}", "text": "docs",
                   "assets": f"static/{ext[1:]}"}[kind]
            size = {"code": rng.randint(1_000, 60_000), "text": rng.randint(2_000, 200_000),
                    "assets": rng.randint(20_000, 1_500_000)}[kind]
            if kind == "code":
                data = _code(rng, size, idents)
            elif ext == ".md":
                data = _prose(rng, size)
            elif kind == "text":
                data = _records(rng, size, idents)
            else:
                data = rng.randbytes(size)
            path = os.path.join(folder, sub, f"{rng.choice(idents)}-{i:05}{ext}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            sizes[kind] += len(data)
    with open(os.path.join(folder, "docker-compose.yml"), "w") as f:
        f.write(IDLE_COMPOSE)
    return sizes


# --- The scenario -------------------------------------------------------------------------

ROUND_TRIPS = re.compile(r"round trips: (\d+)")
RT_ENV = {"PXDEPLOY_LOG": "warn,pxdeploy::round_trips=debug"}


def point_at(text, info, proxy, kh):
    """A pxdeploy.toml text for the node, sent through the proxy."""
    return (text.replace(f"port = {info['port']}", f"port = {proxy.port}")
            .replace(f'"{info["known_hosts"]}"', f'"{kh}"'))


class Runner:
    def __init__(self, b, h, hp, info, proxy, px, env, work):
        self.b, self.h, self.hp, self.info, self.proxy = b, h, hp, info, proxy
        self.px, self.env, self.work = px, dict(env, **RT_ENV), work
        self.kh = hp.info["known_hosts"]
        self.rt = {}
        self.turns = {}
        self.up = {}
        self.rss = {}
        self.phases = {}

    def config(self, source, name, remote, env=False):
        path = os.path.join(self.work, f"{name}.toml")
        self.h.config(source, self.b.base_toml(self.h.vmid, name, remote, 1, env=env), path)
        with open(path) as f:
            text = point_at(f.read(), self.info, self.proxy, self.kh)
        with open(path, "w") as f:
            f.write(text)
        return path

    def measured(self, label, fn):
        """Runs fn, noting the proxy's turns and bytes; returns the seconds."""
        t0, _, up0, _ = self.proxy.counters()
        self.proxy.upload(float("inf"))  # forget the reads so far
        t = time.monotonic()
        fn()
        end = time.monotonic()
        took = end - t
        t1, _, up1, _ = self.proxy.counters()
        self.turns.setdefault(label, []).append(t1 - t0)
        self.up.setdefault(label, []).append(up1 - up0)
        upload = self.proxy.upload(t, up0)
        if upload:
            # Before the upload, the upload, after its last bytes.
            self.phases.setdefault(label, []).append(
                (upload[0] - t, upload[1] - upload[0], end - upload[1]))
        return took

    def pxdeploy(self, label, cfg, *args, binary=None, rss=False):
        def go():
            argv = [binary or self.px, "-c", cfg, "deploy", *args]
            if rss:
                argv = ["/usr/bin/time", "-v"] + argv
            r = subprocess.run(argv, env=self.env, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"bench: {label}: pxdeploy deploy failed:\n{r.stderr}")
            m = ROUND_TRIPS.search(r.stderr)
            self.rt.setdefault(label, []).append(int(m.group(1)) if m else float("nan"))
            kb = self.b.peak_rss_kb(r.stderr)
            if kb:
                self.rss.setdefault(label, []).append(kb)
        return self.measured(label, go)

    def floor(self, label, source, remote, project, gz=False):
        z = "z" if gz else ""
        hp = self.hp

        def go():
            tar = subprocess.Popen(["tar", "-C", source, f"-c{z}", "."], stdout=subprocess.PIPE)
            subprocess.run(hp.ssh + [f"pct exec {hp.vmid} -- sh -c 'mkdir -p {remote} && "
                                     f"tar -x{z} -C {remote} && exec docker compose -p {project} "
                                     f"-f {remote}/docker-compose.yml up -d --remove-orphans "
                                     f"--wait'"],
                           stdin=tar.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            tar.stdout.close()
            assert tar.wait() == 0
        return self.measured(label, go)


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def net_scenario(b, h, info, px, env, work, app, app_cfg, args):
    """Prints the Markdown section of the `net` scenario. `b`: the bench's helpers."""
    proxy = LinkProxy(info["port"], args.rtt_ms, args.mbit)
    kh = os.path.join(work, "net_known_hosts")
    with open(info["known_hosts"]) as f, open(kh, "w") as out:
        out.write(f.read().replace(f"]:{info['port']} ", f"]:{proxy.port} "))
    hp = b.Host(dict(info, port=proxy.port, known_hosts=kh), h.vmid)
    r = Runner(b, h, hp, info, proxy, px, env, work)
    runs = args.runs
    link = f"{args.mbit:g} Mbit/s, {args.rtt_ms:g} ms round trip"

    tree = os.path.join(work, "nettree")
    b.log(f"net: generating a {args.tree_mb} MB tree (seed {args.seed})")
    kinds = make_tree(tree, args.tree_mb, args.seed)
    tree_bytes = sum(kinds.values())
    gz = subprocess.run(f"tar -C {tree} -c . | gzip -6 | wc -c", shell=True, check=True,
                        capture_output=True, text=True).stdout
    gz_bytes = int(gz.strip())

    alts = [a.split("=", 1) for a in args.net_alt]
    contenders = [("pxdeploy", lambda i: r.pxdeploy("pxdeploy", r.config(
        tree, f"netpx{i}", f"/opt/netpx{i}"), rss=True))]
    for name, path in alts:
        contenders.append((name, lambda i, name=name, path=path: r.pxdeploy(
            name, r.config(tree, f"net{name}{i}", f"/opt/net{name}{i}"), binary=path,
            rss=True)))
    contenders += [
        ("floor", lambda i: r.floor("floor", tree, f"/opt/netfloor{i}", f"netfloor{i}")),
        ("floor gz", lambda i: r.floor("floor gz", tree, f"/opt/netfloorgz{i}",
                                       f"netfloorgz{i}", gz=True)),
    ]
    first = {name: [] for name, _ in contenders}
    for i in range(runs):
        k = i % len(contenders)
        for name, fn in contenders[k:] + contenders[:k]:
            b.log(f"net: first deploy {i + 1}/{runs}: {name}")
            first[name].append(fn(i))
        # The next run starts from empty folders too; keep the container's disk small.
        subprocess.run(h.ssh + [f"pct exec {h.vmid} -- sh -c 'rm -rf /opt/net*{i}'"],
                       check=True, capture_output=True)

    # Redeploys of examples/app over the same link.
    with open(app_cfg) as f:
        text = point_at(f.read(), info, proxy, kh)
    cfg = os.path.join(work, "netapp.toml")
    with open(cfg, "w") as f:
        f.write(text)
    b.log("net: unchanged redeploys")
    unchanged = b.interleaved(runs, [
        ("pxdeploy", lambda: r.pxdeploy("unchanged pxdeploy", cfg)),
        ("script", lambda: r.measured("unchanged script", lambda: b.reference_deploy(
            hp, app, "exampleapp", "/opt/exampleapp", 2))),
    ])
    b.log("net: changed redeploys")
    changed = b.interleaved(runs, [
        ("pxdeploy", lambda: r.pxdeploy("changed pxdeploy", cfg)),
        ("script", lambda: r.measured("changed script", lambda: b.reference_deploy(
            hp, app, "exampleapp", "/opt/exampleapp", 2))),
        ("floor", lambda: r.measured("changed floor", lambda: b.floor_deploy(
            hp, app, "exampleapp", "/opt/exampleapp"))),
    ], before=lambda: b.bump(app))
    proxy.close()

    def row(label, ts, key=None, extra=""):
        key = key or label
        up = med(r.up.get(key, []))
        rt = med(r.rt.get(key, []))
        rss = med(r.rss.get(key, []))
        return (f"| {label} | {med(ts):.2f} s | {min(ts):.2f} s | {max(ts):.2f} s | "
                f"{up / 1e6:.1f} MB | {'' if rt != rt else f'{rt:g}'} | "
                f"{med(r.turns.get(key, [])):g} | "
                f"{'' if rss != rss else f'{rss / 1024:.1f} MiB'} |{extra}")

    head = ("| | median | min | max | sent up (proxy) | round trips (`-vv`) | turns seen by "
            "the proxy | peak RSS |\n|---|---|---|---|---|---|---|---|")
    m = {k: med(v) for k, v in first.items()}
    out = [f"### First deploy of a generated tree at {link} ({runs} runs each, interleaved, "
           "median)", "",
           f"The tree: {tree_bytes / 1e6:.1f} MB (seed {args.seed}: code "
           f"{kinds['code'] / 1e6:.1f} MB, docs and data {kinds['text'] / 1e6:.1f} MB, "
           f"already-compressed images and fonts {kinds['assets'] / 1e6:.1f} MB); "
           f"`tar | gzip -6` of it: {gz_bytes / 1e6:.1f} MB ({gz_bytes / tree_bytes:.2f}).", "",
           head,
           row("pxdeploy", first["pxdeploy"])]
    for name, _ in alts:
        out.append(row(f"pxdeploy `{name}`", first[name], key=name))
    out += [row("floor: `tar -c \\| ssh 'tar -x && docker compose up -d --wait'`",
                first["floor"], key="floor"),
            row("floor with `tar -z` (compressed)", first["floor gz"], key="floor gz"), "",
            f"pxdeploy / floor: **{m['pxdeploy'] / m['floor']:.2f}x** (goal: <= 0.5x); "
            f"pxdeploy / compressed floor: {m['pxdeploy'] / m['floor gz']:.2f}x", "",
            "Where each first deploy's time goes (medians; the proxy's clock; the upload: from "
            "its first 128 KiB to its last 128 KiB):", "",
            "| | before the upload (connect, lock, read, judge) | the upload | after it (unpack, "
            "store, switch, `up`, health) |", "|---|---|---|---|"]
    for name, _ in contenders:
        ph = r.phases.get(name, [])
        if ph:
            out.append(f"| {name} | " + " | ".join(
                f"{statistics.median(p[k] for p in ph):.2f} s" for k in range(3)) + " |")
    out += ["",
            f"### Redeploys of examples/app at {link} ({runs} runs each, interleaved, median)",
            "", head,
            row("unchanged: pxdeploy", unchanged["pxdeploy"], key="unchanged pxdeploy"),
            row("unchanged: one `ssh` per step (the script)", unchanged["script"],
                key="unchanged script"),
            row("changed: pxdeploy", changed["pxdeploy"], key="changed pxdeploy"),
            row("changed: one `ssh` per step (the script)", changed["script"],
                key="changed script"),
            row("changed: floor (`tar -x`, `up -d --build --wait`, one `ssh`)", changed["floor"],
                key="changed floor"), "",
            f"unchanged pxdeploy / script: **{med(unchanged['pxdeploy']) / med(unchanged['script']):.2f}x**"
            f" (goal: <= 0.2x); changed pxdeploy / floor: "
            f"**{med(changed['pxdeploy']) / med(changed['floor']):.2f}x** (goal: <= 1.1x), / script: "
            f"{med(changed['pxdeploy']) / med(changed['script']):.2f}x", ""]
    print("\n".join(out))
