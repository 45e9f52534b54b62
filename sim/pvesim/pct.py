"""`pct`: the sub-command dispatcher; the commands live in pct_config (list, status,
config, pending, set, unlock), pct_lifecycle (create, start, stop, shutdown, reboot,
destroy) and pct_exec (exec, enter, push, pull).
"""

import importlib

from .basics import die
from .options import PCT_COMMANDS, expand_cmd, usage_abort

# sub-command -> (module, function), imported when that sub-command runs (a process per call).
COMMANDS = {
    "list": ("pct_config", "pct_list"), "status": ("pct_config", "pct_status"),
    "config": ("pct_config", "pct_config"), "set": ("pct_config", "pct_set"),
    "unlock": ("pct_config", "pct_unlock"), "pending": ("pct_config", "pct_pending"),
    "create": ("pct_lifecycle", "pct_create"), "start": ("pct_lifecycle", "pct_start"),
    "stop": ("pct_lifecycle", "pct_stop"), "shutdown": ("pct_lifecycle", "pct_shutdown"),
    "reboot": ("pct_lifecycle", "pct_reboot"), "destroy": ("pct_lifecycle", "pct_destroy"),
    "exec": ("pct_exec", "pct_exec"), "enter": ("pct_exec", "pct_enter"),
    "push": ("pct_exec", "pct_push"), "pull": ("pct_exec", "pct_pull"),
    "snapshot": ("pct_snapshot", "pct_snapshot"),
    "listsnapshot": ("pct_snapshot", "pct_listsnapshot"),
    "rollback": ("pct_snapshot", "pct_rollback"),
    "delsnapshot": ("pct_snapshot", "pct_delsnapshot"),
    "restore": ("pct_restore", "pct_restore"), "migrate": ("cluster", "pct_migrate"),
}


def pct_main(args):
    if not args:
        usage_abort("pct", "")
    cmd = expand_cmd(args[0], PCT_COMMANDS, "pct")
    rest = args[1:]
    if cmd not in COMMANDS:
        die(f"pxsim: 'pct {cmd}' is not simulated", 1)
    module, name = COMMANDS[cmd]
    getattr(importlib.import_module(f".{module}", __package__), name)(rest)
