//! Issue 3: the container's lifecycle against the simulated node — `create` (template
//! download, DHCP and static IP, privileged variant, re-run with drift, `--dry-run`),
//! `stop`/`start`/`restart` idempotence, `restart` refused under a lock, `ha` with stop-mode
//! backups refused, `destroy` (refusal, protection, a real pty, `--yes`)
//! and `backup` (retention, `--list`, vzdump's failure; a Proxmox Backup Server storage, also
//! for `destroy --backup-first`). Each `create` costs seconds, so each
//! test walks one container through several steps.

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
