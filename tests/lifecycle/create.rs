//! `create` with DHCP on a node without the template, then the same container through its
//! lifecycle: a re-run with drift, stop/start/restart, backups and their retention.

use super::*;

#[test]
fn create_with_dhcp_then_rerun_drift_stop_start_restart_and_backups() {
    let sim = SimHost::start(); // template not cached: create must download it
    let app = app_dir(&sim, "[backup]\nkeep_last = 2");

    // create: template downloaded, explicit unprivileged + features, IP printed.
    let r = px(app.path(), &["create"]);
    r.assert_code(0);
    let ip =
        lan_ip(&r.stdout).unwrap_or_else(|| panic!("create printed no IP on stdout\n{}", r.dump()));
    assert!(
        !sim.calls_matching(&["pveam", "download", "local"])
            .is_empty(),
        "the template was not downloaded: {:#?}",
        sim.call_argvs()
    );
    let creates = sim.calls_matching(&["pct", "create", VMID]);
    assert_eq!(creates.len(), 1, "{creates:#?}");
    let line = creates[0].line();
    assert!(
        line.contains("--unprivileged 1 --features nesting=1,keyctl=1"),
        "{line}"
    );
    assert!(line.contains("ip=dhcp"), "{line}");
    assert!(
        line.contains("local:vztmpl/debian-12-standard_"),
        "newest debian-12 template expected: {line}"
    );
    assert_eq!(creates[0].exit, 0);
    let v = sim.host_run(&["pct", "exec", VMID, "--", "docker", "compose", "version"]);
    v.assert_code(0);
    assert!(v.stdout.contains("Docker Compose version"), "{}", v.dump());
    let inside = sim.host_run(&["pct", "exec", VMID, "--", "ip", "-4", "-o", "addr"]);
    assert!(
        inside.stdout.contains(&format!("{ip}/")),
        "printed IP {ip} is not the container's\n{}",
        inside.dump()
    );

    // Re-run: nothing changed, no second `pct create`, one JSON document.
    let r = px(app.path(), &["create", "-o", "json"]);
    r.assert_code(0);
    let doc = json_doc(&r, true);
    assert_eq!(doc["created"], false, "{}", r.dump());
    assert_eq!(doc["ip"], ip.as_str(), "{}", r.dump());
    assert!(
        doc["drift"].as_array().is_some_and(|d| d.is_empty()),
        "{}",
        r.dump()
    );
    let r = px(app.path(), &["create"]);
    r.assert_code(0);
    assert!(r.stderr.contains("nothing changed"), "{}", r.dump());
    assert_eq!(sim.calls_matching(&["pct", "create"]).len(), 1);

    // Drift: memory edited on the host is named.
    set_conf_line(&sim, "memory", "memory: 1024");
    let r = px(app.path(), &["create"]);
    r.assert_code(0);
    let drift_line = r
        .stderr
        .lines()
        .find(|l| l.contains("differs"))
        .unwrap_or_else(|| panic!("no drift listed\n{}", r.dump()));
    assert!(
        drift_line.contains("memory") && drift_line.contains("1024"),
        "{}",
        r.dump()
    );
    assert_eq!(sim.calls_matching(&["pct", "create"]).len(), 1);
    assert!(conf(&sim).contains("memory: 1024"), "create changed memory");

    // stop twice, start twice, restart.
    px(app.path(), &["stop"]).assert_code(0);
    pct_status(&sim).assert_stdout_contains("status: stopped");
    let r = px(app.path(), &["stop", "-o", "json"]);
    r.assert_code(0);
    assert!(r.stderr.contains("already stopped"), "{}", r.dump());
    assert_eq!(json_doc(&r, true)["changed"], false);
    assert_eq!(sim.calls_matching(&["pct", "shutdown"]).len(), 1);

    px(app.path(), &["start"]).assert_code(0);
    pct_status(&sim).assert_stdout_contains("status: running");
    let r = px(app.path(), &["start", "-o", "json"]);
    r.assert_code(0);
    assert!(r.stderr.contains("already running"), "{}", r.dump());
    assert_eq!(json_doc(&r, true)["changed"], false);
    assert_eq!(sim.calls_matching(&["pct", "start"]).len(), 2); // create's + start's

    let r = px(app.path(), &["restart", "-o", "json"]);
    r.assert_code(0);
    json_doc(&r, true);
    assert_eq!(sim.calls_matching(&["pct", "reboot"]).len(), 1);
    pct_status(&sim).assert_stdout_contains("status: running");

    // restart during a backup: a real reboot stops a locked container and Proxmox then
    // refuses to start it; pxdeploy refuses first, naming the lock, and the app stays up.
    add_conf_line(&sim, "lock: backup");
    let r = px(app.path(), &["restart"]);
    r.assert_code(5);
    r.assert_stderr_contains(&format!(
        "container {VMID} is locked (`backup`): a backup is running"
    ));
    r.assert_stderr_contains("pxdeploy restart");
    pct_status(&sim).assert_stdout_contains("status: running");
    assert_eq!(sim.calls_matching(&["pct", "reboot"]).len(), 1);
    sim.host_run(&["pct", "unlock", VMID]).assert_code(0);

    // `ha = true` with `[backup] mode = "stop"`: Proxmox refuses every such backup, so the
    // config does, before connecting (exit 3, with the fix).
    let ha_stop = app_dir(&sim, "[container]\nha = true\n[backup]\nmode = \"stop\"");
    let before = sim.call_argvs().len();
    for command in ["check", "backup"] {
        let r = px(ha_stop.path(), &[command]);
        r.assert_code(3);
        r.assert_stderr_contains("backup.mode");
        r.assert_stderr_contains("\"snapshot\" or \"suspend\"");
    }
    assert_eq!(sim.call_argvs().len(), before, "{:#?}", sim.call_argvs());

    // Backups: keep_last = 2 leaves exactly two archives.
    let mut volids = Vec::new();
    for _ in 0..3 {
        let r = px(app.path(), &["backup"]);
        r.assert_code(0);
        let volid = r.stdout.trim().to_string();
        assert!(
            volid.starts_with(&format!("local:backup/vzdump-lxc-{VMID}-"))
                && volid.ends_with(".tar.zst"),
            "printed volid: {volid:?}\n{}",
            r.dump()
        );
        volids.push(volid);
    }
    let vz = sim.calls_matching(&["vzdump", VMID]);
    assert!(
        vz[0].line().contains("--prune-backups keep-last=2"),
        "{}",
        vz[0].line()
    );
    let r = px(app.path(), &["backup", "--list", "-o", "json"]);
    r.assert_code(0);
    let doc = json_doc(&r, true);
    let listed: Vec<&str> = doc["backups"]
        .as_array()
        .unwrap_or_else(|| panic!("no backups array\n{}", r.dump()))
        .iter()
        .map(|b| b["volid"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [volids[1].as_str(), volids[2].as_str()],
        "{}",
        r.dump()
    );
    let r = px(app.path(), &["backup", "--list"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&volids[2]) && !r.stdout.contains(&volids[0]),
        "{}",
        r.dump()
    );

    // To a Proxmox Backup Server storage: vzdump says `creating Proxmox Backup Server archive
    // 'ct/210/<UTC time>Z'` and prunes on the server (no `removing backup` lines).
    sim.set_knob("storage_pbs", "1");
    let pbs = app_dir(&sim, "[backup]\nstorage = \"pbs\"\nkeep_last = 2");
    let mut snaps = Vec::new();
    for i in 0..3 {
        let r = px(pbs.path(), &["backup"]);
        r.assert_code(0);
        let volid = r.stdout.trim().to_string();
        assert!(
            volid.starts_with(&format!("pbs:backup/ct/{VMID}/20")) && volid.ends_with('Z'),
            "printed volid: {volid:?}\n{}",
            r.dump()
        );
        if i == 2 {
            r.assert_stderr_contains("pruned 1 older backup(s) on pbs (keep-last=2)");
        }
        snaps.push(volid);
    }
    let r = px(pbs.path(), &["backup", "--list", "-o", "json"]);
    let doc = json_doc(&r, true);
    let listed: Vec<(&str, &str)> = doc["backups"]
        .as_array()
        .unwrap_or_else(|| panic!("no backups array\n{}", r.dump()))
        .iter()
        .map(|b| {
            (
                b["volid"].as_str().unwrap(),
                b["date"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    let when = |v: &str| {
        let t = v.rsplit('/').next().unwrap();
        format!("{} {} UTC", &t[..10], &t[11..19])
    };
    assert_eq!(
        listed,
        [
            (snaps[1].as_str(), when(&snaps[1]).as_str()),
            (snaps[2].as_str(), when(&snaps[2]).as_str())
        ],
        "{}",
        r.dump()
    );
    let r = px(pbs.path(), &["backup", "--list"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with(&snaps[2]) && l.contains(&when(&snaps[2]))),
        "{}",
        r.dump()
    );

    // vzdump's failure: exit 5 with the reason, still one JSON document.
    sim.set_knob("vzdump_fail", "\"disk on fire\"");
    let r = px(app.path(), &["backup", "-o", "json"]);
    r.assert_code(5);
    assert!(r.stderr.contains("disk on fire"), "{}", r.dump());
    let doc = json_doc(&r, false);
    assert!(
        doc["error"]["message"].is_string(),
        "error without message: {}",
        r.dump()
    );
}
