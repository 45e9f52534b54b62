"""A Proxmox Backup Server storage (knob `storage_pbs`: storage `pbs`, type `pbs`, content
`backup`), as vzdump, pvesm and pct restore see it (pve-storage 0c56bad8b2a7
src/PVE/Storage/PBSPlugin.pm; pve-manager 14a22df35955 PVE/VZDump.pm; pve-container
94f558522ef6 src/PVE/VZDump/LXC.pm, src/PVE/LXC/Create.pm):

- a backup is a snapshot `ct/<vmid>/<backup-time as %FT%TZ in UTC>` (VZDump.pm:926-934), its
  volume id `<storage>:backup/ct/<vmid>/<time>` (PBSPlugin.pm:226-233 print_volid);
- `pvesm list` shows it with format `pbs-ct` and the snapshot's size (PBSPlugin.pm:749-797);
- vzdump says `creating Proxmox Backup Server archive 'ct/<vmid>/<time>'` (VZDump.pm:1199-1203),
  logs the client's command line (`run: …`, PBSPlugin.pm:338-340) and output, prints no
  `archive file size` (VZDump.pm:1206), and prunes through the server: `running
  'proxmox-backup-client prune' for 'ct/<vmid>'`, no `removing backup` lines
  (PBSPlugin.pm:409-491);
- `pct restore` takes the volume id and restores `root.pxar`, the configuration coming from
  the snapshot's `pct.conf` blob (Create.pm:59-89, 310-346).

The server is a folder: STATE/pbs/<storage>/ct/<vmid>/<time>/ with root.tar (the root file
system; a pxar on a real server), pct.conf, notes and protected. The client's own lines
(`Starting backup: …`, `Upload directory …`, `Duration: …`) are as real task logs show them,
not taken from source.
"""

import datetime
import os
import re
import shutil
import subprocess
import time

from .basics import STORAGES, TaskError, st

SERVER = "198.51.100.7"
DATASTORE = "store1"
VOLNAME = re.compile(r"backup/([^\s_]+)/([^\s_]+)/([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                     r"[0-9]{2}Z)")


def is_pbs(storage):
    return storage is not None and STORAGES.get(storage, {}).get("type") == "pbs"


def repository():
    """PVE::PBSClient::get_repository: `<user>@<server>:<datastore>`."""
    return f"root@pam@{SERVER}:{DATASTORE}"


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def snapshot_dir(storage, vmid, epoch):
    return st("pbs", storage, "ct", str(vmid), iso(epoch))


def list_backups(storage, vmid=None):
    """list_volumes: [{volid, format, size, vmid, ctime, content, type, protected, path}]."""
    base = st("pbs", storage, "ct")
    res = []
    for bid in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        if vmid is not None and bid != str(int(vmid)):
            continue
        for name in sorted(os.listdir(os.path.join(base, bid))):
            d = os.path.join(base, bid, name)
            if not os.path.exists(os.path.join(d, "index.done")):
                continue  # a backup still running is not listed
            ctime = int(datetime.datetime.strptime(name, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp())
            size = sum(os.path.getsize(os.path.join(d, f)) for f in ("root.tar", "pct.conf")
                       if os.path.exists(os.path.join(d, f)))
            res.append({"volid": f"{storage}:backup/ct/{bid}/{name}", "format": "pbs-ct",
                        "size": size or 1, "vmid": int(bid), "ctime": ctime,
                        "content": "backup", "type": "lxc", "path": d,
                        "protected": os.path.exists(os.path.join(d, "protected"))})
    return sorted(res, key=lambda x: x["volid"].lower())


def human(n):
    for unit, mul in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= mul:
            return f"{n / mul:.3f} {unit}"
    return f"{n} B"


def backup(info, vmid, storage, epoch, conf_text, rootfs, unprivileged, snapdir):
    """The archive step of a PBS backup: the client's command line and output, the snapshot
    written. `info` prints one INFO line."""
    d = snapshot_dir(storage, vmid, epoch)
    tmpdir = f"/var/tmp/vzdumptmp{os.getpid()}_{vmid}"
    userns = "lxc-usernsexec -m u:0:100000:65536 -m g:0:100000:65536 -- " if unprivileged else ""
    info(f"run: {userns}/usr/bin/proxmox-backup-client backup --crypt-mode=none "
         f"pct.conf:{tmpdir}/etc/vzdump/pct.conf root.pxar:{snapdir} --include-dev "
         f"{snapdir}/./ {'--skip-lost-and-found ' if unprivileged else ''}--exclude=/tmp/?* "
         f"--exclude=/var/tmp/?* --exclude=/var/run/?*.pid --backup-type ct --backup-id "
         f"{vmid} --backup-time {epoch} --repository {repository()}")
    t0 = time.time()
    info(f"Starting backup: ct/{vmid}/{iso(epoch)}")
    info("Client name: pve")
    info(f"Starting backup protocol: {time.strftime('%a %b %d %H:%M:%S %Y')}")
    older = [b for b in list_backups(storage, vmid) if b["ctime"] < epoch]
    if older:
        prev = time.localtime(older[-1]["ctime"])
        info(f"Downloading previous manifest ({time.strftime('%a %b %d %H:%M:%S %Y', prev)})")
    else:
        info("No previous manifest available.")
    where = f"root@pam@{SERVER}:8007:{DATASTORE}"
    info(f"Upload config file '{tmpdir}/etc/vzdump/pct.conf' to '{where}' as pct.conf.blob")
    info(f"Upload directory '{snapdir}' to '{where}' as root.pxar.didx")
    os.makedirs(d)
    try:
        with open(os.path.join(d, "pct.conf"), "w") as f:
            f.write(conf_text)
        tar = ["tar", "-cpf", os.path.join(d, "root.tar"), "--numeric-owner", "--sparse",
               "--warning=no-file-changed", "--warning=no-file-removed",
               "--exclude=./tmp/?*", "--exclude=./var/tmp/?*", "--exclude=./var/run/?*.pid",
               "-C", rootfs, "."]
        r = subprocess.run(tar, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode not in (0, 1):
            raise TaskError(f"command '{userns}/usr/bin/proxmox-backup-client backup "
                            f"...' failed: exit code 255")
        size = os.path.getsize(os.path.join(d, "root.tar"))
        secs = max(time.time() - t0, 0.01)
        info(f"root.pxar: had to backup {human(size)} of {human(size)} (compressed "
             f"{human(size // 3)}) in {secs:.2f}s")
        info(f"root.pxar: average backup speed: {human(int(size / secs))}/s")
        info(f"Uploaded backup catalog ({human(max(size // 200, 1))})")
        info(f"Duration: {time.time() - t0:.2f}s")
        info(f"End Time: {time.strftime('%a %b %d %H:%M:%S %Y')}")
        open(os.path.join(d, "index.done"), "w").close()
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise


def set_notes(storage, vmid, epoch, text):
    with open(os.path.join(snapshot_dir(storage, vmid, epoch), "notes"), "w") as f:
        f.write(text)


def set_protected(storage, vmid, epoch):
    open(os.path.join(snapshot_dir(storage, vmid, epoch), "protected"), "w").close()


def remove(entry):
    shutil.rmtree(entry["path"], ignore_errors=True)


def snapshot_of(volid):
    """`<storage>:backup/ct/<vmid>/<time>` on a PBS storage → (storage, name, folder);
    None when it is not a PBS volume id; TaskError when the name does not parse."""
    storage, _, volname = volid.partition(":")
    if not is_pbs(storage):
        return None
    m = VOLNAME.fullmatch(volname)
    if not m:
        raise TaskError(f"unable to parse PBS volume name '{volname}'")
    name = f"{m.group(1)}/{m.group(2)}/{m.group(3)}"
    if m.group(1) != "ct":
        raise TaskError(f"got unexpected backup format 'pbs-{m.group(1)}'")
    return storage, name, st("pbs", storage, name)


def client_failed(name, what):
    """run_command's error for a failed `proxmox-backup-client restore`."""
    return TaskError(f"command '/usr/bin/proxmox-backup-client restore {name} {what} "
                     f"--repository {repository()}' failed: exit code 255")
