"""Command-line parsing the way PVE's CLI does it: Getopt::Long-like options
(`parse_opts`), schema checks of option names and VM ids, unique-prefix expansion of
sub-commands and the `ERROR: unknown command` usage abort shared by pct, pveam, pvesm and
pvesh.
"""

import re

from .basics import USAGE, die, err, param_die


def parse_opts(args, usage_key, bools=(), positional=0, allow_extra=False):
    """Getopt::Long-like: --opt value, -opt value, --opt=value; booleans take an
    optional 1/0/yes/no/... value; options may follow positionals. Returns
    (positionals, options-in-order)."""
    pos, opts = [], []
    i = 0
    boolwords = {"1", "0", "yes", "no", "on", "off", "true", "false"}
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1:])
            break
        if a.startswith("-") and len(a) > 1 and not re.match(r"^-\d", a):
            name = a.lstrip("-")
            val = None
            if "=" in name:
                name, val = name.split("=", 1)
            if name in bools:
                if val is None:
                    if i + 1 < len(args) and args[i + 1].lower() in boolwords:
                        val = args[i + 1]
                        i += 1
                    else:
                        val = "1"
                val = "1" if val.lower() in ("1", "yes", "on", "true") else "0"
            elif val is None:
                if i + 1 >= len(args):
                    err(f"Option {name} requires an argument")
                    param_die_raw("400 unable to parse option", usage_key)
                val = args[i + 1]
                i += 1
            opts.append((name, val))
        else:
            pos.append(a)
        i += 1
    if len(pos) < positional:
        param_die_raw("400 not enough arguments", usage_key)
    if len(pos) > positional and not allow_extra:
        param_die_raw("400 too many arguments", usage_key)
    return pos, opts


def param_die_raw(first, usage_key):
    die(first + ("\n" + USAGE[usage_key] if usage_key in USAGE else ""))


def check_known(opts, known, usage_key):
    bad = [(k, "property is not defined in schema and the schema does not allow "
            "additional properties") for k, _ in opts if k not in known]
    if bad:
        param_die(bad, usage_key)


def check_vmid(v, usage_key):
    if not re.fullmatch(r"[1-9][0-9]{2,8}", v or ""):
        param_die([("vmid", "invalid format - value does not look like a valid VM ID")],
                  usage_key)
    return int(v)


# ----------------------------------------------------------------------------- sub-commands

PCT_COMMANDS = ["clone", "config", "cpusets", "create", "delsnapshot", "destroy", "df",
                "enter", "exec", "fsck", "fstrim", "help", "list", "listsnapshot", "migrate",
                "mount", "move-volume", "pending", "pull", "push", "reboot", "remote-migrate",
                "rescan", "resize", "restore", "resume", "rollback", "set", "shutdown",
                "snapshot", "start", "status", "stop", "suspend", "template", "unlock",
                "unmount"]


def expand_cmd(word, commands, prog):
    if word in commands:
        return word
    cands = [c for c in commands if c.startswith(word)]
    if len(cands) == 1:
        return cands[0]
    usage_abort(prog, word)


def usage_abort(prog, word):
    cmds = {"pct": PCT_COMMANDS, "pveam": ["available", "download", "help", "list", "remove",
                                           "update"],
            "pvesm": ["add", "alloc", "free", "list", "path", "remove", "set", "status"],
            "pvesh": ["create", "delete", "get", "ls", "set", "usage"]}[prog]
    lines = []
    if word:
        lines.append(f"ERROR: unknown command '{prog} {word}'")
    else:
        lines.append("ERROR: no command specified")
    lines.append(f"USAGE: {prog} <COMMAND> [ARGS] [OPTIONS]")
    for c in cmds:
        lines.append(f"       {prog} {c}")
    die("\n".join(lines), 255)
