//! The simulated Proxmox host: a real OpenSSH sshd on 127.0.0.1 (started by `sim/launch.py`)
//! in front of the simulated node (`sim/pve.py`, `sim/bin/`). One per test (or per file); `Drop`
//! tears it down, so tests run in parallel safely. `builder.rs` starts one, `calls.rs` reads its logs,
//! `config.rs` writes the `pxdeploy.toml` that points at it.

mod builder;
mod calls;
mod config;

pub use self::builder::SimBuilder;
pub use self::calls::Call;
pub use self::config::{known_hosts_trusting, merge};

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::{run_bounded, try_run_bounded, Run};

/// How a `sim/launch.py up` or `down` may take at most before the test fails.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound on one `ssh` / host command run by a test.
const SSH_TIMEOUT: Duration = Duration::from_secs(120);

pub const INSTALL_HINT: &str = "install with: apt-get install -y --no-install-recommends openssh-server \
openssh-client python3 docker.io busybox-static iproute2 util-linux zstd (or run scripts/install-test-deps)";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn launch_py() -> PathBuf {
    repo_root().join("sim/launch.py")
}

fn pve_py() -> PathBuf {
    repo_root().join("sim/pve.py")
}

fn find_python() -> Option<PathBuf> {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The system Python the simulator runs under.
#[track_caller]
fn python() -> PathBuf {
    find_python()
        .unwrap_or_else(|| panic!("python3 is missing: the test stack needs it\n{INSTALL_HINT}"))
}

#[track_caller]
fn need_tools() {
    for (path, pkg) in [
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/bin/ssh", "openssh-client"),
        ("/usr/bin/ssh-keygen", "openssh-client"),
    ] {
        if !Path::new(path).exists() {
            panic!("{path} is missing (package {pkg}): the tests run a real sshd\n{INSTALL_HINT}");
        }
    }
    python();
}

/// The system `ssh` client with strict host key checking and nothing of the user's (no
/// config, no agent, no other key): `identity` only, `known_hosts` the only file of host
/// keys, HOME `home`, to 127.0.0.1's `port`; the destination and the command are the caller's.
pub fn strict_ssh(home: &Path, identity: &Path, known_hosts: &Path, port: u16) -> Command {
    let mut cmd = Command::new("/usr/bin/ssh");
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", home)
        .args(["-F", "/dev/null", "-T", "-i"])
        .arg(identity)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "ConnectTimeout=10",
            "-p",
        ])
        .arg(port.to_string());
    cmd
}

/// A running simulated Proxmox host. Dropping it stops sshd and the simulated containers
/// and removes its folder: in the background when the test passed, before the failure is
/// shown when it failed (set `PXSIM_KEEP=1` to keep the folder of a failed test).
pub struct SimHost {
    dir: PathBuf,
    host: String,
    user: String,
    port: u16,
    identity_file: PathBuf,
    known_hosts: PathBuf,
    state: PathBuf,
    sshd_pid: u32,
    sim: bool,
    /// Types of sshd's host keys (`ed25519`, …), in the order given to the builder.
    host_keys: Vec<String>,
}

impl SimHost {
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client's private key (authorized for root).
    pub fn identity_file(&self) -> &Path {
        &self.identity_file
    }

    /// A known_hosts file with the one line `[127.0.0.1]:PORT ssh-ed25519 AAAA…`.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// The host's (first) public key, `ssh-ed25519 AAAA…` (for hand-made known_hosts files).
    pub fn host_public_key(&self) -> String {
        let first = self
            .host_keys
            .first()
            .map(String::as_str)
            .unwrap_or("ed25519");
        let path = self.host_key_pub(first);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The public key file of sshd's host key of this type (`"ecdsa"` → `DIR/host_ecdsa.pub`).
    pub fn host_key_pub(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("host_{kind}.pub"))
    }

    /// The simulator's state folder (`PXSIM_STATE` of every session).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The fixture's folder: keys, sshd_config, sshd.log, state/.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn sshd_pid(&self) -> u32 {
        self.sshd_pid
    }

    /// Was the simulated node initialised (false only with `without_sim()`)?
    pub fn has_sim(&self) -> bool {
        self.sim
    }

    pub fn ssh_command(&self, remote: &str) -> Command {
        let mut cmd = strict_ssh(&self.dir, &self.identity_file, &self.known_hosts, self.port);
        cmd.args(["-o", "LogLevel=ERROR"])
            .arg(format!("{}@{}", self.user, self.host))
            .arg("--")
            .arg(remote);
        cmd
    }

    /// Runs a shell command on the simulated host with the system `ssh` client (one new
    /// connection), e.g. `sim.ssh("pct list")`.
    #[track_caller]
    pub fn ssh(&self, remote: &str) -> Run {
        run_bounded(
            self.ssh_command(remote),
            format!("ssh {remote}"),
            None,
            SSH_TIMEOUT,
        )
    }

    /// Like [`SimHost::ssh`], feeding `input` on stdin.
    #[track_caller]
    pub fn ssh_stdin(&self, remote: &str, input: impl Into<Vec<u8>>) -> Run {
        run_bounded(
            self.ssh_command(remote),
            format!("ssh {remote}"),
            Some(input.into()),
            SSH_TIMEOUT,
        )
    }

    /// `ssh` that must succeed; returns its stdout.
    #[track_caller]
    pub fn ssh_ok(&self, remote: &str) -> String {
        let r = self.ssh(remote);
        r.assert_success();
        r.stdout
    }

    /// Runs a command on the "host" side directly, without sshd (no connection counted),
    /// with the same PATH and PXSIM_STATE a session gets: `sim.host_run(&["pct", "list"])`.
    #[track_caller]
    pub fn host_run(&self, argv: &[&str]) -> Run {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                    repo_root().join("sim/bin").display()
                ),
            )
            .env("HOME", "/root")
            .env("PXSIM_STATE", &self.state);
        run_bounded(cmd, argv.join(" "), None, SSH_TIMEOUT)
    }

    /// `pct exec <vmid> -- argv…` on the simulated node (no SSH connection counted).
    #[track_caller]
    pub fn in_container(&self, vmid: u32, argv: &[&str]) -> Run {
        let vmid = vmid.to_string();
        let mut all = vec!["pct", "exec", vmid.as_str(), "--"];
        all.extend_from_slice(argv);
        self.host_run(&all)
    }

    /// `sh -c script` inside container `vmid` (`pct exec … -- sh -c script`).
    pub fn sh_in_container(&self, vmid: u32, script: &str) -> Run {
        self.in_container(vmid, &["sh", "-c", script])
    }

    /// The text of `path` inside container `vmid`, which must be readable.
    #[track_caller]
    pub fn container_file(&self, vmid: u32, path: &str) -> String {
        let r = self.in_container(vmid, &["cat", path]);
        r.assert_success();
        r.stdout
    }

    /// Sets a simulator knob (`pve.py set STATE KEY VALUE`; VALUE is JSON or a string).
    #[track_caller]
    pub fn set_knob(&self, key: &str, value: &str) {
        self.pve(&["set", &self.state.to_string_lossy(), key, value]);
    }

    /// Removes a simulator knob.
    #[track_caller]
    pub fn unset_knob(&self, key: &str) {
        self.pve(&["unset", &self.state.to_string_lossy(), key]);
    }

    #[track_caller]
    fn pve(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(python());
        cmd.arg(pve_py()).args(args);
        let r = run_bounded(cmd, format!("pve.py {}", args.join(" ")), None, SSH_TIMEOUT);
        r.assert_success();
        r
    }

    /// What to show when a test failed: the ends of sshd.log and calls.log.
    fn failure_report(&self) -> String {
        let tail = |text: String, n: usize| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "--- simulated host {} (port {})\n--- sshd.log (last 30 lines):\n{}\n--- calls.log (last 30 lines):\n{}",
            self.dir.display(),
            self.port,
            tail(self.sshd_log(), 30),
            tail(std::fs::read_to_string(self.state.join("calls.log")).unwrap_or_default(), 30)
        )
    }
}

impl Drop for SimHost {
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        let keep = failed && std::env::var_os("PXSIM_KEEP").is_some();
        if failed {
            // Shown by the test runner together with the failure.
            eprintln!("{}", self.failure_report());
            if keep {
                eprintln!(
                    "--- kept (PXSIM_KEEP); remove with: python3 sim/launch.py down --dir {}",
                    self.dir.display()
                );
            }
        }
        let mut cmd = Command::new(find_python().unwrap_or_else(|| "python3".into()));
        cmd.arg(launch_py()).arg("down").arg("--dir").arg(&self.dir);
        if keep {
            cmd.arg("--keep");
        }
        if !failed {
            // A passing test does not wait for the teardown (about a second of stopping
            // processes and removing files): `launch.py down` runs in the background, in a
            // process group of its own, and a thread reaps it and reports a failure.
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .process_group(0);
            match cmd.spawn() {
                Ok(child) => {
                    std::thread::spawn(move || match child.wait_with_output() {
                        Ok(out) if out.status.success() => {}
                        Ok(out) => eprintln!(
                            "warning: tearing down the simulated host failed: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        ),
                        Err(e) => eprintln!("warning: tearing down the simulated host: {e}"),
                    });
                }
                Err(e) => eprintln!("warning: tearing down the simulated host failed: {e}"),
            }
            return;
        }
        // Never panic in drop (a panic while panicking aborts): report instead.
        match try_run_bounded(cmd, "sim/launch.py down".into(), None, LAUNCH_TIMEOUT) {
            Ok(r) if r.status == 0 => {}
            Ok(r) => eprintln!(
                "warning: tearing down the simulated host failed\n{}",
                r.dump()
            ),
            Err(e) => eprintln!("warning: tearing down the simulated host failed: {e}"),
        }
    }
}
