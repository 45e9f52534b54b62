"""The members of a simulated cluster as the modules below `cluster.py` need them: running
code against another member's state (`on_node`), a member's knobs, whether it is online, the
member names. Membership is etc/pve/.pxsim-cluster.json (written by launch.py); without it
the node is alone.
"""

import contextlib
import os

from .basics import Sim, members, read_json, truthy


@contextlib.contextmanager
def on_node(node):
    """Runs the body against another member's state (its containers, knobs, node name)."""
    m = (members() or {}).get("nodes", {}).get(node)
    if not m or node == Sim.node:
        yield
        return
    saved = (Sim.state, Sim.node, Sim.cfg)
    Sim.state = m["state"]
    Sim.node = node
    Sim.cfg = read_json(os.path.join(m["state"], "node.json"), {}) or {}
    try:
        yield
    finally:
        Sim.state, Sim.node, Sim.cfg = saved


def node_knob(node, name, default=None):
    m = (members() or {}).get("nodes", {}).get(node)
    state = m["state"] if m else Sim.state
    return (read_json(os.path.join(state, "knobs.json"), {}) or {}).get(name, default)


def online(node):
    return not truthy(node_knob(node, "offline", 0))


def node_names():
    m = members()
    return list(m["nodes"]) if m else [Sim.node]
