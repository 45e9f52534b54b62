"""pvesim: the simulated Proxmox VE node behind sim/pve.py (stdlib only), one module per idea.

basics (shared facts, errors, state folder, knobs, locks; imported by all others), options
(CLI parsing), config (config files), containers (running containers, host side), ctinit
(pid 1 inside a container), tasks (foreground tasks), pct (dispatcher) with pct_config,
pct_lifecycle and pct_exec, pveam, pvesm, pvesh (+ pveversion), vzdump, admin (`pve.py
init|set|cleanup|...`) and main (dispatch on argv[0]). Modules import only from modules
listed before them, so there are no import cycles. Nothing is imported here: `pve.py` calls
`pvesim.main.main()`.
"""
