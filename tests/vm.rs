//! Issue 25: an app in a QEMU VM, end to end against the simulated node (vm-sim's `qm`: a
//! real `sshd` and a real `dockerd` in the VM, the cloud-init data pxdeploy writes applied
//! in it). One node and one VM for the whole file: `create --dry-run` (every `qm` call
//! listed, nothing made), `create` (image downloaded with its checksum, host key recorded
//! before the first start, named steps, the private key gone from the snippet afterwards),
//! a second `create` (nothing changes), `deploy`, the unchanged redeploy (nothing pushed),
//! a change, `rollback`, a `[deploy] snapshot` and `rollback --snapshot`, `[monitor]` (the
//! watcher in the VM: a killed service's `exited` reaches a receiver on the node's LAN),
//! `stop`/`start`/`restart`, `backup`, `restore`, a VM that presents
//! another host key (exit 4), `destroy`; then the VM made again with a cloud-init that
//! fails (exit 5 with the log's tail); then one config with a container target and a VM
//! target, both created and deployed, the VM one with `ha = true` (stop/start through the
//! HA manager, `vm:<vmid>` removed with it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::receiver::Receiver;
use crate::support::sim::merge;
use crate::support::{pxdeploy, write, Run, SimHost};

const VMID: u32 = 220;

/// One service from `base:local` that comes back after the VM restarts.
const COMPOSE: &str = "services:\n  web:\n    image: base:local\n    pull_policy: never\n    network_mode: none\n    restart: unless-stopped\n    command: [\"sleep\", \"3600\"]\n    stop_grace_period: 1s\n";
const ALIAS: &str = "pxdeploy-vm-220.pve";

/// The test config with `[vm]` instead of `[container]` (plus `extra`).
fn vm_config(sim: &SimHost, dir: &Path, extra: &str) {
    let mut t = sim.config_table();
    t.remove("container");
    let vm: toml::Table = format!(
        "[vm]\nvmid = {VMID}\nname = \"vmapp\"\nimage = \"debian-12\"\nimage_storage = \"local\"\nstorage = \"local-lvm\"\ndisk_gb = 8\nmemory_mb = 1024\ncores = 1\nbridge = \"vmbr0\"\nip = \"dhcp\"\n{extra}"
    )
    .parse()
    .unwrap();
    merge(&mut t, vm);
    write(dir.join("pxdeploy.toml"), &toml::to_string(&t).unwrap());
}

fn px(dir: &Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(dir)
        .args(args)
        .timeout(Duration::from_secs(600))
        .run()
}

/// `sh -c script` inside the VM through the guest agent (as root): (exit code, stdout).
#[track_caller]
fn in_vm(sim: &SimHost, vmid: u32, script: &str) -> (i64, String) {
    let id = vmid.to_string();
    let r = sim.host_run(&[
        "qm",
        "guest",
        "exec",
        &id,
        "--timeout",
        "60",
        "--",
        "sh",
        "-c",
        script,
    ]);
    r.assert_success();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("qm guest exec JSON");
    (
        v["exitcode"].as_i64().unwrap_or(-1),
        v["out-data"].as_str().unwrap_or("").to_string(),
    )
}

fn known_hosts(sim: &SimHost) -> String {
    std::fs::read_to_string(sim.known_hosts()).unwrap()
}

fn snippet(sim: &SimHost, which: &str) -> Option<String> {
    std::fs::read_to_string(
        sim.state_dir()
            .join(format!("var/lib/vz/snippets/pxdeploy-{VMID}-{which}.yaml")),
    )
    .ok()
}

#[track_caller]
fn ok_json(r: &Run) -> serde_json::Value {
    r.assert_success();
    let doc = r.json();
    assert_eq!(doc["ok"], serde_json::json!(true), "{}", r.dump());
    doc
}

/// Issue 25's speed goal (vm-open): an unchanged redeploy to a VM opens the VM's session
/// after ONE node call that asks its state, the node's name, net0 and the guest agent's
/// interfaces together (`src/scripts/vm-open.sh`): two node sessions in all with the deploy
/// lock. Before, six: `qm status` twice, `qm config`, the agent, `hostname`, the lock.
/// `sessions` and `calls`: the node's counts before the run `r`.
#[track_caller]
fn assert_the_node_was_asked_once(sim: &SimHost, sessions: usize, calls: usize, r: &Run) {
    let asked: Vec<Vec<String>> = sim.call_argvs().split_off(calls);
    assert_eq!(
        sim.session_count() - sessions,
        2,
        "node sessions of the unchanged redeploy (the lock, then one to open the VM's); node programs run: {asked:?}\n{}",
        r.dump()
    );
    // The one call still asked the state and the agent's interfaces (net0's MAC from the
    // VM's config file, no `qm config`).
    let id = VMID.to_string();
    assert!(
        !asked.iter().any(|a| a[..2] == ["qm", "config"]),
        "{asked:?}"
    );
    for argv in [
        vec!["qm", "status", &id],
        vec!["qm", "guest", "cmd", &id, "network-get-interfaces"],
    ] {
        assert_eq!(
            asked.iter().filter(|a| *a == &argv).count(),
            1,
            "{argv:?} in {asked:?}"
        );
    }
}

fn px_at_home(dir: &Path, home: &Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(dir)
        .home(home)
        .args(args)
        .timeout(Duration::from_secs(600))
        .run()
}

/// The file where the unchanged redeploy with HOME `home` remembered the VM's node and
/// address (src/guest/vm/remembered.rs).
fn remembered_file(sim: &SimHost, home: &Path) -> PathBuf {
    home.join(format!(
        ".local/state/pxdeploy/vm/{VMID}@127.0.0.1_{}",
        sim.port()
    ))
}

/// Issue 25's speed goal, second step: the next command in the same HOME connects to the
/// VM at the node and address remembered from the last run, with no node call but the
/// deploy lock's (before: the lock and vm-open.sh, whose `qm status` and guest agent are
/// two program starts on the node). An address that does not answer as the VM is
/// forgotten and the node asked again, in the same run.
fn the_vms_address_is_remembered(sim: &SimHost, app: &tempfile::TempDir, home: &Path) {
    let file = remembered_file(sim, home);
    let text = std::fs::read_to_string(&file).expect("the VM's address is remembered");
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "`<node> <address> <how>`: {text}");
    assert_eq!((fields[0], fields[2]), ("pve", "direct"), "{text}");
    fields[1]
        .parse::<std::net::IpAddr>()
        .expect("an IP address");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the folder is private");

    let (sessions, calls) = (sim.session_count(), sim.calls().len());
    let r = px_at_home(app.path(), home, &["-o", "json", "deploy"]);
    let doc = ok_json(&r);
    assert_eq!(
        doc["compose_up"],
        "skipped: nothing changed",
        "{}",
        r.dump()
    );
    let asked: Vec<Vec<String>> = sim.call_argvs().split_off(calls);
    assert!(
        !asked.iter().any(|a| a[0] == "qm"),
        "no `qm` call with the address remembered: {asked:?}\n{}",
        r.dump()
    );
    assert_eq!(
        sim.session_count() - sessions,
        1,
        "node sessions (the lock only): {asked:?}\n{}",
        r.dump()
    );

    // A stale address (nothing of the VM's there): the node is asked, the run succeeds,
    // and the right address is remembered again.
    std::fs::write(&file, "pve 127.0.0.1 direct\n").unwrap();
    let calls = sim.calls().len();
    let r = px_at_home(app.path(), home, &["-o", "json", "deploy"]);
    ok_json(&r);
    let asked: Vec<Vec<String>> = sim.call_argvs().split_off(calls);
    assert!(
        asked.iter().any(|a| a[..2] == ["qm", "status"]),
        "{asked:?}\n{}",
        r.dump()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn vm_from_nothing_to_deployed_and_back_to_nothing() {
    let sim = SimHost::start();
    let app = tempfile::tempdir().unwrap();
    write(app.path().join("docker-compose.yml"), COMPOSE);
    vm_config(&sim, app.path(), "");

    // --dry-run: every qm call listed, nothing made, nothing recorded.
    let r = px(app.path(), &["create", "--dry-run"]);
    r.assert_success();
    for line in [
        "download-url",
        &format!("qm create {VMID} "),
        &format!("qm disk resize {VMID} scsi0 8G"),
        &format!("qm start {VMID}"),
    ] {
        r.assert_stdout_contains(line);
    }
    assert!(
        sim.calls_matching(&["qm", "create"]).is_empty(),
        "{:#?}",
        sim.call_argvs()
    );
    assert!(!known_hosts(&sim).contains(ALIAS));

    // create: named steps, the image once, the key recorded before the first start.
    let r = px(app.path(), &["-o", "json", "create"]);
    let doc = ok_json(&r);
    assert_eq!(doc["guest"], "vm", "{}", r.dump());
    let ip = doc["ip"].as_str().unwrap_or_default().to_string();
    assert!(ip.starts_with("127."), "{}", r.dump());
    for step in ["guest agent", "cloud-init", "SSH", "Docker Compose"] {
        r.assert_stderr_contains(step);
    }
    assert_eq!(sim.calls_matching(&["qm", "create", "220"]).len(), 1);
    assert!(known_hosts(&sim).contains(&format!("{ALIAS} ssh-ed25519 ")));
    let user = snippet(&sim, "user")
        .expect("the user snippet stays (Proxmox rebuilds the drive at every start)");
    assert!(
        !user.contains("ssh_keys"),
        "the private host key is still on the node:\n{user}"
    );
    assert!(!user.contains("PRIVATE KEY"), "{user}");
    // … and the cloud-init drive was rebuilt from it at once.
    assert_eq!(
        sim.calls_matching(&["qm", "cloudinit", "update", "220"])
            .len(),
        1
    );

    // A second create changes nothing.
    let r = px(app.path(), &["create"]);
    r.assert_success();
    r.assert_stderr_contains("already exists");
    assert_eq!(sim.calls_matching(&["qm", "create", "220"]).len(), 1);

    // deploy, then the unchanged redeploy pushes nothing.
    let r = px(app.path(), &["-o", "json", "deploy"]);
    let doc = ok_json(&r);
    assert_eq!(doc["services"][0]["service"], "web", "{}", r.dump());
    assert_eq!(doc["guest"], "vm");
    let (code, ps) = in_vm(
        &sim,
        VMID,
        "docker compose -p app ps --format '{{.Service}} {{.State}}'",
    );
    assert_eq!((code, ps.trim()), (0, "web running"));
    let connections = sim.connection_count();
    let (sessions, calls) = (sim.session_count(), sim.calls().len());
    let home = tempfile::tempdir().unwrap();
    let r = px_at_home(app.path(), home.path(), &["-o", "json", "deploy"]);
    let doc = ok_json(&r);
    assert_eq!(doc["pushed"]["files"], 0, "{}", r.dump());
    assert_the_node_was_asked_once(&sim, sessions, calls, &r);
    // The VM's session rides the node's one connection (a direct-tcpip channel).
    assert_eq!(sim.connection_count(), connections + 1);
    assert_eq!(
        doc["compose_up"],
        "skipped: nothing changed",
        "{}",
        r.dump()
    );
    the_vms_address_is_remembered(&sim, &app, home.path());

    // status, exec and logs go through the VM's session too.
    let doc = ok_json(&px(app.path(), &["-o", "json", "status"]));
    assert_eq!(
        (
            doc["guest"].as_str(),
            doc["state"].as_str(),
            doc["ip"].as_str()
        ),
        (Some("vm"), Some("running"), Some(ip.as_str()))
    );
    let r = px(
        app.path(),
        &["exec", "web", "--", "sh", "-c", "echo in-$((40+2))"],
    );
    r.assert_success();
    assert_eq!(r.stdout.trim(), "in-42", "{}", r.dump());
    px(app.path(), &["logs", "--tail", "5"]).assert_success();

    // A change is pushed and becomes the current release; rollback goes back.
    write(app.path().join("extra.txt"), "v2\n");
    let r = px(app.path(), &["-o", "json", "deploy"]);
    let doc = ok_json(&r);
    assert_eq!(doc["pushed"]["files"], 1, "{}", r.dump());
    let (_, content) = in_vm(&sim, VMID, "cat /opt/app/extra.txt");
    assert_eq!(content, "v2\n");
    px(app.path(), &["rollback"]).assert_success();
    let (code, _) = in_vm(&sim, VMID, "test -e /opt/app/extra.txt");
    assert_ne!(code, 0, "the rollback left the changed file");

    // `[deploy] snapshot = true`: a `qm snapshot` before the deploy; `rollback --snapshot`
    // lists its `qm` line under --dry-run, then rolls the VM back and starts it again.
    vm_config(&sim, app.path(), "[deploy]\nsnapshot = true\n");
    write(app.path().join("extra.txt"), "v3\n");
    let r = px(app.path(), &["-o", "json", "deploy"]);
    ok_json(&r);
    r.assert_stderr_contains("of VM 220");
    assert!(!r.stderr.contains("container 220"), "{}", r.dump());
    let taken = sim.calls_matching(&["qm", "snapshot", "220"]);
    assert_eq!(taken.len(), 1, "{}", r.dump());
    let list = sim.host_run(&["qm", "listsnapshot", "220"]);
    assert!(list.stdout.contains("pxdeploy_"), "{}", list.dump());
    let r = px(app.path(), &["rollback", "--snapshot", "--dry-run"]);
    r.assert_success();
    r.assert_stdout_contains("qm rollback 220 pxdeploy_");
    assert!(sim.calls_matching(&["qm", "rollback"]).is_empty());
    let r = px(app.path(), &["rollback", "--snapshot", "--yes"]);
    r.assert_success();
    r.assert_stderr_contains("VM 220");
    assert_eq!(sim.calls_matching(&["qm", "rollback", "220"]).len(), 1);
    assert!(sim
        .host_run(&["qm", "status", "220"])
        .stdout
        .contains("running"));
    let (code, _) = in_vm(&sim, VMID, "test -e /opt/app/extra.txt");
    assert_ne!(code, 0, "the snapshot rollback left the v3 file");
    let (code, ps) = in_vm(
        &sim,
        VMID,
        "docker compose -p app ps --format '{{.Service}} {{.State}}'",
    );
    assert_eq!((code, ps.trim()), (0, "web running"));
    std::fs::remove_file(app.path().join("extra.txt")).unwrap();

    // `[monitor]`: the watcher installed inside the VM over its session, its state read by
    // `pxdeploy monitor`, and `monitor test` reaching a receiver on the node's LAN.
    let rx = Receiver::start(&sim, 18081);
    vm_config(
        &sim,
        app.path(),
        &format!(
            "[monitor]\ninterval_secs = 2\nwebhook = \"{}\"\n",
            rx.url("hook/vm")
        ),
    );
    let r = px(app.path(), &["-o", "json", "deploy"]);
    let doc = ok_json(&r);
    assert_eq!(doc["monitor"], "installed", "{}", r.dump());
    r.assert_stderr_contains("watcher in VM 220");
    let (code, _) = in_vm(
        &sim,
        VMID,
        "systemctl is-active pxdeploy-monitor-app.service",
    );
    assert_eq!(code, 0, "the watcher's unit is not active in the VM");
    let doc = ok_json(&px(app.path(), &["-o", "json", "monitor"]));
    assert_eq!(doc["running"], true, "{doc}");
    // `monitor test` runs in the VM (over its session) and reports each channel: the VM's
    // eth0 has a DHCP lease on the node's LAN (vmbr0, as a container's), where the
    // receiver listens on 192.0.2.1.
    let r = px(app.path(), &["monitor", "test"]);
    r.assert_success();
    r.assert_stdout_contains("webhook: ok");
    r.assert_stderr_contains("from VM 220");
    let hook = |r: &serde_json::Value, event: &str| -> Option<serde_json::Value> {
        let body: serde_json::Value = serde_json::from_str(r["body"].as_str()?).ok()?;
        (r["path"] == "/hook/vm" && body["event"] == event).then_some(body)
    };
    let test = rx.wait_for(10, "the test webhook", |r| hook(r, "test").is_some());
    let test = hook(&test, "test").unwrap();
    assert_eq!(
        (test["guest"].as_str(), test["vmid"].as_u64()),
        (Some("vmapp"), Some(220)),
        "{test}"
    );
    // A service killed in the VM: the watcher's `exited` arrives; started again: `recovered`.
    let (code, _) = in_vm(&sim, VMID, "docker kill app-web-1");
    assert_eq!(code, 0, "docker kill in the VM");
    let exited = rx.wait_for(30, "exited web", |r| {
        hook(r, "exited").is_some_and(|b| b["service"] == "web")
    });
    let exited = hook(&exited, "exited").unwrap();
    assert_eq!(exited["detail"], "web exited with code 137", "{exited}");
    assert_eq!(exited["vmid"], 220, "{exited}");
    let (code, _) = in_vm(&sim, VMID, "docker start app-web-1");
    assert_eq!(code, 0, "docker start in the VM");
    rx.wait_for(30, "recovered web", |r| {
        hook(r, "recovered").is_some_and(|b| b["service"] == "web")
    });

    // --dry-run of a lifecycle command names its qm call and runs none.
    let r = px(app.path(), &["stop", "--dry-run"]);
    r.assert_success();
    r.assert_stdout_contains("qm shutdown 220 --timeout 60");
    assert!(sim.calls_matching(&["qm", "shutdown", "220"]).is_empty());

    // stop / start / restart through qm.
    px(app.path(), &["stop"]).assert_success();
    assert_eq!(sim.calls_matching(&["qm", "shutdown", "220"]).len(), 1);
    assert!(sim
        .host_run(&["qm", "status", "220"])
        .stdout
        .contains("stopped"));
    px(app.path(), &["start"]).assert_success();
    let r = px(app.path(), &["restart", "--dry-run"]);
    r.assert_success();
    r.assert_stdout_contains("qm reboot 220 --timeout 60");
    px(app.path(), &["restart"]).assert_success();
    assert_eq!(sim.calls_matching(&["qm", "reboot", "220"]).len(), 1);

    // A backup job for the VM (the same job code as a container's).
    let doc = ok_json(&px(
        app.path(),
        &["-o", "json", "backup", "--schedule", "02:00"],
    ));
    assert_eq!(doc["guest"], "vm", "{doc}");
    let jobs = sim.host_run(&["pvesh", "get", "/cluster/backup", "--output-format", "json"]);
    assert!(jobs.stdout.contains("220"), "{}", jobs.dump());

    // backup, then restore from it.
    let r = px(app.path(), &["-o", "json", "backup"]);
    let doc = ok_json(&r);
    let archive = doc["archive"].as_str().unwrap_or_default().to_string();
    assert!(archive.contains("vzdump-qemu-220-"), "{}", r.dump());
    let r = px(app.path(), &["restore", "--latest", "--yes"]);
    r.assert_success();
    assert_eq!(
        sim.calls_matching(&["qmrestore"]).len(),
        1,
        "{:#?}",
        sim.call_argvs()
    );

    // The VM presents another host key: refused, exit 4, nothing run inside.
    let (code, _) = in_vm(
        &sim,
        VMID,
        "rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key",
    );
    assert_eq!(code, 0);
    // With its address remembered too: the remembered address leads to the same check.
    assert!(remembered_file(&sim, home.path()).exists());
    let r = px_at_home(app.path(), home.path(), &["deploy"]);
    r.assert_code(4);
    r.assert_stderr_contains("host key");
    r.assert_stderr_contains(ALIAS);

    // destroy: the VM, its snippets, its known_hosts line and its remembered address.
    std::fs::write(remembered_file(&sim, home.path()), "pve 127.0.0.1 direct\n").unwrap();
    let r = px_at_home(app.path(), home.path(), &["destroy", "--yes"]);
    r.assert_success();
    assert!(!remembered_file(&sim, home.path()).exists());
    assert!(sim.host_run(&["qm", "status", "220"]).status != 0);
    assert!(snippet(&sim, "user").is_none() && snippet(&sim, "meta").is_none());
    assert!(!known_hosts(&sim).contains(ALIAS), "{}", known_hosts(&sim));

    // A VM whose cloud-init fails (its runcmd): exit 5, with the end of its log.
    sim.set_knob("runcmd_fail.220", "1");
    let r = px(app.path(), &["create"]);
    r.assert_code(5);
    r.assert_stderr_contains("cloud-init failed in VM 220");
    r.assert_stderr_contains("pxsim: runcmd failed (knob runcmd_fail)");
    r.assert_stderr_contains("/var/log/cloud-init-output.log");
    px(app.path(), &["destroy", "--yes"]).assert_success();
    sim.unset_knob("runcmd_fail.220");

    // One config, a container target and a VM target: both are made and deployed.
    let mixed = tempfile::tempdir().unwrap();
    write(mixed.path().join("docker-compose.yml"), COMPOSE);
    let mut t = sim.config_table();
    let mut ct = t.remove("container").unwrap();
    ct.as_table_mut()
        .unwrap()
        .insert("vmid".into(), toml::Value::Integer(211));
    let vm: toml::Table = "vmid = 221\nname = \"vmtwo\"\nimage = \"debian-12\"\ndisk_gb = 8\nmemory_mb = 1024\ncores = 1\nha = true\n"
        .parse()
        .unwrap();
    let mut targets = toml::Table::new();
    let one = |key: &str, v: toml::Value| {
        let mut t = toml::Table::new();
        t.insert(key.into(), v);
        toml::Value::Table(t)
    };
    targets.insert("ct".into(), one("container", ct));
    targets.insert("vm".into(), one("vm", toml::Value::Table(vm)));
    t.insert("targets".into(), toml::Value::Table(targets));
    write(
        mixed.path().join("pxdeploy.toml"),
        &toml::to_string(&t).unwrap(),
    );
    px(mixed.path(), &["-t", "all", "create"]).assert_success();
    let r = px(mixed.path(), &["-t", "all", "-o", "json", "deploy"]);
    let doc = ok_json(&r);
    let text = doc.to_string();
    for want in [
        "\"guest\":\"container\"",
        "\"guest\":\"vm\"",
        "\"vmid\":211",
        "\"vmid\":221",
    ] {
        assert!(text.contains(want), "{want} not in {}", r.dump());
    }
    let (code, ps) = in_vm(
        &sim,
        221,
        "docker compose -p app ps --format '{{.Service}} {{.State}}'",
    );
    assert_eq!((code, ps.trim()), (0, "web running"));
    let ct_ps = sim.sh_in_container(
        211,
        "docker compose -p app ps --format '{{.Service}} {{.State}}'",
    );
    assert_eq!(ct_ps.stdout.trim(), "web running", "{}", ct_ps.dump());

    // The VM target has `ha = true`: registered as `vm:221`; stop and start only ask the HA
    // manager (`Requesting HA … for VM 221`) and pxdeploy waits until it has acted; destroy
    // takes the VM out of the HA manager first.
    let resources = || {
        std::fs::read_to_string(sim.state_dir().join("etc/pve/ha/resources.cfg"))
            .unwrap_or_default()
    };
    assert!(resources().contains("vm: 221"), "{}", resources());
    let r = px(mixed.path(), &["-t", "vm", "stop"]);
    r.assert_success();
    r.assert_stderr_contains("HA manager");
    assert!(
        sim.host_run(&["qm", "status", "221"])
            .stdout
            .contains("stopped"),
        "{}",
        r.dump()
    );
    let r = px(mixed.path(), &["-t", "vm", "start"]);
    r.assert_success();
    r.assert_stderr_contains("HA manager");
    assert!(sim
        .host_run(&["qm", "status", "221"])
        .stdout
        .contains("running"));
    let r = px(mixed.path(), &["-t", "vm", "destroy", "--yes"]);
    r.assert_success();
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(
        said.contains("Removing VM 221 from the HA manager"),
        "{}",
        r.dump()
    );
    assert!(!said.contains("container 221"), "{}", r.dump());
    assert!(!resources().contains("vm: 221"), "{}", resources());
}
