//! Containers managed by Proxmox's HA manager, on the file's shared cluster. A real
//! `pct start/stop/shutdown` of such a container only queues a request and exits 0; the CRM
//! acts 10–20 s later. The tests that pin pxdeploy's waiting set the simulated CRM's delay
//! for their container to a realistic 12 s (`ha_delay.<vmid>` on every node: any member's
//! call runs a round); the others keep the simulator's 2 s.

use std::time::Duration;

use super::{app_via, cluster, pct_status, run, Cluster};
use crate::support::{unique_vmid, SimHost};

/// Seconds the simulated CRM waits before it acts on a request: a real one's rounds.
const REALISTIC_HA_DELAY: &str = "12";
const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

/// `knob.<vmid>` = `value` on every member (each call on any of them runs a CRM round).
fn set_on_all(c: &Cluster, knob: &str, vmid: u32, value: &str) {
    for node in &c.nodes {
        node.set_knob(&format!("{knob}.{vmid}"), value);
    }
}

/// `service ct:<vmid> (<node>, <state>)` of `ha-manager status` on `node`.
fn ha_state(node: &SimHost, vmid: u32) -> String {
    let r = node.host_run(&["ha-manager", "status"]);
    let prefix = format!("service ct:{vmid} (");
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("ct:{vmid} not in `ha-manager status`\n{}", r.dump()))
        .trim_end_matches(')')
        .to_string()
}

/// Polls `pct status` on `node` (each call is also a round of the simulated HA manager)
/// until it prints `want`, at most `secs` seconds; returns the last status.
fn wait_status(node: &SimHost, vmid: u32, want: &str, secs: u64) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let now = pct_status(node, vmid).stdout.trim().to_string();
        if now == want || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn ha_containers_go_through_the_ha_manager() {
    let c = cluster();
    let pve1 = c.node("pve1");
    let vmid = unique_vmid(7);
    let id = vmid.to_string();
    let app = app_via(c, "pve1", vmid, "ha = true\n");
    let resources = pve1.state_dir().join("etc/pve/ha/resources.cfg");

    run(app.path(), &["create"]).assert_success();
    let cfg = std::fs::read_to_string(&resources).unwrap();
    assert!(
        cfg.contains(&format!("ct: {vmid}\n\tstate started\n")),
        "{cfg}"
    );
    assert_eq!(
        pve1.calls_matching(&["ha-manager", "add"])
            .iter()
            .filter(|call| call.argv.contains(&format!("ct:{vmid}")))
            .count(),
        1
    );

    // A stop behind the HA manager's back is undone (why pxdeploy never uses a plain one).
    let run_json = pve1.state_dir().join(format!("ct/{vmid}/run.json"));
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    let pid = info["init_pid"].as_i64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert_eq!(
        wait_status(pve1, vmid, "status: stopped", 5),
        "status: stopped"
    );
    assert_eq!(
        wait_status(pve1, vmid, "status: running", 30),
        "status: running"
    );

    // pxdeploy stop: the HA manager's own stop, waited for; it stays stopped
    let r = run(app.path(), &["stop"]);
    r.assert_success();
    assert!(
        r.stderr.contains("Asking the HA manager to stop"),
        "{}",
        r.dump()
    );
    assert_eq!(pct_status(pve1, vmid).stdout.trim(), "status: stopped");
    assert!(std::fs::read_to_string(&resources)
        .unwrap()
        .contains(&format!("ct: {vmid}\n\tstate stopped\n")));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(wait_status(pve1, vmid, "", 0), "status: stopped");
    assert!(
        pve1.calls_of(vmid)
            .iter()
            .all(|call| !call.starts_with(&["pct", "stop"])
                && !call.starts_with(&["pct", "shutdown"]))
    );

    let r = run(app.path(), &["start"]);
    r.assert_success();
    assert_eq!(pct_status(pve1, vmid).stdout.trim(), "status: running");

    let r = run(app.path(), &["check"]);
    assert!(
        r.stdout
            .contains(&format!("ha: ct:{vmid} is HA-managed: started on pve1")),
        "{}",
        r.dump()
    );
    assert!(r.stderr.contains("is not shared"), "{}", r.dump());

    // destroy: the HA resource goes first, then the container
    run(app.path(), &["destroy", "--yes"]).assert_success();
    let calls: Vec<String> = pve1.calls().iter().map(|call| call.line()).collect();
    let removed = calls
        .iter()
        .position(|l| l == &format!("ha-manager remove ct:{vmid}"))
        .expect("ha-manager remove");
    let destroyed = calls
        .iter()
        .position(|l| l.starts_with(&format!("pct destroy {id}")))
        .expect("pct destroy");
    assert!(removed < destroyed, "{calls:?}");
    assert!(!std::fs::read_to_string(&resources)
        .unwrap()
        .contains(&format!("ct: {vmid}")));
}

#[test]
fn restore_and_rollback_of_an_ha_container_wait_for_the_ha_manager() {
    let c = cluster();
    let pve1 = c.node("pve1");
    let vmid = unique_vmid(9);
    let id = vmid.to_string();
    let app = app_via(c, "pve1", vmid, "ha = true\n");
    run(app.path(), &["create"]).assert_success();
    set_on_all(c, "ha_delay", vmid, REALISTIC_HA_DELAY);
    run(app.path(), &["backup"]).assert_success();

    // restore: `pct shutdown` only asks the HA manager; `pct restore --force` on the still
    // running container would die `can't overwrite running container`.
    let r = run(app.path(), &["restore", "--latest", "--yes"]);
    r.assert_success();
    r.assert_stderr_contains(&format!(
        "Waiting for the HA manager to stop container {vmid}"
    ));
    r.assert_stderr_contains(&format!(
        "Waiting for the HA manager to start container {vmid}"
    ));
    r.assert_stderr_contains("restored from");
    assert_eq!(pct_status(pve1, vmid).stdout.trim(), "status: running");
    assert_eq!(ha_state(pve1, vmid), "pve1, started");

    // rollback --snapshot: `pct rollback` leaves it stopped; the start is the HA manager's.
    pve1.host_run(&["pct", "snapshot", &id, "before"])
        .assert_code(0);
    let r = run(app.path(), &["rollback", "--snapshot", "before", "--yes"]);
    r.assert_success();
    r.assert_stderr_contains(&format!(
        "Waiting for the HA manager to start container {vmid}"
    ));
    assert_eq!(pct_status(pve1, vmid).stdout.trim(), "status: running");
    assert_eq!(ha_state(pve1, vmid), "pve1, started");

    run(app.path(), &["destroy", "--yes"]).assert_success();
}

#[test]
fn a_failed_ha_start_is_an_error_naming_the_ha_state() {
    let c = cluster();
    let pve1 = c.node("pve1");
    let vmid = unique_vmid(10);
    let id = vmid.to_string();
    // HA-managed by hand on the host: the config does not say `ha = true`.
    pve1.host_run(&["pct", "create", &id, TEMPLATE, "--rootfs", "local-lvm:4"])
        .assert_code(0);
    set_on_all(c, "ha_delay", vmid, REALISTIC_HA_DELAY);
    set_on_all(c, "start_fail", vmid, "1");
    pve1.host_run(&[
        "ha-manager",
        "add",
        &format!("ct:{vmid}"),
        "--state",
        "stopped",
    ])
    .assert_code(0);
    let app = app_via(c, "pve1", vmid, "[backup]\nmode = \"stop\"\n");

    // `pct start` exits 0 having only asked; the start fails later, and the HA manager
    // shows `starting`, then `error`.
    let r = run(app.path(), &["start"]);
    r.assert_code(5);
    r.assert_stderr_contains(&format!(
        "container {vmid} did not start: the HA manager shows it in state `error`"
    ));
    r.assert_stderr_contains(&format!("ha-manager set ct:{vmid} --state disabled"));
    assert_eq!(pct_status(pve1, vmid).stdout.trim(), "status: stopped");
    assert_eq!(ha_state(pve1, vmid), "pve1, error");

    // vzdump's stop mode on an HA container that should run: Proxmox's refusal, and the fix.
    let r = run(app.path(), &["backup"]);
    r.assert_code(5);
    r.assert_stderr_contains(
        "Cannot execute a backup with stop mode on a HA managed and enabled Service",
    );
    r.assert_stderr_contains("mode = \"snapshot\"");

    pve1.host_run(&["ha-manager", "remove", &format!("ct:{vmid}")])
        .assert_code(0);
    pve1.host_run(&["pct", "destroy", &id]).assert_code(0);
}
