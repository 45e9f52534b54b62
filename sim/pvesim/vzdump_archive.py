"""A container's vzdump archive: a real tar of its folders with `./etc/vzdump/pct.conf`
first (compressed with zstd/gzip/lzo through the system tools), and the configuration a
backup carries (no lock, no pending changes, no snapshots). Used by vzdump.py.
"""

import os
import re
import shutil
import subprocess

from .basics import TaskError, need_tool, st
from .config import render_conf
from .containers import ct_dir


def backup_conf(conf):
    """The configuration a backup carries: no lock, no pending changes, no snapshots."""
    c = dict(conf)
    c["keys"] = {k: v for k, v in conf["keys"].items() if k != "lock"}
    c["pending"] = None
    c["tail"] = ""
    return c


def make_archive(vmid, conf, tmp, ext):
    """A real tar of the container's folders (with ./etc/vzdump/pct.conf first)."""
    stage = st("run", f"vzdump-{vmid}-{os.getpid()}")
    os.makedirs(os.path.join(stage, "etc", "vzdump"), exist_ok=True)
    with open(os.path.join(stage, "etc", "vzdump", "pct.conf"), "w") as f:
        f.write(render_conf(backup_conf(conf)))
    rootfs = os.path.join(ct_dir(vmid), "rootfs")
    tar = ["tar", "-cpf", "-", "--totals", "--numeric-owner", "--sparse",
           "--warning=no-file-changed", "--warning=no-file-removed",
           "-C", stage, "./etc/vzdump/pct.conf",
           "--exclude=./tmp/?*", "--exclude=./var/run/?*.pid", "-C", rootfs, "."]
    comp = None
    if ext == ".zst":
        comp = [need_tool("zstd", "zstd"), "-q", "--threads=1"]
    elif ext == ".gz":
        comp = [shutil.which("pigz") or need_tool("gzip", "gzip"), "-c"]
    elif ext == ".lzo":
        comp = [need_tool("lzop", "lzop"), "-c"]
    with open(tmp, "wb") as f:
        if comp:
            p1 = subprocess.Popen(tar, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            p2 = subprocess.Popen(comp, stdin=p1.stdout, stdout=f)
            p1.stdout.close()
            errout = p1.stderr.read().decode(errors="replace")
            rc1, rc2 = p1.wait(), p2.wait()
        else:
            p1 = subprocess.Popen(tar, stdout=f, stderr=subprocess.PIPE)
            errout = p1.stderr.read().decode(errors="replace")
            rc1, rc2 = p1.wait(), 0
    shutil.rmtree(stage, ignore_errors=True)
    if rc1 not in (0, 1) or rc2 != 0:
        raise TaskError(f"command 'tar cpf - --totals ...' failed: exit code {rc1 or rc2}")
    m = re.search(r"Total bytes written: (.*)", errout)
    return m.group(1).strip() if m else "0"
