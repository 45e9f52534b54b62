//! The binary as a user meets it: exit codes 0/2/3/4, `check` and `status` against the
//! simulated node, one SSH connection per run, no connection for an invalid config, no
//! control character from the node on the terminal.

use std::path::Path;

use crate::support::{pxdeploy, small_app, SimHost};

fn in_dir(dir: &Path) -> crate::support::Pxdeploy {
    pxdeploy().current_dir(dir)
}

#[test]
fn version_and_help_exit_0_usage_errors_exit_2() {
    let r = pxdeploy().arg("--version").run();
    r.assert_code(0).assert_stdout_contains("pxdeploy ");
    let r = pxdeploy().arg("--help").run();
    r.assert_code(0).assert_stdout_contains("deploy");
    pxdeploy().arg("frobnicate").run().assert_code(2);
    pxdeploy()
        .args(["status", "--output", "yaml"])
        .run()
        .assert_code(2);
}

#[test]
fn completions_are_printed_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = pxdeploy().args(["completions", shell]).run();
        r.assert_code(0).assert_stdout_contains("pxdeploy");
    }
}

#[test]
fn missing_config_exits_3_and_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    in_dir(dir.path())
        .arg("status")
        .run()
        .assert_code(3)
        .assert_stderr_contains("pxdeploy.toml");
}

#[test]
fn invalid_config_exits_3_naming_the_field_and_opens_no_connection() {
    let sim = SimHost::builder().without_sim().start();
    let dir = small_app();
    sim.write_config(dir.path(), "[container]\nvmid = 42\n");
    let before = sim.connection_count();
    in_dir(dir.path())
        .arg("status")
        .run()
        .assert_code(3)
        .assert_stderr_contains("container.vmid");
    // An unknown key names its line.
    let text = sim.config_toml("") + "\n[backup]\nkeep_lats = 3\n";
    std::fs::write(dir.path().join("pxdeploy.toml"), text).unwrap();
    in_dir(dir.path())
        .arg("check")
        .run()
        .assert_code(3)
        .assert_stderr_contains("keep_lats");
    assert_eq!(
        sim.connection_count(),
        before,
        "no connection for a bad config"
    );
}

#[test]
fn json_failure_is_one_document_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = in_dir(dir.path()).args(["status", "-o", "json"]).run();
    r.assert_code(3);
    let doc = r.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["kind"], "config");
}

#[test]
fn unknown_host_key_exits_4_with_the_fingerprint_and_the_fix() {
    let sim = SimHost::start();
    let dir = small_app();
    let empty = dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    sim.write_config(
        dir.path(),
        &format!("[proxmox]\nknown_hosts = \"{}\"\n", empty.display()),
    );
    let r = in_dir(dir.path()).arg("status").run();
    r.assert_code(4)
        .assert_stderr_contains("SHA256:")
        .assert_stderr_contains("ssh-keyscan");
    assert!(sim.calls().is_empty(), "nothing ran on the host");
}

#[test]
fn check_passes_against_the_simulated_node_over_one_connection() {
    let sim = SimHost::start();
    let dir = small_app();
    sim.write_config(dir.path(), "");
    let before = sim.connection_count();
    let r = in_dir(dir.path()).arg("check").run();
    r.assert_code(0)
        .assert_stdout_contains("✓ ssh")
        .assert_stdout_contains("✓ proxmox")
        .assert_stdout_contains("✓ bridge")
        .assert_stdout_contains("✓ vmid");
    assert_eq!(
        sim.connection_count() - before,
        1,
        "one SSH connection per run"
    );

    // A missing bridge and storage: ✗ lines with the fix, non-zero exit.
    sim.write_config(
        dir.path(),
        "[container]\nbridge = \"vmbr9\"\nstorage = \"tank\"\n",
    );
    let r = in_dir(dir.path()).args(["check", "-o", "json"]).run();
    assert_ne!(r.status, 0, "{}", r.dump());
    let doc = r.json();
    assert_eq!(doc["ok"], false);
    let failed: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["storage", "bridge"], "{}", r.dump());
}

#[test]
fn check_on_a_host_without_pct_asks_whether_it_is_a_proxmox_node() {
    // A plain Debian host: no simulator on the PATH.
    let sim = SimHost::builder()
        .without_sim()
        .sshd_extra("SetEnv PATH=/usr/sbin:/usr/bin:/sbin:/bin")
        .start();
    let dir = small_app();
    sim.write_config(dir.path(), "");
    in_dir(dir.path())
        .arg("check")
        .run()
        .assert_stdout_contains("is this a Proxmox VE node?");
    assert_ne!(0, in_dir(dir.path()).arg("check").run().status);
}

#[test]
fn status_of_a_missing_container_exits_5_with_the_create_hint() {
    let sim = SimHost::start();
    let dir = small_app();
    sim.write_config(dir.path(), "");
    in_dir(dir.path())
        .arg("status")
        .run()
        .assert_code(5)
        .assert_stderr_contains("does not exist")
        .assert_stderr_contains("pxdeploy create");
}

/// Text from the node never reaches a terminal raw (issue 22): `pct create` failing with a
/// title-setting and a screen-clearing sequence in its error, run at `-vvv` on a
/// pseudo-terminal, shows them escaped (in the log's `stderr=` field and in the error), and
/// the terminal receives no ESC or BEL at all (`--color never`: pxdeploy's own colours off).
#[test]
fn control_sequences_from_the_node_never_reach_the_terminal() {
    let sim = SimHost::builder().template_cached(true).start();
    let dir = small_app();
    sim.write_config(dir.path(), "");
    sim.set_knob(
        "create_fail",
        "\"disk full\\u001b]0;pwned\\u0007\\u001b[2J\"",
    );
    let run = in_dir(dir.path())
        .on_pty()
        .env("TERM", "xterm")
        .args(["-vvv", "--color", "never", "create"])
        .run();
    run.assert_code(5);
    let escaped = "disk full\\x1b]0;pwned\\x07\\x1b[2J";
    assert!(
        run.stdout.matches(escaped).count() >= 2,
        "the node's text is not shown escaped in the log and the error:\n{}",
        run.dump()
    );
    let raw: Vec<(usize, &str)> = run
        .stdout
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(['\x1b', '\x07']))
        .collect();
    assert!(
        raw.is_empty(),
        "control characters reached the terminal: {raw:?}"
    );
}

#[test]
fn refused_port_exits_4_quickly() {
    let dir = small_app();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = dir.path().join("id");
    std::fs::write(&key, "").unwrap();
    std::fs::write(
        dir.path().join("pxdeploy.toml"),
        format!(
            "[proxmox]\nhost = \"127.0.0.1\"\nport = {port}\n\n[container]\nvmid = 210\nhostname = \"app\"\n\n[app]\nname = \"app\"\n"
        ),
    )
    .unwrap();
    let r = in_dir(dir.path()).arg("status").run();
    r.assert_code(4);
    assert!(r.duration.as_secs() < 2, "took {:?}", r.duration);
}
