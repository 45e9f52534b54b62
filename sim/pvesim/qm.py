"""`qm`: the sub-command dispatcher (unique prefixes, `ERROR: unknown command` usage abort);
the commands live in qm_config (list, status, config, pending, set, unlock), qm_lifecycle
(create, start, stop, shutdown, reboot, destroy), qm_disks (disk resize/import), qm_guest
(guest cmd/exec/exec-status), cloudinit (cloudinit dump/update/pending) and qm_snapshot
(snapshot, listsnapshot, rollback, delsnapshot).
"""

import importlib

from .basics import die

QM_COMMANDS = ["agent", "cleanup", "clone", "cloudinit", "config", "create", "delsnapshot",
               "destroy", "disk", "guest", "help", "importdisk", "importovf", "list",
               "listsnapshot", "migrate", "monitor", "mtunnel", "nbdstop", "pending",
               "reboot", "remote-migrate", "rescan", "reset", "resize", "resume", "rollback",
               "sendkey", "set", "showcmd", "shutdown", "snapshot", "start", "status", "stop",
               "suspend", "template", "terminal", "unlink", "unlock", "vncproxy", "wait"]

COMMANDS = {
    "list": ("qm_show", "qm_list"), "status": ("qm_show", "qm_status"),
    "config": ("qm_show", "qm_config"), "set": ("qm_config", "qm_set"),
    "unlock": ("qm_config", "qm_unlock"), "pending": ("qm_show", "qm_pending"),
    "create": ("qm_lifecycle", "qm_create"), "start": ("qm_lifecycle", "qm_start"),
    "stop": ("qm_lifecycle", "qm_stop"), "shutdown": ("qm_lifecycle", "qm_shutdown"),
    "reboot": ("qm_lifecycle", "qm_reboot"), "destroy": ("qm_lifecycle", "qm_destroy"),
    "resize": ("qm_disks", "qm_resize"), "importdisk": ("qm_disks", "qm_import"),
    "guest": ("qm_guest", "qm_guest"), "cloudinit": ("cloudinit", "qm_cloudinit"),
    "snapshot": ("qm_snapshot", "qm_snapshot"),
    "listsnapshot": ("qm_snapshot", "qm_listsnapshot"),
    "rollback": ("qm_snapshot", "qm_rollback"),
    "delsnapshot": ("qm_snapshot", "qm_delsnapshot"),
}


def usage_abort(word):
    lines = [f"ERROR: unknown command 'qm {word}'" if word else "ERROR: no command specified",
             "USAGE: qm <COMMAND> [ARGS] [OPTIONS]"]
    lines += [f"       qm {c}" for c in QM_COMMANDS]
    die("\n".join(lines), 255)


def qm_main(args):
    if not args:
        usage_abort("")
    word = args[0]
    cmd = word if word in QM_COMMANDS else None
    if cmd is None:
        cands = [c for c in QM_COMMANDS if c.startswith(word)]
        if len(cands) != 1:
            usage_abort(word)
        cmd = cands[0]
    rest = args[1:]
    if cmd == "agent":
        cmd, rest = "guest", ["cmd"] + rest
    if cmd == "disk":
        if not rest or rest[0] not in ("resize", "import", "move", "rescan", "unlink"):
            usage_abort(f"disk {rest[0] if rest else ''}".strip())
        cmd, rest = {"resize": "resize", "import": "importdisk"}.get(rest[0], rest[0]), rest[1:]
    if cmd not in COMMANDS:
        die(f"pxsim: 'qm {cmd}' is not simulated", 1)
    module, name = COMMANDS[cmd]
    getattr(importlib.import_module(f".{module}", __package__), name)(rest)
