"""Foreground tasks (reference §1b): a `Task` collects warnings, `run_task` turns a
`TaskError` into a flattened message on stderr and exit 255; plus the lock check and the
systemd/nesting warning that several pct tasks share.
"""

from .basics import Exit, TaskError, err, knob, out
from .config import parse_propstr


class Task:
    def __init__(self):
        self.warnings = 0

    def log(self, line):
        out(line)

    def warn(self, msg):
        self.warnings += 1
        out(f"WARN: {msg}")


def run_task(fn, exit_on_error=255):
    """A foreground task (§1b): output on stdout, the error flattened on stderr."""
    t = Task()
    try:
        fn(t)
    except TaskError as e:
        err(" ".join(str(e).split("\n")).strip())
        raise Exit(exit_on_error)
    if t.warnings:
        err(f"Task finished with {t.warnings} warning(s)!")
    raise Exit(0)


def check_lock(keys):
    if keys.get("lock"):
        raise TaskError(f"CT is locked ({keys['lock']})")


def systemd_warning(t, keys):
    feats = parse_propstr(keys.get("features", ""))
    ost = keys.get("ostype", "debian")
    if ost in ("debian", "ubuntu", "centos", "fedora", "opensuse", "archlinux") \
            and feats.get("nesting") != "1":
        t.warn(f"Systemd {knob('systemd_version', default='252')} detected. "
               f"You may need to enable nesting.")
