//! A user's session, as a test tells it: an app folder bound to one container of a simulated
//! node, the `pxdeploy` commands the user runs in it, and what they expect of each run.
//!
//! ```ignore
//! let s = Session::new(node(), unique_vmid(3), example_app());
//! s.config("[env.secrets]\nSECRET_KEY = 32\n").create();
//! s.deploy().expect_ok().expect_healthy();
//! s.change("web/index.html", "two\n").deploy_json().expect_ok().expect_pushed(1);
//! s.sh("rm /opt/app/web/index.html");
//! s.run(&["diff"]).expect_prints("missing  web/index.html");
//! ```
//!
//! A run returns an [`Outcome`]: its [`Run`] (exit code, output), the node's calls that
//! concern the container made while it ran, and `expect_*` checks that fail the test with
//! the run's output. An `Outcome` dereferences to its [`Session`], so the story goes on
//! (`s.create().deploy().expect_ok()`). The container is stopped when the session is dropped
//! (its services' health checks would keep the node busy for the tests still running).

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use super::{pxdeploy, Call, Outcome, Run, SimHost};

/// How long one `pxdeploy` run of a session may take: a deploy waits for health.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// An app folder bound to container `vmid` of a simulated node (see the module's docs).
pub struct Session<'n> {
    node: &'n SimHost,
    root: tempfile::TempDir,
    vmid: u32,
    /// Environment of every later run (`from_env` secrets, `API_TOKEN`, …).
    env: RefCell<Vec<(String, String)>>,
}

impl<'n> Session<'n> {
    /// The app folder `root` deploying to container `vmid` of `node`, with the node's test
    /// configuration ([`SimHost::config_table`]) and that vmid in `pxdeploy.toml`.
    #[track_caller]
    pub fn new(node: &'n SimHost, vmid: u32, root: tempfile::TempDir) -> Session<'n> {
        let s = Session {
            node,
            root,
            vmid,
            env: RefCell::new(Vec::new()),
        };
        s.config("");
        s
    }

    pub fn node(&self) -> &'n SimHost {
        self.node
    }

    pub fn vmid(&self) -> u32 {
        self.vmid
    }

    /// The app folder (where `pxdeploy.toml` is and pxdeploy runs).
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    // --- what the user edits

    /// Rewrites `pxdeploy.toml`: the node's test configuration, `extra` merged in (tables
    /// key by key), and the session's vmid, whatever `extra` says.
    #[track_caller]
    pub fn config(&self, extra: &str) -> &Self {
        let mut table = self.node.config_table();
        let extra: toml::Table = extra
            .parse()
            .unwrap_or_else(|e| panic!("the session's extra TOML is invalid: {e}\n{extra}"));
        super::sim::merge(&mut table, extra);
        let vmid: toml::Table = format!("[container]\nvmid = {}", self.vmid)
            .parse()
            .unwrap();
        super::sim::merge(&mut table, vmid);
        let text = toml::to_string(&table).expect("serialize the session's config");
        super::write(self.path().join("pxdeploy.toml"), &text);
        self
    }

    /// Writes `text` to `rel` in the app folder (a new file or a changed one).
    #[track_caller]
    pub fn change(&self, rel: &str, text: &str) -> &Self {
        super::write(self.path().join(rel), text);
        self
    }

    /// Removes the file `rel` of the app folder.
    #[track_caller]
    pub fn remove(&self, rel: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
        self
    }

    /// Sets `key=value` in the environment of every later run.
    pub fn env(&self, key: &str, value: &str) -> &Self {
        let mut env = self.env.borrow_mut();
        env.retain(|(k, _)| k != key);
        env.push((key.into(), value.into()));
        self
    }

    // --- what the user runs

    /// `pxdeploy ARGS…` in the app folder (bounded at 240 s).
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Outcome<'_, 'n> {
        self.command(args, |cmd| cmd)
    }

    /// `pxdeploy ARGS…` with `stdin` fed in and more options (`.on_pty()`, `.env(…)`) set
    /// by `with`.
    #[track_caller]
    pub fn command(
        &self,
        args: &[&str],
        with: impl FnOnce(super::Pxdeploy) -> super::Pxdeploy,
    ) -> Outcome<'_, 'n> {
        let mut cmd = pxdeploy()
            .current_dir(self.path())
            .args(args)
            .timeout(RUN_TIMEOUT);
        for (k, v) in self.env.borrow().iter() {
            cmd = cmd.env(k, v);
        }
        let before = self.calls().len();
        let run = with(cmd).run();
        let calls = self.calls().split_off(before);
        Outcome::new(self, run, calls)
    }

    /// `pxdeploy create`, which must succeed.
    #[track_caller]
    pub fn create(&self) -> &Self {
        self.run(&["create"]).expect_ok();
        self
    }

    /// `pxdeploy deploy`.
    #[track_caller]
    pub fn deploy(&self) -> Outcome<'_, 'n> {
        self.run(&["deploy"])
    }

    /// `pxdeploy FLAGS… deploy` (`-vvv`, `--dry-run`, `-o json`).
    #[track_caller]
    pub fn deploy_with(&self, flags: &[&str]) -> Outcome<'_, 'n> {
        let mut args = flags.to_vec();
        args.push("deploy");
        self.run(&args)
    }

    /// `pxdeploy -o json deploy`: the outcome's [`Outcome::json`] is the deploy's report.
    #[track_caller]
    pub fn deploy_json(&self) -> Outcome<'_, 'n> {
        self.deploy_with(&["-o", "json"])
    }

    /// The ids of the container's releases (`pxdeploy -o json releases`), oldest first.
    #[track_caller]
    pub fn releases(&self) -> Vec<String> {
        let listed = self.run(&["-o", "json", "releases"]).expect_ok().json();
        listed["releases"]
            .as_array()
            .unwrap_or_else(|| panic!("no releases in {listed:#}"))
            .iter()
            .map(|r| r["id"].as_str().expect("a release id").to_string())
            .collect()
    }

    // --- what the user (or the test) finds on the node

    /// `sh -c script` inside the container, which must succeed; its stdout.
    #[track_caller]
    pub fn sh(&self, script: &str) -> String {
        let r = self.node.sh_in_container(self.vmid, script);
        r.assert_success();
        r.stdout
    }

    /// The text of `path` inside the container, which must be readable.
    #[track_caller]
    pub fn file(&self, path: &str) -> String {
        self.node.container_file(self.vmid, path)
    }

    /// Does `path` exist inside the container?
    #[track_caller]
    pub fn has(&self, path: &str) -> bool {
        self.node
            .in_container(self.vmid, &["test", "-e", path])
            .status
            == 0
    }

    /// The container's `.env` (`/opt/app/.env`, the test configuration's `remote_dir`).
    #[track_caller]
    pub fn env_file(&self) -> String {
        self.file("/opt/app/.env")
    }

    /// The value of `key` in the container's `.env`: its last assignment, as written.
    #[track_caller]
    pub fn env_value(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}=");
        self.env_file()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::to_string)
    }

    /// `docker compose -p app -f /opt/app/docker-compose.yml ps -q` in the container: the
    /// ids of the app's Docker containers (the same ids: nothing was recreated).
    #[track_caller]
    pub fn service_ids(&self) -> String {
        self.sh("docker compose -p app -f /opt/app/docker-compose.yml ps -q")
    }

    /// Every call of a simulated tool that names the container, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.node.calls_of(self.vmid)
    }

    /// `pct WORD VMID ARGS…` on the node (no SSH connection counted): `s.pct("stop", &[])`,
    /// `s.pct("set", &["--protection", "1"])`.
    #[track_caller]
    pub fn pct(&self, word: &str, args: &[&str]) -> Run {
        let id = self.vmid.to_string();
        let mut argv = vec!["pct", word, &id];
        argv.extend_from_slice(args);
        self.node.host_run(&argv)
    }

    /// Stops the container (`pct stop`), whatever its state.
    pub fn stop(&self) -> &Self {
        let _ = self.pct("stop", &[]);
        self
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}
