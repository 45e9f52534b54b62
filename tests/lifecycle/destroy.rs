//! A static IP from the environment, a missing container, `--dry-run`, the privileged
//! variant, and `destroy`: refused without confirmation, on a real terminal, with `--yes`.

use super::*;

#[test]
fn static_ip_from_the_environment_and_destroy_confirmation() {
    let sim = SimHost::builder().template_cached(true).start();
    let app = app_dir(&sim, "");

    let r = pxdeploy()
        .current_dir(app.path())
        .env("PROXMOX_CONTAINER_IP", "192.0.2.50/24")
        .env("PROXMOX_CONTAINER_GATEWAY", "192.0.2.1")
        .args(["create", "-o", "json"])
        .run();
    r.assert_code(0);
    let doc = json_doc(&r, true);
    assert_eq!(doc["ip"], "192.0.2.50", "{}", r.dump());
    assert!(
        sim.calls_matching(&["pveam", "download"]).is_empty(),
        "a cached template must not be downloaded"
    );
    let text = conf(&sim);
    let net0 = text
        .lines()
        .find(|l| l.starts_with("net0:"))
        .unwrap_or_else(|| panic!("no net0 in\n{text}"));
    assert!(
        net0.contains("ip=192.0.2.50/24") && net0.contains("gw=192.0.2.1"),
        "{net0}"
    );

    // Without a terminal and without --yes: refused, nothing done.
    let r = px(app.path(), &["destroy", "-o", "json"]);
    r.assert_code(8);
    assert!(r.stderr.contains("--yes"), "{}", r.dump());
    json_doc(&r, false);
    pct_status(&sim).assert_stdout_contains("status: running");

    // Protection: refused naming the setting, even with --yes.
    add_conf_line(&sim, "protection: 1");
    let r = px(app.path(), &["destroy", "--yes"]);
    r.assert_code(8);
    assert!(r.stderr.contains("protection"), "{}", r.dump());
    pct_status(&sim).assert_stdout_contains("status: running");
    assert!(sim.calls_matching(&["pct", "destroy"]).is_empty());
    set_conf_line(&sim, "protection", "protection: 0");

    // On a real terminal: a wrong hostname aborts, the right one destroys.
    let r = on_pty(app.path(), "destroy", "wrong\n");
    r.assert_code(8);
    assert!(r.stdout.contains("Type the hostname"), "{}", r.dump());
    pct_status(&sim).assert_stdout_contains("status: running");
    // What `pct destroy --purge 1` removes with the container on a real node (pve-container
    // src/PVE/API2/LXC.pm 907-915): its firewall file, its backup jobs (a job of this
    // container alone entirely) and its HA resource; named before and after.
    let fw = sim.state_dir().join(format!("etc/pve/firewall/{VMID}.fw"));
    std::fs::create_dir_all(fw.parent().unwrap()).unwrap();
    std::fs::write(&fw, "[OPTIONS]\n\nenable: 1\n\n").unwrap();
    for (id, vmids) in [("pxdeploy-210", VMID), ("shared", "210,330")] {
        sim.host_run(&[
            "pvesh",
            "create",
            "/cluster/backup",
            "--id",
            id,
            "--schedule",
            "02:00",
            "--vmid",
            vmids,
            "--storage",
            "local",
        ])
        .assert_code(0);
    }
    sim.host_run(&["pct", "stop", VMID]).assert_code(0);
    sim.host_run(&["ha-manager", "add", "ct:210", "--state", "stopped"])
        .assert_code(0);
    let r = on_pty(app.path(), "destroy", "app\n");
    r.assert_code(0);
    assert!(r.stdout.contains("destroyed"), "{}", r.dump());
    assert!(
        r.stdout.contains("also:     firewall rules (/etc/pve/firewall/210.fw), backup job `pxdeploy-210`, container 210 from backup job `shared` (Proxmox removes them with the container)"),
        "{}",
        r.dump()
    );
    assert!(
        r.stdout.contains("destroyed; also removed by Proxmox with it: firewall rules (/etc/pve/firewall/210.fw), backup job `pxdeploy-210`, container 210 from backup job `shared`, HA resource `ct:210`"),
        "{}",
        r.dump()
    );
    assert!(!fw.exists(), "the firewall file survived the purge");
    let jobs = sim
        .host_run(&["pvesh", "get", "/cluster/backup", "--output-format", "json"])
        .stdout;
    assert!(
        !jobs.contains("pxdeploy-210") && jobs.contains(r#""vmid":"330""#),
        "{jobs}"
    );
    let ha = sim.host_run(&["ha-manager", "config"]).stdout;
    assert!(!ha.contains("ct:210"), "{ha}");
    let st = pct_status(&sim);
    assert!(
        st.stderr.contains("does not exist"),
        "container still there\n{}",
        st.dump()
    );
    assert_eq!(sim.calls_matching(&["pct", "destroy", VMID]).len(), 1);

    // Already gone: exit 0.
    let r = px(app.path(), &["destroy", "--yes", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(json_doc(&r, true)["destroyed"], false);
    assert_eq!(sim.calls_matching(&["pct", "destroy"]).len(), 1);
}

/// Runs `pxdeploy <args>` on a pseudo-terminal, typing `input`. stdout holds everything
/// the terminal showed.
fn on_pty(app: &Path, args: &str, input: &str) -> Run {
    pxdeploy()
        .on_pty()
        .current_dir(app)
        .arg(args)
        .stdin(input)
        .run()
}

#[test]
fn missing_container_dry_run_and_privileged_create_and_destroy_with_yes() {
    let sim = SimHost::builder().template_cached(true).start();
    let app = app_dir(&sim, "[container]\nunprivileged = false");

    // No container yet: stop/start/restart/backup/deploy say to create it (exit 5).
    for cmd in ["stop", "start", "restart", "backup", "deploy"] {
        let r = px(app.path(), &[cmd]);
        r.assert_code(5);
        assert!(r.stderr.contains("pxdeploy create"), "{}", r.dump());
    }
    let r = px(app.path(), &["stop", "-o", "json"]);
    r.assert_code(5);
    json_doc(&r, false);

    // --dry-run: the exact commands, nothing created.
    let r = px(app.path(), &["--dry-run", "create"]);
    r.assert_code(0);
    assert!(
        r.stdout.lines().any(
            |l| l.starts_with(&format!("pct create {VMID} ")) && l.contains("--unprivileged 0")
        ),
        "{}",
        r.dump()
    );
    assert!(sim.calls_matching(&["pct", "create"]).is_empty());
    assert!(sim.calls_matching(&["pct", "start"]).is_empty());
    assert!(!conf_path(&sim).exists());
    let r = px(app.path(), &["--dry-run", "create", "-o", "json"]);
    r.assert_code(0);
    let doc = json_doc(&r, true);
    assert!(
        doc["planned"].as_array().is_some_and(|p| p
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("pct create"))),
        "{}",
        r.dump()
    );
    assert!(sim.calls_matching(&["pct", "create"]).is_empty());

    // Privileged: a warning, nesting, AppArmor unconfined before any [section].
    let r = px(app.path(), &["create"]);
    r.assert_code(0);
    assert!(r.stderr.contains("privileged"), "{}", r.dump());
    assert!(r.stderr.contains("AppArmor"), "{}", r.dump());
    let line = sim.calls_matching(&["pct", "create"])[0].line();
    assert!(line.contains("--unprivileged 0"), "{line}");
    assert!(line.contains("nesting=1"), "{line}");
    let text = conf(&sim);
    let main = text.split("\n[").next().unwrap();
    assert!(
        main.lines()
            .any(|l| l == "lxc.apparmor.profile: unconfined"),
        "{text}"
    );
    assert!(!text.contains("unprivileged: 1"), "{text}");
    sim.host_run(&["pct", "exec", VMID, "--", "docker", "compose", "version"])
        .assert_code(0);

    // --yes --backup-first to a Proxmox Backup Server storage: backed up, then stopped and
    // purged; the snapshot stays on the server, and JSON names the backup job Proxmox deleted
    // with the container.
    sim.host_run(&[
        "pvesh",
        "create",
        "/cluster/backup",
        "--id",
        "pxdeploy-210",
        "--schedule",
        "02:00",
        "--vmid",
        VMID,
        "--enabled",
        "0",
    ])
    .assert_code(0);
    sim.set_knob("storage_pbs", "1");
    let pbs = app_dir(
        &sim,
        "[container]\nunprivileged = false\n[backup]\nstorage = \"pbs\"",
    );
    let r = px(
        pbs.path(),
        &["destroy", "--yes", "--backup-first", "-o", "json"],
    );
    r.assert_code(0);
    let doc = json_doc(&r, true);
    assert_eq!(doc["destroyed"], true);
    assert_eq!(
        doc["also_removed"],
        serde_json::json!({
            "firewall_file": null,
            "backup_jobs_deleted": ["pxdeploy-210"],
            "backup_jobs_changed": [],
            "backup_jobs_unexcluded": [],
            "ha_resource": false,
        }),
        "{}",
        r.dump()
    );
    let archive = doc["backup"].as_str().unwrap_or_default().to_string();
    assert!(
        archive.starts_with(&format!("pbs:backup/ct/{VMID}/")),
        "{}",
        r.dump()
    );
    sim.host_run(&["pvesm", "list", "pbs", "--content", "backup"])
        .assert_stdout_contains(&archive);
    let d = sim.calls_matching(&["pct", "destroy", VMID]);
    assert_eq!(d.len(), 1);
    assert!(d[0].line().contains("--purge"), "{}", d[0].line());
    assert!(!sim.calls_matching(&["pct", "shutdown", VMID]).is_empty());
    assert!(pct_status(&sim).stderr.contains("does not exist"));
    px(app.path(), &["destroy"]).assert_code(0);
}
