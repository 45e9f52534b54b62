#!/usr/bin/python3
"""Simulated Proxmox VE node for pxdeploy's tests (stdlib only): the entry point.

sim/bin/pct, pveam, vzdump, pvesm, pvesh and pveversion are symlinks to this file, which
dispatches on the program name (argv[0]). Called as `pve.py` it offers the admin commands
(init, set, get, cleanup, assets, and internal ones). The code lives in the package
sim/pvesim/ next to this file, one module per idea; see sim/README.md.
Behaviour and texts follow /work/shared/reference/proxmox.md.
"""

import os
import sys

# Python puts the directory of the real (symlink-resolved) script first on sys.path, so
# `import pvesim` works also through sim/bin/pct etc.; add it when that is switched off
# (python3 -P, PYTHONSAFEPATH, -I).
_SIM = os.path.dirname(os.path.realpath(__file__))
if _SIM not in sys.path:
    sys.path.insert(0, _SIM)

from pvesim.main import main  # noqa: E402 - needs the path above

if __name__ == "__main__":
    main()
