"""`pct exec`, `pct enter`, `pct push` and `pct pull`: commands and file copies run inside a running
container through `nsenter` into its pid 1's namespaces, with small helper programs
executed by the host's python3 in there.
"""

import os
import signal
import subprocess

from .basics import Exit, HOST_PY, PCT_PM, die, err
from .options import check_known, check_vmid, parse_opts
from .config import load_conf_or_die
from .containers import run_info


EXEC_HELPER = r'''
import os, sys
vmid, cwd = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
try:
    os.chdir(cwd)
except OSError:
    os.chdir("/")
try:
    os.execvp(args[0], args)
except OSError as e:
    sys.stderr.write("lxc-attach: %s: ../src/lxc/attach.c: lxc_attach_run_command: 1847 %s - "
                     "Failed to exec \"%s\"\n" % (vmid, e.strerror, args[0]))
    sys.stderr.flush()
    os._exit(127 if isinstance(e, FileNotFoundError) else 126)
'''


def ct_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PXSIM_") and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["PATH"] = "/sbin:/bin:/usr/sbin:/usr/bin"
    return env


def nsenter_cmd(info):
    return ["nsenter", "--target", str(info["init_pid"]), "--mount", "--pid", "--net", "--uts",
            "--ipc", "--"]


ENTER_HELPER = r'''
import os, pwd
try:
    shell = pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
except KeyError:
    shell = "/bin/sh"
if not os.access(shell, os.X_OK):
    shell = "/bin/sh"
try:
    os.getcwd()
except OSError:
    os.chdir("/")
os.execlp(shell, shell)
'''


def run_attached(info, env, argv):
    """Runs argv inside the container (nsenter, the caller's fds), forwards signals, and
    exits with its code (128 + signal when killed), as lxc-attach does."""
    p = subprocess.Popen(nsenter_cmd(info) + argv, env=env)

    def fwd(sig, _f):
        # nsenter does not forward signals: pass them to the command it runs, too
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            kids = []
        for pid in kids + [p.pid]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, fwd)
    rc = p.wait()
    raise Exit(128 - rc if rc < 0 else rc)


def pct_enter(args):
    """`pct enter <vmid> [--keep-env 0|1]` (more §7): lxc-attach without a command runs the
    user's shell from the container's passwd (not a login shell), else /bin/sh."""
    u = "pct enter"
    pos, opts = parse_opts(args, u, bools=("keep-env",), positional=1)
    check_known(opts, {"keep-env"}, u)
    vmid = check_vmid(pos[0], u)
    load_conf_or_die(vmid)
    info = run_info(vmid)
    if not info:
        die(f"container '{vmid}' not running!")
    env = ct_env() if dict(opts).get("keep-env", "1") == "1" else \
        {"PATH": "/sbin:/bin:/usr/sbin:/usr/bin", "TERM": os.environ.get("TERM", "dumb")}
    run_attached(info, env, [HOST_PY, "-c", ENTER_HELPER])


def pct_exec(args):
    u = "pct exec"
    if "--" in args:
        i = args.index("--")
        head, cmd = args[:i], args[i + 1:]
    else:
        head, cmd = args, None
    pos, opts = parse_opts(head, u, bools=("keep-env",), positional=1, allow_extra=True)
    check_known(opts, {"keep-env"}, u)
    vmid = check_vmid(pos[0], u)
    if cmd is None:
        cmd = pos[1:]
    elif len(pos) > 1:
        cmd = pos[1:] + cmd
    load_conf_or_die(vmid)
    info = run_info(vmid)
    if not info:
        die(f"container '{vmid}' not running!")
    if not cmd:
        die(f"missing command at {PCT_PM} line 246.")
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    env = ct_env() if dict(opts).get("keep-env", "1") == "1" else \
        {"PATH": "/sbin:/bin:/usr/sbin:/usr/bin", "TERM": "dumb"}
    run_attached(info, env, [HOST_PY, "-c", EXEC_HELPER, str(vmid), cwd] + cmd)


PUSH_HELPER = r'''
import grp, os, pwd, sys
dest, perms, user, group = sys.argv[1:5]
def fail(msg):
    sys.stderr.write(msg + "\n"); sys.exit(0)
uid = gid = -1
if user:
    try:
        uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
    except KeyError:
        fail("failed to get uid for: " + user)
if group:
    try:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        fail("failed to get gid for: " + group)
mode = None
if perms:
    try:
        mode = int(perms, 16) if perms.lower().startswith("0x") else int(perms, 8)
    except ValueError:
        fail("invalid mode: '%s'" % perms)
try:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
except OSError as e:
    fail("failed to create file: %s: %s" % (dest, e.strerror))
data = sys.stdin.buffer.read()
os.write(fd, data) if data else None
if mode is not None:
    os.fchmod(fd, mode)
if uid != -1 or gid != -1:
    os.fchown(fd, uid, gid)
os.close(fd)
'''

PULL_HELPER = r'''
import os, sys
try:
    with open(sys.argv[1], "rb") as f:
        sys.stdout.buffer.write(f.read())
except OSError as e:
    sys.stderr.write("failed to open %s for reading\n" % sys.argv[1]); sys.exit(3)
'''


def pct_push(args):
    u = "pct push"
    pos, opts = parse_opts(args, u, positional=3)
    check_known(opts, {"perms", "user", "group"}, u)
    vmid = check_vmid(pos[0], u)
    info = run_info(vmid)
    if not info:
        die("can only push files to a running CT")
    o = dict(opts)
    try:
        src = open(pos[1], "rb")
    except OSError:
        err(f"failed to open {pos[1]} for reading")
        raise Exit(0)
    with src:
        subprocess.run(nsenter_cmd(info) + [HOST_PY, "-c", PUSH_HELPER, pos[2],
                                            o.get("perms", ""), o.get("user", ""),
                                            o.get("group", "")],
                       stdin=src, env=ct_env())
    raise Exit(0)


def pct_pull(args):
    u = "pct pull"
    pos, opts = parse_opts(args, u, positional=3)
    check_known(opts, {"perms", "user", "group"}, u)
    vmid = check_vmid(pos[0], u)
    info = run_info(vmid)
    if not info:
        die(f"can only pull files from a running VM at {PCT_PM} line 664.")
    o = dict(opts)
    r = subprocess.run(nsenter_cmd(info) + [HOST_PY, "-c", PULL_HELPER, pos[1]],
                       stdout=subprocess.PIPE, env=ct_env())
    if r.returncode != 0:
        raise Exit(0)
    try:
        fd = os.open(pos[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as e:
        err(f"failed to create file: {pos[2]}: {e.strerror}")
        raise Exit(0)
    os.write(fd, r.stdout)
    if o.get("perms"):
        try:
            os.fchmod(fd, int(o["perms"], 8))
        except ValueError:
            err(f"invalid mode: '{o['perms']}'")
    os.close(fd)
    raise Exit(0)
