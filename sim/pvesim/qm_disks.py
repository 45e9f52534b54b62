"""A VM's disks (reference vm §1.2, §2.1, §2.4; qemu-server Qemu.pm create_disks): the
drive strings of `qm create`/`qm set` (`<storage>:0,import-from=<volid|abs path>` with the
source image's checks, `<storage>:cloudinit`, `<storage>:<GiB>`, existing volumes), the
image files (qcow2 header read for the virtual size, no backing file), `qm disk resize`
(alias `resize`; a task without exit mapping: failures exit 0) and `qm disk import` (alias
`importdisk`). Disks hold no data: a VM's files are its folders (STATE/ct/<vmid>).
"""

import os
import re
import struct

from .basics import STORAGES, Exit, TaskError, die, out, param_die, st
from .options import check_known, check_vmid, parse_opts
from .config import current_keys
from .qm_config import DRIVE_RE, drives, load_vm, load_vm_or_die, vm_lock, write_vm
from .tasks import run_task

GiB = 1024 ** 3
NEW_DISK_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9\-_.]*):(\d+(?:\.\d+)?)")


def fmt_bytes(b):
    for unit, mul in (("T", 1024 ** 4), ("G", GiB), ("M", 1024 ** 2), ("K", 1024)):
        if b % mul == 0:
            return f"{b // mul}{unit}"
    return f"{b}"


def parse_size(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", s)
    if not m:
        return None
    return int(float(m.group(1)) * {"": 1, "K": 1024, "M": 1024 ** 2, "G": GiB,
                                     "T": 1024 ** 4}[m.group(2)])


def image_path(src):
    """An import source: `<storage>:import/<f>` / `:images` volume or an absolute path
    (/var/lib/vz/… means the state's). → (path, format) or TaskError."""
    if src.startswith("/"):
        path = st(src.lstrip("/")) if src.startswith("/var/lib/vz/") else src
    else:
        m = re.fullmatch(r"([^:\s]+):import/(.+)", src)
        path = st("var", "lib", "vz", "import", m.group(2)) if m else None
    if not path or not os.path.isfile(path):  # abs_filesystem_path (pve-storage)
        raise TaskError(f"can't find file '{src}'")
    ext = path.rsplit(".", 1)[-1].lower()
    return path, {"qcow2": "qcow2", "raw": "raw", "vmdk": "vmdk", "img": "qcow2"}.get(ext, "raw")


def image_info(path, fmt):
    """file_size_info in untrusted mode: the virtual size; no backing/data file."""
    with open(path, "rb") as f:
        head = f.read(104)
    if head[:4] == b"QFI\xfb":
        (_magic, _ver, backing_off, _bsize, _cbits, size) = struct.unpack(">IIQIIQ", head[:32])
        if backing_off:
            raise TaskError(f"backing file not allowed for untrusted image '{path}'!")
        return "qcow2", size
    if fmt == "qcow2":
        raise TaskError("failed to query file information with qemu-img")
    return "raw", os.path.getsize(path)


def volume_name(storage, vmid, keys, suffix=None):
    typ = STORAGES[storage]["type"]
    used = {v for _k, v, _o in drives(keys)}
    if suffix == "cloudinit":
        return (f"{storage}:{vmid}/vm-{vmid}-cloudinit.qcow2" if typ == "dir"
                else f"{storage}:vm-{vmid}-cloudinit")
    n = 0
    while any(f"vm-{vmid}-disk-{n}" in v for v in used):
        n += 1
    return (f"{storage}:{vmid}/vm-{vmid}-disk-{n}.raw" if typ == "dir"
            else f"{storage}:vm-{vmid}-disk-{n}")


def check_images(storage, u):
    """check_storage_access (qemu-server API2/Qemu.pm)."""
    if storage not in STORAGES:
        param_die([("storage", f"storage '{storage}' does not exist")], u)
    if "images" not in STORAGES[storage]["content"]:
        param_die([("storage", f"storage '{storage}' does not support vm images")], u)


def check_import_source(k, src, u):
    """A volid source must be of type images or import (check_storage_access)."""
    m = re.fullmatch(r"([a-zA-Z][a-zA-Z0-9\-_.]*):(.+)", src)
    if not m or src.startswith("/"):
        return
    vol = m.group(2)
    vtype = vol.split("/")[0] if "/" in vol and vol.split("/")[0] in (
        "iso", "vztmpl", "backup", "snippets", "import") else "images"
    if vtype not in ("images", "import"):
        param_die([(k, f"{src} has wrong type '{vtype}' - needs to be 'images' or 'import'")],
                  u)


def check_drive(k, v, u):
    """Before the task (check_drive_param / check_storage_access)."""
    parts = v.split(",")
    opts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    m = NEW_DISK_RE.fullmatch(parts[0])
    if "import-from" in opts:
        if not m or float(m.group(2)) != 0:
            param_die([(k, "'import-from' requires special syntax - use <storage ID>:0,"
                           "import-from=<source>")], u)
        check_images(m.group(1), u)
        check_import_source(k, opts["import-from"], u)
    elif parts[0].endswith(":cloudinit"):
        check_images(parts[0].split(":")[0], u)
    elif m:
        check_images(m.group(1), u)


def alloc_drive(t, vmid, k, v, keys):
    """create_disks for one drive string; returns the stored value (inside the task)."""
    parts = v.split(",")
    opts = [p for p in parts[1:] if p]
    od = dict(p.split("=", 1) for p in opts if "=" in p)
    m = NEW_DISK_RE.fullmatch(parts[0])
    if "import-from" in od:
        path, fmt = image_path(od["import-from"])
        _f, size = image_info(path, fmt)
        vol = volume_name(m.group(1), vmid, keys)
        if STORAGES[m.group(1)]["type"] == "lvmthin":
            t.log(f'  Logical volume "{vol.split(":")[1]}" created.')
        for pct in (0.0, 50.0, 100.0):
            done = size * pct / 100
            t.log(f"transferred {done / GiB:.1f} GiB of {size / GiB:.1f} GiB ({pct:.2f}%)")
        rest = [p for p in opts if not p.startswith(("import-from=", "size="))]
        val = ",".join([vol] + rest + [f"size={fmt_bytes(size)}"])
    elif parts[0].endswith(":cloudinit"):
        vol = volume_name(parts[0].split(":")[0], vmid, keys, "cloudinit")
        if STORAGES[parts[0].split(":")[0]]["type"] == "lvmthin":
            t.log(f'  Logical volume "{vol.split(":")[1]}" created.')
        val = f"{vol},media=cdrom"
    elif m:
        vol = volume_name(m.group(1), vmid, keys)
        if STORAGES[m.group(1)]["type"] == "lvmthin":
            t.log(f'  Logical volume "{vol.split(":")[1]}" created.')
        size = int(float(m.group(2)) * GiB)
        rest = [p for p in opts if not p.startswith("size=")]
        val = ",".join([vol] + rest + [f"size={fmt_bytes(size)}"])
    else:
        return v
    t.log(f"{k}: successfully created disk '{val}'")
    return val


def set_drive(vmid, k, v, u):
    """`qm set <vmid> --scsi0 …` (synchronous)."""
    from .tasks import Task  # noqa: PLC0415
    check_drive(k, v, u)
    try:
        return alloc_drive(Task(), vmid, k, v, current_keys(load_vm(vmid)))
    except TaskError as e:
        die(str(e))


def qm_resize(args):
    u = "qm disk resize"
    pos, opts = parse_opts(args, u, bools=("skiplock",), positional=3)
    check_known(opts, {"skiplock", "digest"}, u)
    vmid = check_vmid(pos[0], u)
    disk, size = pos[1], pos[2]
    if not re.fullmatch(r"\+?\d+(\.\d+)?[KMGT]?", size):
        param_die([("size", f"value '{size}' does not match the regex pattern")], u)
    load_vm_or_die(vmid)

    def task(t):
        with vm_lock(vmid):
            conf = load_vm(vmid)
            keys = conf["keys"]
            if keys.get("lock") and dict(opts).get("skiplock") != "1":
                raise TaskError(f"VM is locked ({keys['lock']})")
            if not DRIVE_RE.fullmatch(disk) or disk not in keys:
                raise TaskError(f"disk '{disk}' does not exist")
            parts = keys[disk].split(",")
            od = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            if od.get("media") == "cdrom":
                raise TaskError("you can't resize a cdrom")
            cur = parse_size(od.get("size", "0")) or 0
            new = cur + parse_size(size[1:]) if size.startswith("+") else parse_size(size)
            if new < cur:
                raise TaskError("shrinking disks is not supported")
            sid = parts[0].split(":")[0]
            if STORAGES.get(sid, {}).get("type") == "lvmthin":
                lv = parts[0].split(":")[1]
                t.log(f"  Size of logical volume pve/{lv} changed from {cur / GiB:.2f} GiB "
                      f"({cur // (4 * 1024 ** 2)} extents) to {new / GiB:.2f} GiB "
                      f"({new // (4 * 1024 ** 2)} extents).")
                t.log(f"  Logical volume pve/{lv} successfully resized.")
            od["size"] = fmt_bytes(new)
            keys[disk] = ",".join([parts[0]] + [f"{k}={v}" for k, v in od.items()])
            write_vm(vmid, conf)

    run_task(task, exit_on_error=0)


def qm_import(args):
    u = "qm disk import"
    pos, opts = parse_opts(args, u, positional=3)
    check_known(opts, {"format", "target-disk"}, u)
    vmid = check_vmid(pos[0], u)
    source, storage = pos[1], pos[2]
    o = dict(opts)
    load_vm_or_die(vmid)
    path = st(source.lstrip("/")) if source.startswith("/var/lib/vz/") else source
    if not os.path.isfile(path):
        die(f"{source}: non-existent or non-regular file")
    if storage not in STORAGES or "images" not in STORAGES[storage]["content"]:
        die(f"storage {storage} does not support vm images")
    with vm_lock(vmid):
        conf = load_vm(vmid)
        keys = conf["keys"]
        if keys.get("lock"):
            die(f"VM is locked ({keys['lock']})")
        _fmt, size = image_info(path, "raw") if not path.endswith(".qcow2") else \
            image_info(path, "qcow2")
        out(f"importing disk '{source}' to VM {vmid} ...")
        vol = volume_name(storage, vmid, keys)
        if STORAGES[storage]["type"] == "lvmthin":
            out(f'  Logical volume "{vol.split(":")[1]}" created.')
        out(f"transferred {size / GiB:.1f} GiB of {size / GiB:.1f} GiB (100.00%)")
        target = o.get("target-disk")
        if not target:
            n = 0
            while f"unused{n}" in keys:
                n += 1
            target = f"unused{n}"
            keys[target] = vol
        else:
            keys[target] = f"{vol},size={fmt_bytes(size)}"
        write_vm(vmid, conf)
    out(f"{target}: successfully imported disk '{vol}'")
    raise Exit(0)
