"""Program entry: dispatches on the name it was called by (argv[0]): `pve.py` runs the
admin commands, pct/pveam/vzdump/pvesm/pvesh/pveversion run the simulated command against
$PXSIM_STATE and log the call with its exit code to calls.log.
"""

import os
import sys

from .basics import Exit, die, load_state, log_call
from .pct import pct_main
from .pveam import pveam_main
from .pvesm import pvesm_main
from .pvesh import pvesh_main, pveversion_main
from .vzdump import vzdump_main
from .admin import admin_main
from .ha import ha_main, tick


def main():
    prog = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if prog in ("pve.py", "pve"):
        sys.exit(admin_main(args))
    handlers = {"pct": pct_main, "pveam": pveam_main, "vzdump": vzdump_main,
                "pvesm": pvesm_main, "pvesh": pvesh_main, "pveversion": pveversion_main,
                "ha-manager": ha_main}
    if prog not in handlers:
        print(f"pxsim: unknown program name '{prog}'", file=sys.stderr)
        sys.exit(1)
    code = 0
    try:
        load_state()
        if os.geteuid() != 0:
            die("please run as root")
        tick()
        handlers[prog](args)
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
