//! The simulated Proxmox host: a real OpenSSH sshd on 127.0.0.1 (started by `sim/launch.py`)
//! in front of the simulated node (`sim/pve.py`, `sim/bin/`). One per test; `Drop` tears it
//! down, so tests run in parallel safely.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::command::{run_bounded, try_run_bounded, Run};

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

/// One call of a simulated Proxmox tool, from `STATE/calls.log`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub time: f64,
    pub argv: Vec<String>,
    pub exit: i32,
    /// The SSH connection it came through (`SSH_CLIENT`'s address and port; empty for a
    /// call made on the host itself): one per pxdeploy run.
    pub ssh: String,
}

impl Call {
    /// The program (`pct`, `pveam`, …).
    pub fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }

    /// `argv` joined with spaces, for `contains` checks and messages.
    pub fn line(&self) -> String {
        self.argv.join(" ")
    }

    /// Does argv start with these words (e.g. `["pct", "create"]`)?
    pub fn starts_with(&self, prefix: &[&str]) -> bool {
        self.argv.len() >= prefix.len() && self.argv.iter().zip(prefix).all(|(a, b)| a == b)
    }
}

/// Options for [`SimHost::builder()`].
#[must_use]
pub struct SimBuilder {
    node: Option<String>,
    compose_version: Option<String>,
    template_cached: bool,
    sshd_extra: Vec<String>,
    no_sim: bool,
    host_keys: Vec<String>,
    cluster: Option<(String, Option<PathBuf>, Option<String>)>,
}

impl SimBuilder {
    /// A member of the simulated cluster `name` (sim/README.md, "A cluster of simulated
    /// nodes"): the first member creates it; `join` names the first member (shared
    /// /etc/pve, its client key and port), `listen` this member's loopback address (its
    /// `ip` in `/cluster/status`).
    pub fn cluster(mut self, name: &str, join: Option<&SimHost>, listen: Option<&str>) -> Self {
        self.cluster = Some((
            name.into(),
            join.map(|h| h.dir().to_path_buf()),
            listen.map(str::to_string),
        ));
        self
    }

    /// Proxmox node name (default `pve`).
    pub fn node(mut self, n: &str) -> Self {
        self.node = Some(n.into());
        self
    }

    /// Compose version installed inside containers (default 2.40.3; 2.20.3 for the JSON-array format).
    pub fn compose_version(mut self, v: &str) -> Self {
        self.compose_version = Some(v.into());
        self
    }

    /// The Debian 12 template is already in the `local` storage (no `pveam download`).
    pub fn template_cached(mut self, yes: bool) -> Self {
        self.template_cached = yes;
        self
    }

    /// An extra sshd_config line (`"MaxSessions 1"`); it wins over the defaults.
    pub fn sshd_extra(mut self, line: &str) -> Self {
        self.sshd_extra.push(line.into());
        self
    }

    /// The types of sshd's host keys (`"ed25519"`, `"ecdsa"`, `"rsa"`; default ed25519 only).
    /// [`SimHost::known_hosts`] has a line for each.
    pub fn host_keys(mut self, types: &[&str]) -> Self {
        self.host_keys = types.iter().map(|t| t.to_string()).collect();
        self
    }

    /// sshd only, without initialising the simulated node.
    pub fn without_sim(mut self) -> Self {
        self.no_sim = true;
        self
    }

    #[track_caller]
    pub fn start(self) -> SimHost {
        need_tools();
        let mut cmd = Command::new(python());
        // The watchdog tears the host down if this test binary dies without dropping it.
        cmd.arg(launch_py())
            .arg("up")
            .arg(format!("--owner-pid={}", std::process::id()));
        if let Some(n) = &self.node {
            cmd.args(["--node", n]);
        }
        if let Some(v) = &self.compose_version {
            cmd.args(["--compose-version", v]);
        }
        if self.template_cached {
            cmd.arg("--template-cached");
        }
        for e in &self.sshd_extra {
            cmd.arg(format!("--sshd-extra={e}"));
        }
        if self.no_sim {
            cmd.arg("--no-sim");
        }
        for t in &self.host_keys {
            cmd.arg(format!("--host-key={t}"));
        }
        if let Some((name, join, listen)) = &self.cluster {
            cmd.args(["--cluster", name]);
            if let Some(j) = join {
                cmd.arg("--join").arg(j);
            }
            if let Some(l) = listen {
                cmd.args(["--listen", l]);
            }
        }
        let run = run_bounded(cmd, "sim/launch.py up".into(), None, LAUNCH_TIMEOUT);
        if run.status != 0 {
            panic!(
                "the simulated Proxmox host did not start\n{}\n{INSTALL_HINT}",
                run.dump()
            );
        }
        let v: serde_json::Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("sim/launch.py up printed no JSON ({e})\n{}", run.dump()));
        let s = |k: &str| -> String {
            v[k].as_str()
                .unwrap_or_else(|| panic!("launch.py JSON lacks {k}: {v}"))
                .to_string()
        };
        SimHost {
            dir: s("dir").into(),
            host: s("host"),
            user: s("user"),
            port: v["port"].as_u64().expect("port") as u16,
            identity_file: s("identity_file").into(),
            known_hosts: s("known_hosts").into(),
            state: s("state").into(),
            sshd_pid: v["sshd_pid"].as_u64().expect("sshd_pid") as u32,
            sim: v["sim"].as_bool().unwrap_or(false),
            host_keys: if self.host_keys.is_empty() {
                vec!["ed25519".into()]
            } else {
                self.host_keys.clone()
            },
        }
    }
}

/// A running simulated Proxmox host. Dropping it stops sshd and the simulated containers
/// and removes its folder (set `PXSIM_KEEP=1` to keep the folder of a failed test).
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
    /// Defaults: node `pve`, Compose 2.40.3, template not cached.
    #[track_caller]
    pub fn start() -> SimHost {
        SimHost::builder().start()
    }

    /// The defaults (node `pve`, Compose 2.40.3) with the template already cached: the node
    /// most tests deploy to (a test file shares one).
    #[track_caller]
    pub fn start_cached() -> SimHost {
        SimHost::builder().template_cached(true).start()
    }

    pub fn builder() -> SimBuilder {
        SimBuilder {
            node: None,
            compose_version: None,
            template_cached: false,
            sshd_extra: Vec::new(),
            no_sim: false,
            host_keys: Vec::new(),
            cluster: None,
        }
    }

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

    /// Every call of a simulated tool so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.state.join("calls.log")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("calls.log line is not JSON ({e}): {l}"));
                Call {
                    time: v["time"].as_f64().unwrap_or(0.0),
                    argv: v["argv"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|x| x.as_str().unwrap_or_default().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                    exit: v["exit"].as_i64().unwrap_or(-1) as i32,
                    ssh: v["ssh"].as_str().unwrap_or_default().to_string(),
                }
            })
            .collect()
    }

    /// Just the argv of every call.
    pub fn call_argvs(&self) -> Vec<Vec<String>> {
        self.calls().into_iter().map(|c| c.argv).collect()
    }

    /// Calls whose argv starts with `prefix`, e.g. `&["pct", "create"]`.
    pub fn calls_matching(&self, prefix: &[&str]) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    }

    /// sshd's log (LogLevel VERBOSE).
    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// TCP connections sshd accepted so far (`Connection from …` lines), whether or not they
    /// authenticated. Connections made by [`SimHost::ssh`] count too.
    pub fn connection_count(&self) -> usize {
        self.sshd_log()
            .lines()
            .filter(|l| l.starts_with("Connection from "))
            .count()
    }

    /// Successful logins so far (`Accepted publickey for …` lines).
    pub fn auth_count(&self) -> usize {
        self.sshd_log()
            .lines()
            .filter(|l| l.starts_with("Accepted publickey for "))
            .count()
    }

    /// Sessions (channels running a command or subsystem) so far (`Starting session:` lines).
    pub fn session_count(&self) -> usize {
        self.sshd_log()
            .lines()
            .filter(|l| l.starts_with("Starting session: "))
            .count()
    }

    pub fn ssh_command(&self, remote: &str) -> Command {
        let mut cmd = Command::new("/usr/bin/ssh");
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", &self.dir)
            .args(["-F", "/dev/null", "-T", "-i"])
            .arg(&self.identity_file)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
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
                "-o",
                "LogLevel=ERROR",
                "-p",
            ])
            .arg(self.port.to_string())
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

    /// Calls that concern container `vmid` (its id is one of their arguments), oldest first.
    pub fn calls_of(&self, vmid: u32) -> Vec<Call> {
        let id = vmid.to_string();
        self.calls()
            .into_iter()
            .filter(|c| c.argv.contains(&id))
            .collect()
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

    /// The `[proxmox]` table pointing at this host, plus a small complete app config
    /// (vmid 210, hostname `app`, DHCP, Compose project `app`, `docker-compose.yml`,
    /// remote dir `/opt/app`, health timeout 90 s polled every second).
    pub fn config_table(&self) -> toml::Table {
        let text = format!(
            r#"
[proxmox]
host = "{host}"
port = {port}
user = "{user}"
identity_file = "{id}"
known_hosts = "{kh}"
host_key_check = "strict"
connect_timeout_secs = 10

[container]
vmid = 210
hostname = "app"
template = "debian-12-standard"
template_storage = "local"
storage = "local-lvm"
disk_gb = 4
memory_mb = 512
swap_mb = 0
cores = 1
bridge = "vmbr0"
ip = "dhcp"

[app]
name = "app"
source = "."
compose_file = "docker-compose.yml"
remote_dir = "/opt/app"

[health]
timeout_secs = 90
interval_secs = 1
"#,
            host = self.host,
            port = self.port,
            user = self.user,
            id = self.identity_file.display(),
            kh = self.known_hosts.display(),
        );
        text.parse().expect("default test config is valid TOML")
    }

    /// The config text: [`SimHost::config_table`] with `extra_toml` merged in (tables
    /// merge key by key, so `"[container]\nvmid = 300"` changes only the vmid).
    #[track_caller]
    pub fn config_toml(&self, extra_toml: &str) -> String {
        let mut base = self.config_table();
        let extra: toml::Table = extra_toml
            .parse()
            .unwrap_or_else(|e| panic!("extra TOML for the test config is invalid: {e}"));
        merge(&mut base, extra);
        toml::to_string(&base).expect("serialize test config")
    }

    /// Writes `dir/pxdeploy.toml` (see [`SimHost::config_toml`]) and returns its path.
    #[track_caller]
    pub fn write_config(&self, dir: impl AsRef<Path>, extra_toml: &str) -> PathBuf {
        let path = dir.as_ref().join("pxdeploy.toml");
        std::fs::write(&path, self.config_toml(extra_toml))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
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

/// Writes `path`: one known_hosts file trusting every host of `hosts` (for a node reached
/// through a bastion, or every node of a cluster). Returns `path`.
pub fn known_hosts_trusting(path: PathBuf, hosts: &[&SimHost]) -> PathBuf {
    let text: String = hosts
        .iter()
        .map(|h| std::fs::read_to_string(h.known_hosts()).unwrap())
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// Deep merge: tables merge key by key, anything else is replaced.
pub fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
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
