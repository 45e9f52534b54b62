//! Issue 3: the container's lifecycle against the simulated node — `create` (template
//! download, DHCP and static IP, privileged variant, re-run with drift, `--dry-run`),
//! `stop`/`start`/`restart` idempotence, `restart` refused under a lock, `ha` with stop-mode
//! backups refused, `destroy` (refusal, protection, a real pty, `--yes`)
//! and `backup` (retention, `--list`, vzdump's failure; a Proxmox Backup Server storage, also
//! for `destroy --backup-first`). Each `create` costs seconds, so each
//! test walks one container through several steps.
//!
//! `create.rs`: create with DHCP (the template downloaded), its re-run with drift, stop,
//! start, restart and backups; `destroy.rs`: a static IP, a missing container, `--dry-run`,
//! the privileged variant and `destroy`'s confirmation (a real pty, `--yes`).

mod create;
mod destroy;

use std::path::{Path, PathBuf};

use crate::support::{pxdeploy, small_app, Run, SimHost};

const VMID: &str = "210";

/// The container's config file on the simulated node.
fn conf_path(sim: &SimHost) -> PathBuf {
    sim.state_dir()
        .join(format!("etc/pve/nodes/pve/lxc/{VMID}.conf"))
}

fn conf(sim: &SimHost) -> String {
    std::fs::read_to_string(conf_path(sim)).expect("the container's config file")
}

/// Appends `line` to the container's config before its first `[section]`.
fn add_conf_line(sim: &SimHost, line: &str) {
    let text = conf(sim);
    let (main, rest) = match text.find("\n[") {
        Some(i) => text.split_at(i + 1),
        None => (text.as_str(), ""),
    };
    let mut main = main.to_string();
    if !main.ends_with('\n') {
        main.push('\n');
    }
    std::fs::write(conf_path(sim), format!("{main}{line}\n{rest}")).unwrap();
}

/// Replaces the line starting with `key:` in the container's config.
fn set_conf_line(sim: &SimHost, key: &str, line: &str) {
    let text = conf(sim);
    let prefix = format!("{key}:");
    assert!(
        text.lines().any(|l| l.starts_with(&prefix)),
        "no {key} in\n{text}"
    );
    let new: Vec<&str> = text
        .lines()
        .map(|l| if l.starts_with(&prefix) { line } else { l })
        .collect();
    std::fs::write(conf_path(sim), new.join("\n") + "\n").unwrap();
}

/// An app folder with a small Compose file and the test config (plus `extra_toml`).
fn app_dir(sim: &SimHost, extra_toml: &str) -> tempfile::TempDir {
    let app = small_app();
    sim.write_config(app.path(), extra_toml);
    app
}

fn px(app: &Path, args: &[&str]) -> Run {
    pxdeploy().current_dir(app).args(args).run()
}

/// The one JSON document of a `-o json` run, which must have `"ok"` as expected.
#[track_caller]
fn json_doc(run: &Run, ok: bool) -> serde_json::Value {
    let doc = run.json();
    assert_eq!(doc["ok"], serde_json::json!(ok), "{}", run.dump());
    doc
}

#[track_caller]
fn pct_status(sim: &SimHost) -> Run {
    sim.host_run(&["pct", "status", VMID])
}

/// An IPv4 address of the simulated LAN (192.0.2.0/24) in `text`.
fn lan_ip(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| w.starts_with("192.0.2.") && w.split('.').count() == 4)
        .map(str::to_string)
}
