//! Issue 9 (snapshots and restore) against the simulated node, one node for the whole file:
//! `[deploy] snapshot = true` takes `pxdeploy_*` snapshots before the deploy changes anything
//! and prunes them to `keep_snapshots` (never another snapshot); `rollback --snapshot` asks
//! like `destroy` and really brings the data back; `restore` from the newest backup brings the
//! old data back with healthy services, refuses without confirmation and lists the archives for
//! an unknown one, also from a Proxmox Backup Server storage; a container on `local` (dir)
//! storage is refused before any change, and `check` says so.

use std::path::Path;

use crate::support::{pxdeploy, Run, SimHost};

const VMID: &str = "210";
const DIR_VMID: &str = "211";
const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

fn app_dir(sim: &SimHost, extra_toml: &str) -> tempfile::TempDir {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("docker-compose.yml"),
        "services:\n  web:\n    image: base:local\n    pull_policy: never\n    network_mode: none\n    command: [\"sleep\", \"3600\"]\n    restart: unless-stopped\n    stop_grace_period: 1s\n",
    )
    .unwrap();
    sim.write_config(app.path(), extra_toml);
    app
}

fn px(app: &Path, args: &[&str]) -> Run {
    pxdeploy().current_dir(app).args(args).run()
}

/// `/opt/app/data.txt` inside the container (data the app owns, not pushed by pxdeploy).
fn data(sim: &SimHost, vmid: &str) -> String {
    let r = sim.host_run(&["pct", "exec", vmid, "--", "cat", "/opt/app/data.txt"]);
    r.assert_code(0);
    r.stdout.trim().to_string()
}

fn write_data(sim: &SimHost, vmid: &str, value: &str) {
    sim.host_run(&[
        "pct",
        "exec",
        vmid,
        "--",
        "sh",
        "-c",
        &format!("echo {value} > /opt/app/data.txt"),
    ])
    .assert_code(0);
}

/// The names of `pct listsnapshot`, without `current`.
fn snapshot_names(sim: &SimHost, vmid: &str) -> Vec<String> {
    let r = sim.host_run(&["pct", "listsnapshot", vmid]);
    r.assert_code(0);
    r.stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("`->"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "current")
        .map(str::to_string)
        .collect()
}

#[track_caller]
fn all_healthy(run: &Run) {
    let doc = run.json();
    assert_eq!(doc["ok"], true, "{}", run.dump());
    let services = doc["services"].as_array().expect("services in the JSON");
    assert!(!services.is_empty(), "{}", run.dump());
    for s in services {
        assert_eq!(s["ok"], true, "{s}\n{}", run.dump());
        assert_eq!(s["state"], "running", "{s}\n{}", run.dump());
    }
}

#[test]
fn snapshots_pruned_rollback_and_restore_bring_data_back_and_dir_storage_is_refused() {
    let sim = SimHost::builder().template_cached(true).start();
    let app = app_dir(&sim, "[deploy]\nsnapshot = true\nkeep_snapshots = 2\n");
    px(app.path(), &["create"]).assert_code(0);
    px(app.path(), &["deploy"]).assert_code(0);
    sim.host_run(&["pct", "snapshot", VMID, "manual-one"])
        .assert_code(0);

    // Two more deploys: each takes a pxdeploy_ snapshot before changing anything (before the
    // push), and only pxdeploy_ ones are pruned, to keep_snapshots.
    write_data(&sim, VMID, "before");
    std::fs::write(app.path().join("version.txt"), "v1\n").unwrap();
    px(app.path(), &["deploy"]).assert_code(0);
    std::fs::write(app.path().join("version.txt"), "v2\n").unwrap();
    px(app.path(), &["deploy"]).assert_code(0);
    // A deploy that changes nothing takes no snapshot (it would push a useful one out).
    let r = px(app.path(), &["deploy"]);
    r.assert_code(0);
    r.assert_stderr_contains("nothing changed since the last deploy");
    let snaps = snapshot_names(&sim, VMID);
    let ours: Vec<&String> = snaps
        .iter()
        .filter(|n| n.starts_with("pxdeploy_"))
        .collect();
    assert_eq!(ours.len(), 2, "{snaps:?}");
    assert!(snaps.contains(&"manual-one".to_string()), "{snaps:?}");
    assert_eq!(
        sim.calls_matching(&["pct", "snapshot", VMID]).len(),
        4,
        "three deploys that changed something, one manual: {:#?}",
        sim.call_argvs()
    );
    assert!(
        sim.calls_matching(&["pct", "delsnapshot", VMID])
            .iter()
            .all(|c| c.line().contains("pxdeploy_")),
        "{:#?}",
        sim.call_argvs()
    );

    // rollback --snapshot: refused without --yes and without a terminal, nothing run.
    write_data(&sim, VMID, "after");
    let r = px(app.path(), &["rollback", "--snapshot"]);
    r.assert_code(8);
    r.assert_stderr_contains("--yes");
    assert!(sim.calls_matching(&["pct", "rollback"]).is_empty());
    // An unknown name: exit 3 with the snapshots listed.
    let r = px(app.path(), &["rollback", "--snapshot", "nope", "--yes"]);
    r.assert_code(3);
    r.assert_stderr_contains("manual-one");
    // With --yes: the newest pxdeploy_ snapshot (taken before the last deploy, after "before"
    // was written), the container started again, services healthy.
    let r = px(
        app.path(),
        &["rollback", "--snapshot", "--yes", "-o", "json"],
    );
    r.assert_code(0);
    all_healthy(&r);
    assert_eq!(r.json()["snapshot"].as_str(), Some(ours[1].as_str()));
    assert_eq!(data(&sim, VMID), "before");
    // taken before the last deploy changed anything: the previous release's files
    let v = sim.host_run(&["pct", "exec", VMID, "--", "cat", "/opt/app/version.txt"]);
    assert_eq!(v.stdout.trim(), "v1", "{}", v.dump());
    sim.host_run(&["pct", "status", VMID])
        .assert_stdout_contains("status: running");

    // restore: from the newest backup after the data changed.
    px(app.path(), &["backup"]).assert_code(0);
    write_data(&sim, VMID, "changed");
    let r = px(app.path(), &["restore", "--latest"]);
    r.assert_code(8);
    assert!(sim.calls_matching(&["pct", "restore"]).is_empty());
    let r = px(
        app.path(),
        &[
            "restore",
            "local:backup/vzdump-lxc-210-2020_01_01-00_00_00.tar.zst",
            "--yes",
        ],
    );
    r.assert_code(3);
    r.assert_stderr_contains("local:backup/vzdump-lxc-210-");
    let r = px(app.path(), &["restore", "--latest", "--dry-run"]);
    r.assert_code(0);
    r.assert_stdout_contains("pct restore 210 local:backup/vzdump-lxc-210-");
    r.assert_stdout_contains("--force 1 --storage local-lvm");
    assert!(sim.calls_matching(&["pct", "restore"]).is_empty());
    let r = px(app.path(), &["restore", "--latest", "--yes", "-o", "json"]);
    r.assert_code(0);
    all_healthy(&r);
    assert_eq!(data(&sim, VMID), "before");
    let restores = sim.calls_matching(&["pct", "restore", VMID]);
    assert_eq!(restores.len(), 1);
    assert!(restores[0]
        .line()
        .ends_with("--force 1 --storage local-lvm"));

    // From a Proxmox Backup Server storage: `pct restore 210 pbs:backup/ct/210/<time>Z`; on a
    // terminal the archive and its time (UTC, from the snapshot's name) before the question.
    sim.set_knob("storage_pbs", "1");
    let pbs = app_dir(&sim, "[backup]\nstorage = \"pbs\"\n");
    let r = px(pbs.path(), &["backup"]);
    r.assert_code(0);
    let volid = r.stdout.trim().to_string();
    let time = volid.rsplit('/').next().unwrap_or_default();
    assert!(time.len() == 20 && time.ends_with('Z'), "{}", r.dump());
    write_data(&sim, VMID, "changed");
    let r = pxdeploy()
        .on_pty()
        .current_dir(pbs.path())
        .args(["restore", "--latest"])
        .stdin("app\n")
        .run();
    r.assert_code(0);
    r.assert_stdout_contains(&format!("archive: {volid}"));
    r.assert_stdout_contains(&format!("taken:   {} {} UTC", &time[..10], &time[11..19]));
    assert_eq!(data(&sim, VMID), "before");
    let restores = sim.calls_matching(&["pct", "restore", VMID]);
    assert_eq!(
        restores.last().map(|c| c.line()),
        Some(format!(
            "pct restore 210 {volid} --force 1 --storage local-lvm"
        ))
    );

    // Protection is honoured: exit 8, nothing run.
    sim.host_run(&["pct", "set", VMID, "--protection", "1"])
        .assert_code(0);
    let r = px(app.path(), &["restore", "--latest", "--yes"]);
    r.assert_code(8);
    r.assert_stderr_contains("protection");
    assert_eq!(sim.calls_matching(&["pct", "restore"]).len(), 2);

    // A forced restore that fails after the disks were touched: Proxmox leaves no container,
    // and the error says so.
    sim.host_run(&["pct", "set", VMID, "--protection", "0"])
        .assert_code(0);
    sim.set_knob("restore_fail", "\"simulated failure\"");
    let r = px(app.path(), &["restore", "--latest", "--yes"]);
    r.assert_code(5);
    r.assert_stderr_contains("simulated failure");
    r.assert_stderr_contains("container 210 is gone");
    sim.unset_knob("restore_fail");
    sim.host_run(&["pct", "status", VMID]).assert_code(2);

    // A container on `local` (dir): check says so, deploy is refused before any change.
    sim.set_knob("local_rootdir", "1");
    sim.host_run(&[
        "pct",
        "create",
        DIR_VMID,
        TEMPLATE,
        "--rootfs",
        "local:4",
        "--hostname",
        "dirapp",
    ])
    .assert_code(0);
    let dir_app = app_dir(
        &sim,
        &format!(
            "[container]\nvmid = {DIR_VMID}\nhostname = \"dirapp\"\n[deploy]\nsnapshot = true\n"
        ),
    );
    let r = px(dir_app.path(), &["check"]);
    assert_ne!(r.status, 0, "{}", r.dump());
    r.assert_stdout_contains(
        "rootfs is on storage `local` (dir), which cannot snapshot a container",
    );
    let before = sim.call_argvs().len();
    let r = px(dir_app.path(), &["deploy"]);
    r.assert_code(5);
    r.assert_stderr_contains("cannot be snapshotted");
    r.assert_stderr_contains("snapshot = false");
    let after = sim.call_argvs();
    let changes: Vec<&Vec<String>> = after[before..]
        .iter()
        .filter(|a| {
            a.len() > 1
                && a[0] == "pct"
                && !matches!(a[1].as_str(), "status" | "config" | "listsnapshot")
        })
        .collect();
    assert!(changes.is_empty(), "changed before refusing: {changes:#?}");
    sim.host_run(&["pct", "status", DIR_VMID])
        .assert_stdout_contains("status: stopped");
}
