//! `pxdeploy deploy` end to end (issue 4): the example app against the simulated Proxmox
//! node — real sshd, real dockerd and Compose inside the container. A create costs ~5 s and
//! a deploy ~10 s, so the tests share what they can: the first deploy (its own node, read
//! only by the tests that check it) and one node for the rest, a container each.
//!
//! `first.rs`: the first deploy and what it leaves (its own node, read only); `again.rs`:
//! redeploys of a deployed app (a container each on the shared node); `health.rs`: the
//! health verdicts (unhealthy, crash-looping, a slow poll, Docker's events).

mod again;
mod first;
mod health;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::app::{deploy_holding_the_lock, now_secs};
use crate::support::{
    create, deploy, example_app, pxdeploy, unique_vmid, write, Call, Run, SimHost,
};

/// Inside a service: its DOMAIN, as Compose set it (busybox has no `printenv`).
const PRINT_DOMAIN: &str = r#"printf '%s\n' "$DOMAIN""#;

/// A simulated node (template cached) with Compose `compose_version`, and a copy of the
/// example app.
pub(crate) fn sim_and_app(compose_version: &str) -> (SimHost, tempfile::TempDir) {
    let sim = SimHost::builder()
        .compose_version(compose_version)
        .template_cached(true)
        .start();
    (sim, example_app())
}

/// The node (Compose 2.40.3, template cached) that the tests below share, a container each.
/// Never dropped: `sim/launch.py`'s watchdog tears it down when the test process ends.
fn shared_node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(SimHost::start_cached)
}

/// The config of the example app in container `vmid`: two secrets, `DOMAIN`, and with
/// `extra_secret` a third one.
fn config(vmid: u32, domain: &str, extra_secret: bool) -> String {
    format!(
        "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 64\n{}\n[env.values]\nDOMAIN = {}\n",
        if extra_secret { "NEW_SECRET = 20" } else { "" },
        toml_str(domain)
    )
}

/// The example app created and deployed (green) into a container of its own on the shared
/// node; stopped when the test ends.
struct Deployed {
    sim: &'static SimHost,
    app: tempfile::TempDir,
    vmid: u32,
}

impl Deployed {
    #[track_caller]
    fn new(test: u32, config_text: impl FnOnce(u32) -> String) -> Deployed {
        let sim = shared_node();
        let app = example_app();
        let vmid = unique_vmid(test);
        sim.write_config(app.path(), &config_text(vmid));
        create(app.path());
        deploy(app.path(), &[]).assert_success();
        Deployed { sim, app, vmid }
    }

    fn app(&self) -> &Path {
        self.app.path()
    }

    #[track_caller]
    fn in_ct(&self, argv: &[&str]) -> Run {
        self.sim.in_container(self.vmid, argv)
    }

    #[track_caller]
    fn env(&self) -> String {
        self.sim.container_file(self.vmid, "/opt/app/.env")
    }

    #[track_caller]
    fn compose(&self, args: &[&str]) -> Run {
        compose_in(self.sim, self.vmid, args)
    }

    /// How many `docker compose … up` ran in this container since call number `from`.
    fn ups_since(&self, from: usize) -> usize {
        ups(&self.sim.calls_of(self.vmid)[from..])
    }

    /// The generated secrets in the container's `.env` now.
    fn secrets(&self) -> Vec<String> {
        let env = self.env();
        ["POSTGRES_PASSWORD", "SECRET_KEY", "NEW_SECRET"]
            .iter()
            .filter(|k| env_line(&env, k).is_some())
            .map(|k| secret(&env, k))
            .collect()
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        // Its four health checks run every second: stop them for the tests still running.
        let _ = self.sim.host_run(&["pct", "stop", &self.vmid.to_string()]);
    }
}

/// `docker compose -p app -f /opt/app/docker-compose.yml args…` in container `vmid`.
#[track_caller]
fn compose_in(sim: &SimHost, vmid: u32, args: &[&str]) -> Run {
    let mut argv = vec![
        "docker",
        "compose",
        "-p",
        "app",
        "-f",
        "/opt/app/docker-compose.yml",
    ];
    argv.extend_from_slice(args);
    sim.in_container(vmid, &argv)
}

/// How many of `calls` ran `up`.
fn ups(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| c.argv.iter().any(|x| x == "up"))
        .count()
}

#[track_caller]
fn read_env_bytes(sim: &SimHost, vmid: u32) -> Vec<u8> {
    let r = sim.in_container(vmid, &["od", "-An", "-tx1", "/opt/app/.env"]);
    r.assert_success();
    r.stdout.into_bytes()
}

/// The whole `KEY=…` line of `key` in a `.env` text.
fn env_line<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("{key}=");
    text.lines().find(|l| l.starts_with(&prefix))
}

/// The value of a generated secret (written bare: letters and digits).
#[track_caller]
fn secret(text: &str, key: &str) -> String {
    let line = env_line(text, key).unwrap_or_else(|| panic!("{key} missing from .env"));
    let v = &line[key.len() + 1..];
    assert!(
        !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()),
        "{key} is not a bare alphanumeric secret"
    );
    v.to_string()
}

/// A TOML string literal for `s`.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The services of a JSON document, as (name, state, health).
fn services(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    doc["services"]
        .as_array()
        .unwrap_or_else(|| panic!("no services in {doc}"))
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap_or_default().to_string(),
                s["state"].as_str().unwrap_or_default().to_string(),
                s["health"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[track_caller]
fn assert_all_healthy(doc: &serde_json::Value) {
    let got = services(doc);
    let mut names: Vec<&str> = got.iter().map(|s| s.0.as_str()).collect();
    names.sort();
    assert_eq!(names, ["api", "cache", "db", "web"], "{doc:#}");
    for (name, state, health) in &got {
        assert_eq!(
            (state.as_str(), health.as_str()),
            ("running", "healthy"),
            "{name}: {doc:#}"
        );
    }
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn assert_no_secret(run: &Run, secrets: &[String]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s.as_str()) && !run.stderr.contains(s.as_str()),
            "a secret value appears in the output of `{}` (exit {})",
            run.what,
            run.status
        );
    }
}

/// When the last `docker compose … up` call ended (calls.log time), in seconds.
#[track_caller]
fn last_up_end(sim: &SimHost) -> f64 {
    sim.calls()
        .into_iter()
        .filter(|c| c.argv.iter().any(|a| a == "compose") && c.argv.iter().any(|a| a == "up"))
        .map(|c| c.time)
        .next_back()
        .expect("a `docker compose up` call")
}

/// The config of the example app in container `vmid` with its two secrets only.
fn secrets_only(vmid: u32) -> String {
    format!("[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 24\nSECRET_KEY = 24\n")
}
