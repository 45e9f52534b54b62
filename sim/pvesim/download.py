"""`pvesh create /nodes/<node>/storage/<storage>/download-url` (reference vm §1.1, pve-storage
Status.pm download_url) and the task status it leaves (`pvesh get /nodes/<node>/tasks/
<UPID>/status`). The file comes from the catalogue (images.py) for the distributions' URLs,
over real HTTP for http://127.0.0.1… (tests serve files), from `file://` only with knob
`download_file_url` 1; any other host cannot be resolved (the sim never leaves the
machine). The task runs in the foreground; a failed task still exits 0 (pvesh never reads
the result) and its status says why.
"""

import hashlib
import os
import re
import time
import urllib.request

from .basics import STORAGES, Exit, Sim, TaskError, die, err, knob, out, param_die, st, \
    read_json, truthy, write_json
from .images import is_catalogue_host, lookup

ALGOS = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]
EXT = {"import": r"[a-zA-Z0-9\-.+=_]+\.(ova|qcow2|raw|vmdk)", "iso": r".+\.(iso|img)",
       "vztmpl": r".+\.tar\.(gz|xz|zst|bz2)"}
SUB = {"import": "import", "iso": "template/iso", "vztmpl": "template/cache"}


def upid(typ, ident):
    pid = os.getpid()
    now = int(time.time())
    return f"UPID:{Sim.node}:{pid:08X}:{int(time.monotonic() * 100) & 0xFFFFFFFF:08X}:" \
           f"{now:08X}:{typ}:{ident}:root@pam:"


def task_file(u):
    return st("tasks", re.sub(r"[^A-Za-z0-9_.:@-]", "_", u).replace(":", "_") + ".json")


def save_task(u, typ, ident, status, exitstatus):
    os.makedirs(st("tasks"), exist_ok=True)
    parts = u.split(":")
    write_json(task_file(u), {"upid": u, "node": Sim.node, "pid": int(parts[2], 16),
                              "pstart": int(parts[3], 16), "starttime": int(parts[4], 16),
                              "type": typ, "id": ident, "user": "root@pam",
                              "status": status, "exitstatus": exitstatus})


def task_status(u):
    t = read_json(task_file(u))
    if not t:
        die(f"no such task")
    return t


def fetch(url, tmp_shown):
    """The bytes at url, or TaskError with wget's words (run_command errmsg "download
    failed")."""
    wget = f"command 'wget --progress=dot:giga -O {tmp_shown} {url}' failed: exit code"
    if is_catalogue_host(url):
        hit = lookup(url)
        if not hit:
            out(f"ERROR 404: Not Found.")
            raise TaskError(f"download failed: {wget} 8")
        return hit[1]
    m = re.match(r"(https?)://(\[[^\]]+\]|[^/:]+)", url)
    if url.startswith("file://") and truthy(knob("download_file_url", default=0)):
        with open(url[7:], "rb") as f:
            return f.read()
    if not m or not (m.group(2).startswith("127.") or m.group(2) in ("localhost", "[::1]")):
        host = m.group(2) if m else url
        out(f"wget: unable to resolve host address '{host}'")
        raise TaskError(f"download failed: {wget} 4")
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read()
    except OSError as e:
        out(f"ERROR {getattr(e, 'code', '')} {getattr(e, 'reason', e)}.")
        raise TaskError(f"download failed: {wget} 8")


def download_url(node, storage, opts):
    u = "pvesh create"
    o = dict(opts)
    for req in ("url", "filename", "content"):
        if not o.get(req):
            param_die([(req, "property is missing and it is not optional")], u)
    url, content = o["url"], o["content"]
    if not re.fullmatch(r"https?://.*", url) and not (
            url.startswith("file://") and truthy(knob("download_file_url", default=0))):
        param_die([("url", "value does not match the regex pattern")], u)
    if content not in ("iso", "vztmpl", "import"):
        param_die([("content", f"value '{content}' does not have a value in the enumeration "
                               f"'iso, vztmpl, import'")], u)
    if ("checksum" in o) != ("checksum-algorithm" in o):
        have = "checksum" if "checksum" in o else "checksum-algorithm"
        need = "checksum-algorithm" if have == "checksum" else "checksum"
        param_die([(need, f"missing property - '{have}' requires this property")], u)
    algo = o.get("checksum-algorithm")
    if algo and algo not in ALGOS:
        param_die([("checksum-algorithm", f"value '{algo}' does not have a value in the "
                                          f"enumeration '{', '.join(ALGOS)}'")], u)
    if storage not in STORAGES:
        die(f"storage '{storage}' does not exist")
    scfg = STORAGES[storage]
    if scfg["type"] != "dir":
        die(f"can't upload to storage type '{scfg['type']}', not a file based storage!")
    if content not in scfg["content"]:
        die(f"storage '{storage}' is not configured for content-type '{content}'")
    filename = re.sub(r"[^a-zA-Z0-9_.-]", "_", os.path.basename(o["filename"]))
    if not re.fullmatch(EXT[content], filename):
        param_die([("filename", "invalid filename or wrong extension" if content == "import"
                     else "wrong file extension")], u)
    shown = f"/var/lib/vz/{SUB[content]}/{filename}"
    dest = st("var", "lib", "vz", SUB[content], filename)
    want = o.get("checksum", "").lower()
    tid = upid("download", filename)
    save_task(tid, "download", filename, "running", None)
    try:
        if o.get("compression") and content != "iso":
            raise TaskError(f"decompression not supported for {content}")
        run_download(url, dest, shown, algo, want, content)
        save_task(tid, "download", filename, "stopped", "OK")
    except TaskError as e:
        msg = " ".join(str(e).split())
        err(msg)
        save_task(tid, "download", filename, "stopped", msg)
    out(tid)
    raise Exit(0)


def run_download(url, dest, shown, algo, want, content):
    """PVE::Tools::download_file_from_url (pve-common), its lines and errors."""
    out(f"downloading {url} to {shown}")
    if os.path.exists(dest):
        if want:
            with open(dest, "rb") as f:
                got = hashlib.new(algo, f.read()).hexdigest()
            if got == want:
                out("calculating checksum of existing file...OK, got correct file already, "
                    "no need to download")
                return
            out("calculating checksum of existing file...")
            raise TaskError(f"checksum mismatch: got '{got}' != expect '{want}', aborting")
        raise TaskError(f"refusing to override existing file '{shown}'")
    tmp = f"{dest}.tmp_dwnl.{os.getpid()}"
    tmp_shown = f"{shown}.tmp_dwnl.{os.getpid()}"
    data = fetch(url, tmp_shown)
    out(f"--{time.strftime('%Y-%m-%d %H:%M:%S')}--  {url}")
    out("HTTP request sent, awaiting response... 200 OK")
    out(f"Length: {len(data)} ({len(data) // 1024}K) [application/octet-stream]")
    out(f"Saving to: '{tmp_shown}'")
    out(f"     0K ........ ........ ........ ........ 100% {len(data) // 1024}K=0s")
    out(f"{time.strftime('%Y-%m-%d %H:%M:%S')} (100 MB/s) - '{tmp_shown}' "
        f"saved [{len(data)}/{len(data)}]")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        if want:
            got = hashlib.new(algo, data).hexdigest()
            if got != want:
                out("calculating checksum...")
                raise TaskError(f"checksum mismatch: got '{got}' != expect '{want}'")
            out("calculating checksum...OK, checksum verified")
        if content == "import":
            verify(data, tmp_shown, dest.rsplit(".", 1)[-1])
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    out(f"download of '{url}' to '{shown}' finished")


def verify(data, shown, filename_ext):
    """file_size_info in untrusted mode for the format the extension names."""
    if filename_ext == "qcow2":
        if data[:4] != b"QFI\xfb":
            # qemu-img info -f qcow2 fails on it (Plugin.pm file_size_info)
            raise TaskError("failed to verify file: failed to query file information with "
                            "qemu-img")
        if int.from_bytes(data[8:16], "big"):
            raise TaskError(f"failed to verify file: backing file not allowed for untrusted "
                            f"image '{shown}'!")
