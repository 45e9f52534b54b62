"""`pct`: the sub-command dispatcher; the commands live in pct_config (list, status,
config, pending, set, unlock), pct_lifecycle (create, start, stop, shutdown, reboot,
destroy) and pct_exec (exec, enter, push, pull).
"""

from .basics import die
from .options import PCT_COMMANDS, expand_cmd, usage_abort
from .pct_config import pct_config, pct_list, pct_pending, pct_set, pct_status, pct_unlock
from .pct_lifecycle import pct_create, pct_destroy, pct_reboot, pct_shutdown, pct_start, pct_stop
from .pct_exec import pct_enter, pct_exec, pct_pull, pct_push
from .pct_snapshot import pct_delsnapshot, pct_listsnapshot, pct_rollback, pct_snapshot
from .pct_restore import pct_restore
from .cluster import pct_migrate


def pct_main(args):
    if not args:
        usage_abort("pct", "")
    cmd = expand_cmd(args[0], PCT_COMMANDS, "pct")
    rest = args[1:]
    fn = {"list": pct_list, "status": pct_status, "config": pct_config, "create": pct_create,
          "set": pct_set, "start": pct_start, "stop": pct_stop, "shutdown": pct_shutdown,
          "reboot": pct_reboot, "destroy": pct_destroy, "exec": pct_exec, "enter": pct_enter, "push": pct_push,
          "pull": pct_pull, "unlock": pct_unlock, "pending": pct_pending,
          "snapshot": pct_snapshot, "listsnapshot": pct_listsnapshot,
          "rollback": pct_rollback, "delsnapshot": pct_delsnapshot,
          "restore": pct_restore, "migrate": pct_migrate}.get(cmd)
    if not fn:
        die(f"pxsim: 'pct {cmd}' is not simulated", 1)
    fn(rest)
