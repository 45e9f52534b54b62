//! The guest: the machine the app runs in, as everything above sees it. What runs "in the
//! guest" (a command line, a script, a file pushed on stdin) and the guest's lifecycle
//! (state, start, stop, reboot, backup, the deploy lock) go through [`Guest`]; the
//! release store, compose and health build their argv and the guest wraps it.
//!
//! An enum, not a trait: the kinds of guest are a closed set pxdeploy itself picks from
//! the configuration (an LXC container, a QEMU VM), each operation's `match` makes
//! every kind say what it does, and a `Guest` is a small `Copy` value (no `Box<dyn …>`,
//! no object-safety limits on the generic helpers). Only the implementations
//! (`container.rs`, `vm.rs`, `kind.rs`) name `pct` and `qm`; [`Host`] stays the transport.
//!
//! The transport of what runs inside: a container's lines (`pct exec`) run on the node's
//! session, a VM's (`sudo -n --`) on an SSH session inside the VM, reached through the
//! node's one connection (`vm_link.rs`); [`Guest::inside_host`] gives the [`Host`] of
//! either, so the release store, compose and health never ask which kind it is.

pub(crate) mod backup;
pub(crate) mod container;
mod create;
pub(crate) mod inside;
pub(crate) mod kind;
pub(crate) mod vm;

pub(crate) use container::Container;
pub(crate) use inside::Inside;
pub(crate) use kind::Kind;
pub(crate) use vm::{Access, Vm};

/// The guest's vocabulary above this module: its state, its configuration on the node,
/// what creates it, its snapshots (the container's types for now).
pub(crate) use crate::proxmox::pct::snapshot::Snapshot;
pub(crate) use crate::proxmox::pct::{CreateSpec, CtState, Drift, PctConfig};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::lock::DeployLock;
use crate::output::Output;
use crate::progress::Reporter;
use crate::proxmox::pct;
use crate::proxmox::{qm, vzdump};
use crate::remote::host::Host;
use crate::remote::Output as RemoteOutput;

/// An operation whose node command line [`Guest::line`] builds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op<'a> {
    /// Take the snapshot `name`.
    Snapshot(&'a str),
    /// Delete the snapshot `name`.
    DeleteSnapshot(&'a str),
    /// Roll back to the snapshot `name` (leaves the guest stopped).
    Rollback(&'a str),
    /// Replace the guest with the backup `volid`, its disks on `storage`.
    Restore { volid: &'a str, storage: &'a str },
    /// Destroy the guest and what the node keeps for it.
    Destroy,
    /// Start the guest.
    Start,
    /// Print the guest's configuration.
    Config,
    /// Set one option of the guest's configuration (`--<key> <value>`).
    Set { key: &'a str, value: &'a str },
    /// The guest's shell, reading stdin.
    Enter,
    /// The node's list of guests of this kind (whether the node can run them at all).
    List,
    /// The guest's IPv4 address as seen from inside (read with [`Guest::parse_address`]).
    Address,
}

/// Why the node did not run a command in the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotRun {
    /// The guest is stopped.
    Stopped,
    /// There is no such guest on the node.
    Missing,
}

/// The guest a command works on.
#[derive(Clone, Copy)]
pub(crate) enum Guest<'h> {
    /// An LXC container (`pct`).
    Container(Container<'h>),
    /// A QEMU VM (`qm`), reached over SSH through the node.
    Vm(Vm<'h>),
}

impl<'h> Guest<'h> {
    /// The guest of this configuration, reached through `host`.
    pub(crate) fn of(host: &'h Host, config: &'h Config) -> Self {
        match config.vm() {
            Some(vm) => Guest::Vm(Vm::new(
                host,
                vm.vmid,
                Access {
                    user: &vm.user,
                    address: vm.network.static_addr(),
                    snippets: &vm.snippets_storage,
                },
            )),
            None => Guest::Container(Container::new(host, config.vmid())),
        }
    }

    /// The node transport the guest is reached through.
    pub(crate) fn host(&self) -> &'h Host {
        match self {
            Guest::Container(c) => c.host,
            Guest::Vm(v) => v.host,
        }
    }

    /// The guest's id on the node (the vmid).
    pub(crate) fn id(&self) -> u32 {
        match self {
            Guest::Container(c) => c.vmid,
            Guest::Vm(v) => v.vmid,
        }
    }

    /// Container or VM.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Guest::Container(_) => Kind::Container,
            Guest::Vm(_) => Kind::Vm,
        }
    }

    /// `container 210` / `VM 220`, for messages.
    pub(crate) fn named(&self) -> String {
        format!("{} {}", self.kind().noun(), self.id())
    }

    /// The host that the lines of [`Guest::inside`] run on: the node's for a container
    /// (`pct exec`), the SSH session inside the VM for a VM (opened on first use, once
    /// per command; the VM must be running).
    pub(crate) fn inside_host(&self) -> Result<&'h Host> {
        match self {
            Guest::Container(c) => Ok(c.host),
            Guest::Vm(v) => v.host.inside(|host| vm::link::open(v, host)),
        }
    }

    /// [`Guest::inside_host`] when the guest may run commands, `None` when it is stopped
    /// (a VM's state comes with the one node call that opens its session; a stopped
    /// container is found by the command that runs inside).
    pub(crate) fn inside_if_running(&self) -> Result<Option<&'h Host>> {
        match self {
            Guest::Container(c) => Ok(Some(c.host)),
            Guest::Vm(v) => vm::link::inside_if_running(v),
        }
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.host().dry_run()
    }

    // ---- running in the guest ----

    /// Where commands run inside the guest (pure: builds the lines).
    pub(crate) fn inside(&self) -> Inside {
        match self {
            Guest::Container(c) => Inside::Container(c.vmid),
            Guest::Vm(v) => Inside::Vm(v.vmid),
        }
    }

    /// [`Guest::inside_host`], waiting up to `limit` for a VM that is still booting (no
    /// address, no sshd, no user yet); a host key that does not match ends the wait at once.
    pub(crate) fn wait_inside(&self, limit: std::time::Duration) -> Result<&'h Host> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            match self.inside_host() {
                Ok(host) => return Ok(host),
                Err(e)
                    if self.kind() == Kind::Vm
                        && !e.message.starts_with("the host key of")
                        && std::time::Instant::now() < deadline =>
                {
                    tracing::debug!(error = %e.message, "the VM does not answer yet");
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The command line that runs `argv` in the guest (on [`Guest::inside_host`]).
    pub(crate) fn exec_line<S: AsRef<str>>(&self, argv: &[S]) -> String {
        self.inside().exec(argv)
    }

    /// Runs `argv` in the guest as a read-only probe (also under `--dry-run`).
    pub(crate) fn probe<S: AsRef<str>>(&self, argv: &[S]) -> Result<RemoteOutput> {
        self.inside_host()?.probe(&self.exec_line(argv))
    }

    // ---- lifecycle ----

    /// The guest's state; `None` when it does not exist on this node.
    pub(crate) fn state(&self) -> Result<Option<CtState>> {
        match self {
            Guest::Container(c) => container::state(Kind::Container, c.host, c.vmid),
            Guest::Vm(v) => container::state(Kind::Vm, v.host, v.vmid),
        }
    }

    /// The guest's state; a missing guest is an error with the `create` hint (exit 5).
    pub(crate) fn require_state(&self) -> Result<CtState> {
        match self {
            Guest::Container(c) => container::require_state(Kind::Container, c.host, c.vmid),
            Guest::Vm(v) => container::require_state(Kind::Vm, v.host, v.vmid),
        }
    }

    /// The guest's IPv4 address as seen from inside; `None` when it has none (yet).
    pub(crate) fn address(&self) -> Result<Option<String>> {
        match self {
            Guest::Container(c) => container::current_ip(c.host, c.vmid),
            Guest::Vm(v) => v.address(),
        }
    }

    /// The guest's configuration on the node (hostname, lock, protection, mount points).
    pub(crate) fn config(&self) -> Result<PctConfig> {
        match self {
            Guest::Container(c) => c.config(),
            Guest::Vm(v) => v.config(),
        }
    }

    /// The guest's configuration as printed by [`Op::Config`]'s line.
    pub(crate) fn parse_config(&self, stdout: &str) -> PctConfig {
        match self {
            Guest::Container(_) | Guest::Vm(_) => pct::parse_config(stdout),
        }
    }

    /// Every setting of `wanted` that the existing guest (its `actual` configuration)
    /// does not have.
    pub(crate) fn drift(&self, actual: &PctConfig, wanted: &CreateSpec) -> Vec<Drift> {
        match self {
            Guest::Container(_) => pct::drift(actual, wanted),
            Guest::Vm(_) => Vec::new(),
        }
    }

    /// The address in what [`Op::Address`]'s line printed; `None` when it has none (yet).
    pub(crate) fn parse_address(&self, stdout: &str) -> Option<String> {
        match self {
            Guest::Container(_) => pct::parse_ipv4(stdout),
            Guest::Vm(v) => match v.access.address {
                Some(a) => Some(a.to_string()),
                None => {
                    let text = v.host.probe(&qm::config(v.vmid)).ok()?.stdout_str();
                    let mac = qm::config::parse_config(&text).net0()?.mac()?.to_string();
                    qm::agent::address_of(stdout, &mac)
                }
            },
        }
    }

    /// Creates the guest `spec` describes (this guest's id); returns the task warnings.
    pub(crate) fn create(
        &self,
        spec: &CreateSpec,
        reporter: &dyn Reporter,
        out: &Output,
    ) -> Result<Vec<String>> {
        debug_assert_eq!(spec.vmid, self.id());
        match self {
            Guest::Container(c) => create::container(c.host, spec, reporter, out),
            Guest::Vm(_) => Err(Error::unexpected(
                "a VM is created by `pxdeploy create` from `[vm]`, not from a container spec",
            )),
        }
    }

    /// Starts the guest ("already running" is success); returns the task warnings.
    pub(crate) fn start(&self, reporter: &dyn Reporter, out: &Output) -> Result<Vec<String>> {
        match self {
            Guest::Container(c) => container::start(Kind::Container, c.host, c.vmid, reporter, out),
            Guest::Vm(v) => container::start(Kind::Vm, v.host, v.vmid, reporter, out),
        }
    }

    /// Shuts the guest down (stops it when it does not stop in time).
    pub(crate) fn stop(&self, reporter: &dyn Reporter) -> Result<()> {
        match self {
            Guest::Container(c) => container::stop(Kind::Container, c.host, c.vmid, reporter),
            Guest::Vm(v) => container::stop(Kind::Vm, v.host, v.vmid, reporter),
        }
    }

    /// Reboots the guest (starts it when it was not running); returns the task warnings.
    pub(crate) fn reboot(&self, reporter: &dyn Reporter, out: &Output) -> Result<Vec<String>> {
        match self {
            Guest::Container(c) => {
                container::reboot(Kind::Container, c.host, c.vmid, reporter, out)
            }
            Guest::Vm(v) => container::reboot(Kind::Vm, v.host, v.vmid, reporter, out),
        }
    }

    /// A backup to `[backup] storage`; prints what was pruned and the warnings.
    pub(crate) fn backup(
        &self,
        config: &Config,
        reporter: &dyn Reporter,
        out: &Output,
    ) -> Result<vzdump::Report> {
        backup::backup(self.kind(), self.host(), self.id(), config, reporter, out)
    }

    /// Takes the deploy lock of the guest (none under `--dry-run`), held until dropped.
    pub(crate) fn lock(&self, reporter: &dyn Reporter) -> Result<Option<DeployLock>> {
        let host = self.host();
        let spawn = |command: &str| -> Result<Box<dyn crate::lock::Channel>> {
            Ok(Box::new(host.session().spawn(command)?))
        };
        crate::lock::take(host, (self.kind().noun(), self.id()), reporter, &spawn)
    }

    /// [`Guest::lock`] for a command that works inside the guest next (deploy, rollback):
    /// a VM's session is opened at its remembered address while the lock is taken
    /// ([`vm::link::open_while`]).
    pub(crate) fn lock_then_inside(&self, reporter: &dyn Reporter) -> Result<Option<DeployLock>> {
        match self {
            Guest::Container(_) => self.lock(reporter),
            Guest::Vm(v) => vm::link::open_while(v, || self.lock(reporter)),
        }
    }

    /// The node's command line of a lifecycle operation (the caller runs it with its
    /// own bound and reads what the node said with [`Guest::refused`]).
    pub(crate) fn line(&self, op: Op<'_>) -> String {
        match self {
            Guest::Container(c) => c.line(op),
            Guest::Vm(v) => v.line(op),
        }
    }

    /// The guest's volumes (`rootfs`, `mp0`…) and their storage volume ids.
    pub(crate) fn volumes(&self) -> Result<Vec<(String, String)>> {
        match self {
            Guest::Container(c) => c.volumes(),
            Guest::Vm(v) => v.volumes(),
        }
    }

    /// The guest's snapshots, oldest first in tree order.
    pub(crate) fn snapshots(&self) -> Result<Vec<Snapshot>> {
        match self {
            Guest::Container(c) => c.snapshots(),
            Guest::Vm(v) => v.snapshots(),
        }
    }

    /// Destroys the guest with what the node keeps for it (firewall file, backup-job
    /// entries, HA resource); one that is already gone is fine. Whether its HA resource
    /// went with it.
    pub(crate) fn destroy(&self, timeout: std::time::Duration) -> Result<bool> {
        match self {
            Guest::Container(c) => c.destroy(timeout),
            Guest::Vm(v) => v.destroy(timeout),
        }
    }

    /// Why the node did not run a command in (or on) the guest, when its stderr says so:
    /// the guest is stopped (a command inside), or there is no such guest.
    pub(crate) fn not_run(&self, stderr: &str) -> Option<NotRun> {
        container::not_run(self.kind(), stderr)
    }

    // ---- what the node refused, as errors that say what to do ----

    /// A lifecycle command of the guest that exited non-zero, as the error that says what
    /// to do (missing, locked, protected, …).
    pub(crate) fn refused(&self, command: &str, out: RemoteOutput) -> Error {
        container::refused(self.kind(), self.host(), self.id(), command, out)
    }

    /// The guest is not on this node (exit 5, with the `pxdeploy create` hint).
    pub(crate) fn missing(&self, cause: String) -> Error {
        container::missing(self.kind(), self.host(), self.id(), cause)
    }

    /// `protection: 1`: the node refuses to destroy the guest (exit 8).
    pub(crate) fn protected(&self) -> Error {
        container::protected(self.kind(), self.id())
    }

    /// The guest is locked by a node task (`lock`) that refused `command`.
    pub(crate) fn locked(&self, lock: &str, command: &str) -> Error {
        container::locked(self.kind(), self.id(), lock, command)
    }
}
