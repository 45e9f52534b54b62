"""`pveam` (reference §11): the template catalogue (`update` adds newer templates),
`available`, `list`, `download` (no network: a sparse file of a realistic size) and
`remove`; plus the storage check shared with pvesm and vzdump.
"""

import os
import re
import time

from .basics import (
    Exit, STORAGES, Sim, TEMPLATES_BASE, TEMPLATES_UPDATE, TEMPLATE_SIZE, die, err, fmt_time,
    knob, now_local, out, param_die, st, truthy,
)
from .options import check_known, expand_cmd, parse_opts, usage_abort
from .pct_lifecycle import template_path


def catalogue():
    cat = {s: list(v) for s, v in TEMPLATES_BASE.items()}
    if os.path.exists(st("var", "lib", "pve-manager", "apl-info", "updated")):
        for s, v in TEMPLATES_UPDATE.items():
            cat.setdefault(s, []).extend(v)
    return cat


def pveam_main(args):
    if not args:
        usage_abort("pveam", "")
    cmd = expand_cmd(args[0], ["available", "download", "help", "list", "remove", "update"],
                     "pveam")
    rest = args[1:]
    if cmd == "update":
        parse_opts(rest, "pveam update")
        os.makedirs(st("var", "log"), exist_ok=True)
        with open(st("var", "log", "pveam.log"), "a") as f:
            stamp = fmt_time(now_local())
            if truthy(knob("pveam_update_fail", default="0")):
                f.write(f"{stamp} starting update\n{stamp} download failed: 500 Can't connect "
                        f"to download.proxmox.com:80 (Temporary failure in name resolution)\n")
                err("update failed - see /var/log/pveam.log for details")
                raise Exit(0)
            f.write(f"{stamp} starting update\n{stamp} update successful\n")
        d = st("var", "lib", "pve-manager", "apl-info")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "updated"), "w") as f:
            f.write(str(time.time()))
        out("update successful")
        raise Exit(0)
    if cmd == "available":
        _, opts = parse_opts(rest, "pveam available")
        check_known(opts, {"section"}, "pveam available")
        sec = dict(opts).get("section")
        new_fmt = version_tuple(Sim.cfg.get("pve_version", "9.2.11")) >= (9, 2, 7)
        cat = catalogue()
        for s in sorted(cat):
            if sec and s != sec:
                continue
            for tpl in sorted(cat[s]):
                if new_fmt:
                    arch = "amd64" if "amd64" in tpl else "unknown"
                    out("%-15s %-60s %s" % (s, tpl, arch))
                else:
                    out("%-15s %s" % (s, tpl))
        raise Exit(0)
    if cmd == "list":
        pos, opts = parse_opts(rest, "pveam list", positional=1)
        check_known(opts, {"content"}, "pveam list")
        storage_check(pos[0])
        if "vztmpl" not in STORAGES[pos[0]]["content"]:
            die("Storage does not support templates!")
        d = st("var", "lib", "vz", "template", "cache")
        files = sorted(os.listdir(d) if os.path.isdir(d) else [], key=str.lower)
        out("%-60s %-6s" % ("NAME", "SIZE"))
        for fn in files:
            size = os.path.getsize(os.path.join(d, fn))
            out("%-60s %-4.2fMB" % (f"{pos[0]}:vztmpl/{fn}", size / 1048576))
        raise Exit(0)
    if cmd == "download":
        pos, opts = parse_opts(rest, "pveam download", positional=2)
        check_known(opts, set(), "pveam download")
        storage, tpl = pos
        storage_check(storage)
        section = None
        for s, v in catalogue().items():
            if tpl in v:
                section = s
        if section is None:
            param_die([("template", "no such template")], "pveam download")
        if "vztmpl" not in STORAGES[storage]["content"]:
            die(f"storage '{storage}' does not support templates")
        url = (f"http://download.proxmox.com/images/system/{tpl}" if section == "system"
               else f"https://releases.turnkeylinux.org/pve/{tpl}")
        shown = f"/var/lib/vz/template/cache/{tpl}"
        path = st("var", "lib", "vz", "template", "cache", tpl)
        if os.path.exists(path):
            out("calculating checksum of existing file...OK, got correct file already, "
                "no need to download")
            raise Exit(0)
        out(f"downloading {url} to {shown}")
        if truthy(knob("pveam_download_fail", default="0")):
            out(f"--{fmt_time(now_local())}--  {url}")
            out("Resolving download.proxmox.com (download.proxmox.com)... failed: "
                "Temporary failure in name resolution.")
            err(f"download failed: wget: unable to resolve host address "
                f"'download.proxmox.com'")
            raise Exit(0)
        out(f"--{fmt_time(now_local())}--  {url}")
        out("Reusing existing connection to download.proxmox.com:80.")
        out("HTTP request sent, awaiting response... 200 OK")
        out(f"Length: {TEMPLATE_SIZE} (120M) [application/octet-stream]")
        out(f"Saving to: '{shown}.tmp_dwnl.{os.getpid()}'")
        out(f"     0K ........ ........ ........ ........ ........ ........  "
            f"26% 112M 1s")
        out(f"{fmt_time(now_local())} (118 MB/s) - '{shown}.tmp_dwnl.{os.getpid()}' saved "
            f"[{TEMPLATE_SIZE}/{TEMPLATE_SIZE}]")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        make_template_file(path)
        out("calculating checksum...OK, checksum verified")
        out(f"download of '{url}' to '{shown}' finished")
        raise Exit(0)
    if cmd == "remove":
        pos, _ = parse_opts(rest, "pveam remove", positional=1)
        path = template_path(pos[0])
        if not path or not os.path.exists(path):
            die(f"unable to parse volume ID '{pos[0]}'" if not path else
                f"volume '{pos[0]}' does not exist")
        os.unlink(path)
        raise Exit(0)
    usage_abort("pveam", cmd)


def make_template_file(path):
    """A sparse file as big as a real template (no download, no disk use)."""
    with open(path, "wb") as f:
        f.write(b"pxsim template\n")
        f.truncate(TEMPLATE_SIZE)


def version_tuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def storage_check(sid):
    if sid not in STORAGES:
        die(f"storage '{sid}' does not exist")
