//! A VM on another node (issue 25, "clusters"): made, deployed, read and destroyed with
//! pve1's address only, its `qm` calls on pve2, its deploy lock on pve2 (where deploys
//! entering through any node meet), the VM's own session reached through pve1, then pve2.

use super::*;
use crate::support::sim::merge;

/// An app folder whose pxdeploy.toml points at `via` with a `[vm]` target placed on `node`.
fn vm_app_via(c: &Cluster, via: &str, vmid: u32, node: &str) -> tempfile::TempDir {
    let app = small_app();
    let mut t = c.node(via).config_table();
    t.remove("container");
    let extra: toml::Table = format!(
        "[proxmox]\nknown_hosts = \"{}\"\n[vm]\nvmid = {vmid}\nname = \"vmapp\"\nnode = \"{node}\"\nimage = \"debian-12\"\nimage_storage = \"local\"\nstorage = \"local-lvm\"\ndisk_gb = 8\nmemory_mb = 1024\ncores = 1\nbridge = \"vmbr0\"\nip = \"dhcp\"\n",
        c.known_hosts.display()
    )
    .parse()
    .unwrap();
    merge(&mut t, extra);
    write(
        app.path().join("pxdeploy.toml"),
        &toml::to_string(&t).unwrap(),
    );
    app
}

fn qm_status(node: &SimHost, vmid: u32) -> Run {
    node.host_run(&["qm", "status", &vmid.to_string()])
}

/// The lock file of `vmid` on `node` (the file stays after the lock is released).
fn has_lock_file(node: &SimHost, vmid: u32) -> bool {
    node.ssh(&format!("test -e /run/pxdeploy/pxdeploy-{vmid}.lock"))
        .status
        == 0
}

#[test]
fn a_vm_on_another_node_is_made_deployed_and_destroyed_through_the_first() {
    let c = cluster();
    let vmid = unique_vmid(14);
    let id = vmid.to_string();
    let app = vm_app_via(c, "pve1", vmid, "pve2");

    let r = run(app.path(), &["-o", "json", "create"]);
    r.assert_success();
    assert_eq!(r.json()["guest"], "vm", "{}", r.dump());
    assert_eq!(
        qm_status(c.node("pve2"), vmid).stdout.trim(),
        "status: running"
    );
    // qm on pve1 does not know it (its config is pve2's), as the real qm answers
    let r = qm_status(c.node("pve1"), vmid);
    assert_eq!(
        r.stderr.trim(),
        format!("Configuration file 'nodes/pve1/qemu-server/{vmid}.conf' does not exist"),
        "{}",
        r.dump()
    );
    assert_eq!(
        c.node("pve2").calls_matching(&["qm", "create", &id]).len(),
        1
    );
    assert!(c
        .node("pve1")
        .calls_matching(&["qm", "create", &id])
        .is_empty());

    let r = run(app.path(), &["-o", "json", "deploy"]);
    r.assert_success();
    assert_eq!(r.json()["ok"], true, "{}", r.dump());
    assert_eq!(r.json()["services"][0]["service"], "web", "{}", r.dump());
    // the lock was taken where the VM lives: a deploy entering through pve2 would meet it
    assert!(has_lock_file(c.node("pve2"), vmid), "{}", r.dump());
    assert!(!has_lock_file(c.node("pve1"), vmid), "{}", r.dump());
    // every `qm` call of the deploy ran on pve2, where the VM is
    let id_calls = |node: &str| c.node(node).calls_matching(&["qm", "status", &id]);
    assert!(
        id_calls("pve1").iter().all(|call| call.exit != 0),
        "{:?}",
        id_calls("pve1")
    );
    // The unchanged redeploy remembers the VM's node and address (`routed`: not the node
    // entered); the next one in the same HOME asks no `qm` on any node: the lock moves the
    // connection to pve2, and the VM's session opens there.
    let home = tempfile::tempdir().unwrap();
    let at_home = |args: &[&str]| {
        pxdeploy()
            .current_dir(app.path())
            .home(home.path())
            .args(args)
            .timeout(Duration::from_secs(240))
            .run()
    };
    let r = at_home(&["deploy"]);
    r.assert_success();
    r.assert_stderr_contains("nothing changed");
    let file = home.path().join(format!(
        ".local/state/pxdeploy/vm/{vmid}@127.0.0.1_{}",
        c.node("pve1").port()
    ));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("pve2 ") && text.ends_with(" routed\n"),
        "{text}"
    );
    let qm_calls = |node: &str| {
        c.node(node)
            .call_argvs()
            .into_iter()
            .filter(|a| a[0] == "qm")
            .count()
    };
    let before = (qm_calls("pve1"), qm_calls("pve2"));
    let r = at_home(&["deploy"]);
    r.assert_success();
    r.assert_stderr_contains("nothing changed");
    assert_eq!((qm_calls("pve1"), qm_calls("pve2")), before, "{}", r.dump());

    let r = run(app.path(), &["-o", "json", "status"]);
    r.assert_success();
    let doc = r.json();
    assert_eq!(
        (
            doc["guest"].as_str(),
            doc["node"].as_str(),
            doc["state"].as_str()
        ),
        (Some("vm"), Some("pve2"), Some("running")),
        "{}",
        r.dump()
    );
    let r = run(app.path(), &["status"]);
    assert!(r.stdout.contains("node: pve2"), "{}", r.dump());

    let r = run(app.path(), &["destroy", "--yes"]);
    r.assert_success();
    assert_ne!(qm_status(c.node("pve2"), vmid).status, 0);
    assert_eq!(
        c.node("pve2").calls_matching(&["qm", "destroy", &id]).len(),
        1
    );
    let kh = std::fs::read_to_string(&c.known_hosts).unwrap();
    assert!(!kh.contains(&format!("pxdeploy-vm-{vmid}.")), "{kh}");
    // every command entered through pve1: the config names no other node's address
    assert!(!std::fs::read_to_string(app.path().join("pxdeploy.toml"))
        .unwrap()
        .contains("127.0.0.2"));
}
