//! The Proxmox host as the commands see it: one SSH session, with `--dry-run` honoured.
//! Read-only probes always run; changes are printed instead of run under `--dry-run`.
//!
//! In a cluster the container may live on another node than the one connected to. A
//! [`Router`] (implemented by the `cluster` module, above this one) finds it: the first command whose output says "not on
//! this node" makes the host ask the router once, and from then on every command runs on
//! the owner node's session (reached through the first); the refused command is run again
//! there. A container on the node connected to costs nothing extra.

use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::ssh::Session;
use super::{Output, SshTarget};
use crate::error::{Error, Result};

/// Default bound for a quick remote step (pct status, pvesm status, …).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the container lives: its node (`None`: nowhere in the cluster) and, when that is
/// another node than the one connected to, a session to it.
pub struct Route {
    pub node: Option<String>,
    pub session: Option<Session>,
}

/// Finds the node of the container (implemented by the `cluster` module).
pub trait Router: Send + Sync {
    /// Does this stderr say the container is not on the node that ran the command?
    fn elsewhere(&self, stderr: &str) -> bool;
    /// Asks the cluster where the container is; connects to its node through `entry`.
    fn route(&self, entry: &Session) -> Result<Route>;
    /// The container's node when it is known to be on the node `entry` is connected to
    /// (a cheaper question than [`Router::route`]).
    fn local_node(&self, entry: &Session) -> Result<Option<String>>;
}

pub struct Host {
    session: Session,
    router: Option<Box<dyn Router>>,
    routed: OnceLock<Route>,
    /// Where `create` put a new container (wins over `routed`).
    placed: OnceLock<Route>,
    /// The host name as the user wrote it, for messages.
    pub alias: String,
    dry_run: bool,
    /// Commands that were printed instead of run (dry-run), in order; shared with the
    /// session inside the guest ([`Host::inside`]), so the plan keeps one order.
    planned: Arc<Mutex<Vec<String>>>,
    /// Where and how the first session was opened (the client identity and known_hosts
    /// that the session inside a VM uses too).
    target: Option<SshTarget>,
    /// The session inside the guest (a VM's), opened on first use.
    inner: OnceLock<Box<Host>>,
}

impl Host {
    pub fn new(session: Session, alias: impl Into<String>, dry_run: bool) -> Self {
        Host {
            session,
            router: None,
            routed: OnceLock::new(),
            placed: OnceLock::new(),
            alias: alias.into(),
            dry_run,
            planned: Default::default(),
            target: None,
            inner: OnceLock::new(),
        }
    }

    /// Remembers how the first session was opened (see [`Host::target`]).
    pub fn with_target(mut self, target: SshTarget) -> Self {
        self.target = Some(target);
        self
    }

    /// How the first session was opened, when known.
    pub fn target(&self) -> Option<&SshTarget> {
        self.target.as_ref()
    }

    /// The host of the session inside the guest (a VM's SSH session), opened with `open`
    /// the first time (once per command), then the same one. It shares `--dry-run` and its
    /// plan with this host.
    pub fn inside(&self, open: impl FnOnce(&Host) -> Result<(Session, String)>) -> Result<&Host> {
        if let Some(inner) = self.inner.get() {
            return Ok(inner);
        }
        let (session, alias) = open(self)?;
        let mut inner = Host::new(session, alias, self.dry_run);
        inner.planned = self.planned.clone();
        let _ = self.inner.set(Box::new(inner));
        Ok(self.inner.get().expect("set just now"))
    }

    /// The session inside the guest, if one was opened.
    pub fn inside_opened(&self) -> Option<&Host> {
        self.inner.get().map(|b| b.as_ref())
    }

    /// Lets `router` move this host to the container's node (see the module docs).
    pub fn with_router(mut self, router: Box<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// The session commands run on: the container's node once it is known to be another.
    pub fn session(&self) -> &Session {
        match self.placed.get().or(self.routed.get()) {
            Some(Route {
                session: Some(s), ..
            }) => s,
            _ => &self.session,
        }
    }

    /// The session to the node connected to (the first hop).
    pub fn entry(&self) -> &Session {
        &self.session
    }

    /// The container's node, for a container that a command already found (one remote
    /// call when it is on the node connected to, none when the host moved to its node);
    /// `None` when the cluster does not know it, or without a router.
    pub fn node(&self) -> Result<Option<String>> {
        if let Some(route) = self.placed.get().or(self.routed.get()) {
            return Ok(route.node.clone());
        }
        match &self.router {
            Some(router) => router.local_node(&self.session),
            None => Ok(None),
        }
    }

    /// Moves this host to the node `create` chose for a new container (once).
    pub fn place(&self, route: Route) {
        let _ = self.placed.set(route);
    }

    fn route(&self) -> Result<Option<&Route>> {
        let Some(router) = &self.router else {
            return Ok(None);
        };
        if self.routed.get().is_none() {
            let route = router.route(&self.session)?;
            let _ = self.routed.set(route);
        }
        Ok(self.routed.get())
    }

    /// Runs `command` on the current session; when the output says the container is on
    /// another node and no route is known yet, routes and runs it again there (only
    /// without stdin: an upload is never the first command).
    fn exec(
        &self,
        command: &str,
        stdin: Option<&mut dyn Read>,
        timeout: Duration,
    ) -> Result<Output> {
        let has_stdin = stdin.is_some();
        let out = self.session().exec(command, stdin, timeout)?;
        if has_stdin || !self.moved(&out.stderr_str())? {
            return Ok(out);
        }
        self.session().exec(command, None, timeout)
    }

    /// When `stderr` (of a command run on [`Host::session`]) says the container is on
    /// another node and no route is known yet: routes, and says whether the session moved
    /// (the caller then runs its command again).
    pub fn moved(&self, stderr: &str) -> Result<bool> {
        let Some(router) = &self.router else {
            return Ok(false);
        };
        if self.routed.get().is_some() || !router.elsewhere(stderr) {
            return Ok(false);
        }
        self.to_owner()
    }

    /// Whether this host already moved to another node than the one entered (no call).
    pub fn on_another_node(&self) -> bool {
        owner_session(self.placed.get().or(self.routed.get()))
    }

    /// Routes now, when the caller knows the container is on another node (the deploy
    /// lock, before any `pct` call): whether commands now run on the owner node's session.
    pub fn to_owner(&self) -> Result<bool> {
        Ok(owner_session(self.route()?))
    }

    /// A read-only command whose output is not logged (it may hold secrets), routed like
    /// [`Host::probe`].
    pub fn probe_quiet(&self, command: &str, timeout: Duration) -> Result<Output> {
        self.exec(command, None, timeout)
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Runs a read-only command (also under `--dry-run`). A non-zero exit is not an error here.
    pub fn probe(&self, command: &str) -> Result<Output> {
        tracing::debug!(command, "probe");
        let out = self.exec(command, None, PROBE_TIMEOUT)?;
        tracing::trace!(status = %out.status, stdout = %out.stdout_str(), stderr = %out.stderr_str(), "probe done");
        Ok(out)
    }

    /// Runs a command that changes something; under `--dry-run` it is recorded and printed by
    /// the caller instead, and an empty successful output is returned.
    pub fn change(&self, command: &str, timeout: Duration) -> Result<Output> {
        self.run_change(command, None, timeout)
    }

    /// Like [`Host::change`], with `stdin` sent to the command (an upload). What is sent is
    /// never logged: it may hold secrets.
    pub fn change_with_stdin(
        &self,
        command: &str,
        stdin: &mut dyn Read,
        timeout: Duration,
    ) -> Result<Output> {
        self.run_change(command, Some(stdin), timeout)
    }

    fn run_change(
        &self,
        command: &str,
        stdin: Option<&mut dyn Read>,
        timeout: Duration,
    ) -> Result<Output> {
        if self.dry_run {
            tracing::info!(command, "dry-run: not running");
            self.planned.lock().unwrap().push(command.to_string());
            return Ok(Output::default());
        }
        tracing::debug!(command, "run");
        let out = self.exec(command, stdin, timeout)?;
        tracing::trace!(status = %out.status, stderr = %out.stderr_str(), "run done");
        Ok(out)
    }

    /// Like [`Host::change`], but a non-zero exit becomes a remote-step error (exit 5) with
    /// the command and its stderr.
    pub fn change_ok(&self, command: &str, timeout: Duration) -> Result<Output> {
        let out = self.change(command, timeout)?;
        ensure_success(command, out)
    }

    /// Like [`Host::probe`], but a non-zero exit is a remote-step error.
    pub fn probe_ok(&self, command: &str) -> Result<Output> {
        let out = self.probe(command)?;
        ensure_success(command, out)
    }

    /// Opens the channel of a change command now, so that the command's start (a `pct
    /// exec` is a process start on the node, ~0.2 s) is paid while the caller still works;
    /// [`Host::run_prepared`] then runs it. The command must begin with [`GATE`]: it does
    /// nothing until it reads `go` on stdin, and if its stdin ends first (the caller
    /// dropped the [`Prepared`], or pxdeploy ended) it exits 0 having done nothing. Under
    /// `--dry-run`, or when the channel cannot be opened, nothing is opened: the command
    /// then runs the usual way.
    pub fn prepare(&self, command: String) -> Prepared {
        debug_assert!(command.contains(GATE), "{command}");
        let process = match self.dry_run {
            true => None,
            false => self.session().spawn(&command).ok(),
        };
        Prepared {
            session: self.session() as *const Session as usize,
            command,
            process,
        }
    }

    /// Runs a [`Host::prepare`]d command: sends `go`, then `stdin`, and waits up to
    /// `timeout`, like [`Host::change_with_stdin`]. On the usual channel when none was
    /// opened, or when this host moved to another node (cluster routing) since.
    pub fn run_prepared(
        &self,
        prepared: Prepared,
        stdin: &mut dyn Read,
        timeout: Duration,
    ) -> Result<Output> {
        let mut input = b"go\n".chain(stdin);
        let same = prepared.session == self.session() as *const Session as usize;
        match prepared.process {
            Some(process) if same => {
                tracing::debug!(command = prepared.command, "run (prepared)");
                let out = process.finish_with(Some(&mut input), timeout)?;
                tracing::trace!(status = %out.status, stderr = %out.stderr_str(), "run done");
                Ok(out)
            }
            _ => self.change_with_stdin(&prepared.command, &mut input, timeout),
        }
    }

    /// The commands that `--dry-run` did not run.
    pub fn planned(&self) -> Vec<String> {
        self.planned.lock().unwrap().clone()
    }
}

/// What a [`Host::prepare`]d command begins with (inside the container's `sh -c`): wait
/// for `go` on stdin; without it, exit 0 having done nothing.
pub const GATE: &str = "read -r go && [ \"$go\" = go ] || exit 0; ";

/// A change command whose channel is open and waiting ([`Host::prepare`]). Dropping it
/// closes the channel: the command reads end-of-file instead of `go` and does nothing.
pub struct Prepared {
    /// The session it was opened on (compared, never dereferenced).
    session: usize,
    command: String,
    process: Option<super::ssh::RemoteProcess>,
}

impl Prepared {
    /// The command line (for messages).
    pub fn command(&self) -> &str {
        &self.command
    }
}

/// Turns a non-zero exit into `Error::remote` naming the command and showing its stderr.
pub fn ensure_success(command: &str, out: Output) -> Result<Output> {
    if out.status.success() {
        return Ok(out);
    }
    let stderr = out.stderr_str();
    let detail = stderr.trim();
    let detail = if detail.is_empty() {
        out.stdout_str()
            .trim()
            .lines()
            .last()
            .unwrap_or("")
            .to_string()
    } else {
        detail.to_string()
    };
    Err(Error::remote(format!("`{command}` failed")).cause(format!(
        "{}: {}",
        out.status,
        crate::output::sanitize(&detail)
    )))
}

/// Whether `route` moved commands to the owner node's own session.
fn owner_session(route: Option<&Route>) -> bool {
    matches!(
        route,
        Some(Route {
            session: Some(_),
            ..
        })
    )
}
