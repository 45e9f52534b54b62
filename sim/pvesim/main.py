"""Program entry: dispatches on the name it was called by (argv[0]): `pve.py` runs the
admin commands, pct/pveam/vzdump/pvesm/pvesh/pveversion run the simulated command against
$PXSIM_STATE and log the call with its exit code to calls.log.
"""

import importlib
import os
import sys

from .basics import Exit, die, load_state, log_call
from .ha import tick
from .rrd import tick as rrd_tick

# program -> (module, function). A module is imported only when its program runs: every
# simulated call is a new Python process, and importing all of them cost ~20 ms a call.
HANDLERS = {"pct": ("pct", "pct_main"), "pveam": ("pveam", "pveam_main"),
            "vzdump": ("vzdump", "vzdump_main"), "pvesm": ("pvesm", "pvesm_main"),
            "pvesh": ("pvesh", "pvesh_main"), "pveversion": ("pvesh", "pveversion_main"),
            "ha-manager": ("ha", "ha_main"), "qm": ("qm", "qm_main"),
            "qmrestore": ("qm_backup", "qmrestore_main"), "curl": ("netfetch", "curl_main"),
            "wget": ("netfetch", "wget_main")}


def handler(prog):
    module, name = HANDLERS[prog]
    return getattr(importlib.import_module(f".{module}", __package__), name)


def start_task(t, vmid):
    """The HA manager's start of a guest: `pct start`'s or `qm start`'s task (imported only
    when due)."""
    from .config import owner_of  # noqa: PLC0415
    if (owner_of(vmid) or ("lxc",))[0] == "qemu":
        from .qm_lifecycle import do_start  # noqa: PLC0415
        do_start(t, vmid)
        return
    from .pct_lifecycle import do_start_task  # noqa: PLC0415
    do_start_task(t, vmid, skiplock=False)


def main():
    prog = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if prog in ("pve.py", "pve"):
        from .admin import admin_main
        sys.exit(admin_main(args))
    if prog not in HANDLERS:
        print(f"pxsim: unknown program name '{prog}'", file=sys.stderr)
        sys.exit(1)
    code = 0
    try:
        load_state()
        if os.geteuid() != 0:
            die("please run as root")
        tick(start_task)
        try:
            rrd_tick()  # pvestatd: a failed round never fails the command
        except Exception:  # noqa: BLE001
            pass
        handler(prog)(args)
    except Exit as e:
        code = e.code
    except BrokenPipeError:
        code = 141
    except KeyboardInterrupt:
        code = 130
    except Exception:  # noqa: BLE001 - a simulator bug must be visible
        import traceback
        traceback.print_exc()
        code = 70
    finally:
        log_call([prog] + args, code)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.exit(code)
