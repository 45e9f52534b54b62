//! `[firewall]`: the container's `.fw` file on the node, written as Proxmox's own writer lays
//! it out, never later than the container's start; drift reported and rewritten.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::{refused_before_connecting, session};
use crate::support::{example_app, small_app, Call, Session};

/// The container's rules file on the simulated node.
fn fw_file(s: &Session) -> PathBuf {
    s.node()
        .state_dir()
        .join(format!("etc/pve/firewall/{}.fw", s.vmid()))
}

/// When `file` was last written (seconds, as calls.log times its calls).
fn written_at(file: &Path) -> f64 {
    std::fs::metadata(file)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Each call's first words: the scripts they carry are long.
fn lines(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c.line().chars().take(100).collect())
        .collect()
}

/// Where in `calls` the container was started (`pct start`), and whether `firewall=1` was
/// set on its net0 before that.
#[track_caller]
fn started_after_the_switch(s: &Session, calls: &[Call], what: &str) -> usize {
    let id = s.vmid().to_string();
    let started_at = calls
        .iter()
        .position(|c| c.starts_with(&["pct", "start", &id]))
        .unwrap_or_else(|| panic!("{what} did not start the container: {:#?}", lines(calls)));
    let switched_on = calls.iter().position(|c| {
        c.starts_with(&["pct", "set", &id, "--net0"]) && c.line().contains("firewall=1")
    });
    assert!(
        switched_on.is_some_and(|at| at < started_at),
        "firewall=1 was not set on net0 before {what}'s `pct start`: {:#?}",
        lines(calls)
    );
    started_at
}

/// `[firewall]`: `create` writes the `.fw` file exactly as Proxmox's writer lays it out and
/// sets `firewall=1` on net0 before the container's first start, so it is never up without its
/// rules (issue 22); a deploy then writes nothing, nor does the same file in the GUI's layout; `--dry-run` shows a changed file without
/// writing it; a rule changed by hand on the node is reported as drift and rewritten; `check`
/// warns that the datacenter firewall is off.
#[test]
fn the_firewall_file_is_written_idempotently_and_drift_is_reported() {
    let s = session(4, example_app());
    let config = |allow: &str| {
        format!("[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 32\n[firewall]\nenable = true\npolicy_in = \"DROP\"\nallow = [{allow}]\n")
    };
    s.config(&config("\"tcp/80\", \"tcp/22 from 192.168.1.0/24\""))
        .create();
    let expected = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80 -log nolog\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22 -log nolog\n\n";
    let file = fw_file(&s);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        expected,
        "`create` did not write the firewall file"
    );
    let calls = s.calls();
    let started_at = started_after_the_switch(&s, &calls, "`create`");
    assert!(
        written_at(&file) <= calls[started_at].time,
        "the firewall file was written after the first `pct start`"
    );
    let conf = s.pct("config", &[]).stdout;
    let net0 = conf
        .lines()
        .find(|l| l.starts_with("net0:"))
        .unwrap_or_default();
    assert!(net0.contains("firewall=1"), "{conf}");

    let modified = || std::fs::metadata(&file).unwrap().modified().unwrap();
    let before = modified();
    s.deploy()
        .expect_ok()
        .expect_never_says("differs from pxdeploy.toml");
    assert_eq!(
        modified(),
        before,
        "a deploy rewrote the file `create` wrote"
    );

    // The same settings as Proxmox's own writer lays them out after an edit in the GUI
    // (options in hash order, `-log` only when set): no drift, no rewrite, no warning.
    let gui = "[OPTIONS]\n\npolicy_in: DROP\nenable: 1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22\n\n";
    std::fs::write(&file, gui).unwrap();
    let before = modified();
    s.deploy()
        .expect_ok()
        .expect_never_says("differs from pxdeploy.toml");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), gui);
    assert_eq!(
        modified(),
        before,
        "a file in the GUI's layout was rewritten"
    );
    std::fs::write(&file, expected).unwrap();

    s.config(&config("\"tcp/443\", \"tcp/22 from 192.168.1.0/24\""));
    s.deploy_with(&["--dry-run"])
        .expect_ok()
        .expect_says(&format!("would write /etc/pve/firewall/{}.fw", s.vmid()))
        .expect_says("IN ACCEPT -p tcp -dport 443 -log nolog");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        expected,
        "--dry-run wrote the file"
    );

    std::fs::write(&file, expected.replace("-dport 80", "-dport 8080")).unwrap();
    s.deploy()
        .expect_ok()
        .expect_says("differs from pxdeploy.toml")
        .expect_says("-IN ACCEPT -p tcp -dport 8080 -log nolog");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        expected.replace("-dport 80", "-dport 443")
    );

    s.run(&["check"])
        .expect_says("the datacenter firewall is off");
}

/// A `[firewall]` section added after `create` never lets a stopped container run without
/// its rules (SPEC, "Trust boundaries"): `deploy --dry-run` shows the file it would write and
/// writes nothing, starts nothing; `deploy` writes the `.fw` file and sets `firewall=1` on
/// net0 before its `pct start`; `pxdeploy start` and `restart` put back a rules file deleted
/// meanwhile before they start the container.
#[test]
fn a_stopped_container_is_started_only_after_its_firewall_is_written() {
    let s = session(7, small_app());
    let id = s.vmid().to_string();
    s.create().stop();
    s.config("[firewall]\nenable = true\npolicy_in = \"DROP\"\nallow = [\"tcp/80\"]\n");
    let file = fw_file(&s);
    let _ = std::fs::remove_file(&file);

    let dry = s
        .deploy_with(&["--dry-run"])
        .expect_ok()
        .expect_says(&format!("would write /etc/pve/firewall/{id}.fw"));
    assert!(!file.exists(), "--dry-run wrote the firewall file");
    assert!(
        !dry.calls()
            .iter()
            .any(|c| c.starts_with(&["pct", "start", &id]) || c.starts_with(&["pct", "set", &id])),
        "--dry-run changed the container: {:#?}",
        lines(dry.calls())
    );

    let deployed = s.deploy().expect_ok();
    let started_at = started_after_the_switch(&s, deployed.calls(), "the deploy");
    assert!(file.exists(), "the deploy did not write the firewall file");
    assert!(
        written_at(&file) <= deployed.calls()[started_at].time,
        "the firewall file was written after the deploy's `pct start`"
    );

    // `start`, and `restart` of a stopped container (which starts it): the same.
    for command in ["start", "restart"] {
        s.stop();
        std::fs::remove_file(&file).unwrap();
        let run = s.run(&[command, "--no-wait"]).expect_ok();
        let started = run
            .calls()
            .iter()
            .find(|c| c.starts_with(&["pct", "start", &id]))
            .unwrap_or_else(|| panic!("`pxdeploy {command}` started the container"));
        assert!(
            file.exists() && written_at(&file) <= started.time,
            "`pxdeploy {command}` started the container before writing its firewall file"
        );
    }
}

/// Invalid `allow` entries are configuration errors (exit 3) naming the entry, before any
/// connection.
#[test]
fn invalid_firewall_rules_are_refused_before_connecting() {
    let s = session(5, example_app());
    for (allow, says) in [
        ("\"tcp/80\", \"tcp/99999\"", "firewall.allow[1]"),
        ("\"tcp/22 from 192.168.1.0/33\"", "firewall.allow[0]"),
        ("\"tcp/22 from 10.0.0.300\"", "firewall.allow[0]"),
    ] {
        s.config(&format!("[firewall]\nenable = true\nallow = [{allow}]\n"));
        refused_before_connecting(s.deploy(), says);
    }
}
