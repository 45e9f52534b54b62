//! Routing through the first node to the container's owner: what the simulated cluster
//! answers, deploy and lifecycle of a container on another node, a migration between two
//! deploys, the owner's deploy lock, placement by `create`.

use super::*;

#[test]
fn the_simulated_cluster_answers_like_proxmox() {
    let c = cluster();
    let vmid = unique_vmid(1);
    let id = vmid.to_string();
    c.node("pve2")
        .host_run(&[
            "pct",
            "create",
            &id,
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "--rootfs",
            "local-lvm:4",
            "--hostname",
            "elsewhere",
        ])
        .assert_success();
    // pct only reads the local node's config (docs/cluster.md, "How the container is found")
    let r = pct_status(c.node("pve1"), vmid);
    assert_eq!(r.status, 2, "{}", r.dump());
    assert_eq!(
        r.stderr.trim(),
        format!("Configuration file 'nodes/pve1/lxc/{vmid}.conf' does not exist")
    );
    let r = c.node("pve1").ssh(&format!("pct stop {vmid}"));
    assert_eq!(r.stderr.trim(), format!("CT {vmid} not running"));
    // the cluster view, through pve1's sshd
    let v: serde_json::Value = serde_json::from_str(
        &c.node("pve1")
            .ssh_ok("pvesh get /cluster/resources --type vm --output-format json"),
    )
    .unwrap();
    let g = v
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["vmid"] == vmid)
        .unwrap();
    assert_eq!(g["node"], "pve2");
    assert_eq!(g["status"], "stopped");
    let s: serde_json::Value = serde_json::from_str(
        &c.node("pve1")
            .ssh_ok("pvesh get /cluster/status --output-format json"),
    )
    .unwrap();
    let s = s.as_array().unwrap();
    assert_eq!(s[0]["type"], "cluster");
    assert_eq!(
        s[0]["nodes"], 4,
        "four members, pve4 offline: the count includes it"
    );
    let pve2 = s.iter().find(|e| e["name"] == "pve2").unwrap();
    assert_eq!(
        (pve2["ip"].as_str(), pve2["local"].as_i64()),
        (Some("127.0.0.2"), Some(0))
    );
    // the node's own /etc/pve/lxc is nodes/<node>/lxc
    let ls = c.node("pve2").ssh_ok("ls /etc/pve/lxc");
    assert!(ls.contains(&format!("{vmid}.conf")), "{ls}");
    assert!(!c
        .node("pve1")
        .ssh_ok("ls /etc/pve/lxc")
        .contains(&format!("{vmid}.conf")));
    // a stopped container migrates
    let r = c.node("pve2").ssh(&format!("pct migrate {vmid} pve3"));
    r.assert_success();
    assert!(r.stdout.contains(&format!(
        "starting migration of CT {vmid} to node 'pve3' (127.0.0.3)"
    )));
    assert!(r.stdout.contains("migration finished successfully"));
    assert_eq!(
        pct_status(c.node("pve3"), vmid).stdout.trim(),
        "status: stopped"
    );
    let r = c.node("pve3").ssh(&format!("pct migrate {vmid} pve3"));
    assert!(
        r.stderr.contains("target: target is local node."),
        "{}",
        r.dump()
    );
    let r = c.node("pve3").ssh(&format!("pct migrate {vmid} pve9"));
    assert_eq!(r.stderr.trim(), "no such cluster node 'pve9'");
    c.node("pve3")
        .host_run(&["pct", "destroy", &id])
        .assert_success();
}

#[test]
fn a_container_on_another_node_is_deployed_and_run_through_the_first() {
    let c = cluster();
    let vmid = unique_vmid(2);
    // created on pve2 (configured with pve2's address) ...
    let on_b = app_via(c, "pve2", vmid, "");
    run(on_b.path(), &["create"]).assert_success();
    // ... then used with pve1's address only
    let app = app_via(c, "pve1", vmid, "");
    let r = run(app.path(), &["-o", "json", "deploy"]);
    r.assert_success();
    assert_eq!(r.json()["ok"], true, "{}", r.dump());
    assert!(c
        .node("pve2")
        .calls_of(vmid)
        .iter()
        .any(|call| call.starts_with(&["pct", "exec"])));

    let r = run(app.path(), &["-o", "json", "status"]);
    r.assert_success();
    assert_eq!(r.json()["node"], "pve2", "{}", r.dump());
    assert_eq!(r.json()["state"], "running", "{}", r.dump());
    let r = run(app.path(), &["status"]);
    assert!(r.stdout.contains("node: pve2"), "{}", r.dump());

    let r = run(app.path(), &["logs", "--tail", "5"]);
    r.assert_success();

    run(app.path(), &["stop"]).assert_success();
    assert_eq!(
        pct_status(c.node("pve2"), vmid).stdout.trim(),
        "status: stopped"
    );
    run(app.path(), &["start"]).assert_success();
    assert_eq!(
        pct_status(c.node("pve2"), vmid).stdout.trim(),
        "status: running"
    );
    // every command entered through pve1: the config names no other node
    assert!(!std::fs::read_to_string(app.path().join("pxdeploy.toml"))
        .unwrap()
        .contains("127.0.0.2"));
    stop_on(c.node("pve2"), vmid);
}

#[test]
fn a_container_migrated_between_two_deploys_is_found() {
    let c = cluster();
    let vmid = unique_vmid(3);
    let app = app_via(c, "pve1", vmid, "");
    let pve1 = c.node("pve1");
    run(app.path(), &["create"]).assert_success();
    // on the node connected to, finding the container costs no call of its own
    let before = pve1.calls().len();
    run(app.path(), &["deploy"]).assert_success();
    // The pvesh calls of this test's runs: those of the SSH connections that also made a
    // call naming its container (other tests enter through pve1 at the same time).
    let pvesh = |from: usize| -> Vec<String> {
        let calls = pve1.calls()[from..].to_vec();
        let id = vmid.to_string();
        let ours: std::collections::HashSet<&str> = calls
            .iter()
            .filter(|call| call.argv.contains(&id))
            .map(|call| call.ssh.as_str())
            .collect();
        calls
            .iter()
            .filter(|call| call.program() == "pvesh" && ours.contains(call.ssh.as_str()))
            .map(|call| call.line())
            .collect()
    };
    assert_eq!(pvesh(before), Vec::<String>::new());
    let r = run(app.path(), &["-o", "json", "status"]);
    assert_eq!(r.json()["node"], "pve1", "{}", r.dump());
    run(app.path(), &["stop"]).assert_success();
    pve1.ssh(&format!("pct migrate {vmid} pve3"))
        .assert_success();
    let r = run(app.path(), &["-o", "json", "-vv", "deploy"]);
    r.assert_success();
    assert_eq!(r.json()["ok"], true, "{}", r.dump());
    // one remote call asked the cluster (counted in pxdeploy's own log: the deploy's
    // connection to pve1 now makes no call naming the container, the lock check finds it
    // elsewhere, so calls.log cannot tell it from other tests' connections)
    let asked: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("asking the cluster"))
        .collect();
    assert_eq!(asked.len(), 1, "{}", r.dump());
    assert!(
        asked[0].contains("pvesh get /cluster/resources --type vm --output-format json && echo && pvesh get /cluster/status --output-format json"),
        "{}",
        r.dump()
    );
    assert_eq!(
        pct_status(c.node("pve3"), vmid).stdout.trim(),
        "status: running"
    );
    stop_on(c.node("pve3"), vmid);
}

/// The deploy lock lives on the node that owns the container, whichever node a deploy
/// enters through: one entering through pve2 (the owner) holds it while its `pre_deploy`
/// hook waits for a file; one entering through pve1 is refused with exit 7 naming it.
#[test]
fn deploys_entering_through_two_nodes_share_the_owner_nodes_lock() {
    let c = cluster();
    let vmid = unique_vmid(8);
    let hook = "[hooks]\npre_deploy = \"i=0; while [ ! -e go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\"\n";
    let via_owner = app_via(c, "pve2", vmid, hook);
    run(via_owner.path(), &["create"]).assert_success();
    let holder = deploy_holding_the_lock(via_owner.path(), vmid, Duration::from_secs(240));
    let via_other = app_via(c, "pve1", vmid, "");
    let second = run(via_other.path(), &["deploy"]);
    write(via_owner.path().join("go"), "");
    second.assert_code(7).assert_stderr_contains(&format!(
        "another deploy of container {vmid} is running: alice@"
    ));
    holder.wait().assert_success();
    stop_on(c.node("pve2"), vmid);
}

#[test]
fn create_places_the_container_on_the_chosen_node() {
    let c = cluster();
    let vmid = unique_vmid(5);
    let app = app_via(c, "pve1", vmid, "node = \"auto\"\n");
    let r = run(app.path(), &["create"]);
    r.assert_success();
    assert!(
        r.stderr
            .contains("pve3 (the online node with the most free memory)"),
        "{}",
        r.dump()
    );
    assert_eq!(
        pct_status(c.node("pve3"), vmid).stdout.trim(),
        "status: running"
    );
    assert!(c
        .node("pve1")
        .calls_matching(&["pct", "create"])
        .iter()
        .all(|call| !call.argv.contains(&vmid.to_string())));
    stop_on(c.node("pve3"), vmid);

    for (wanted, why) in [
        ("pve4", "node pve4 is offline"),
        ("pve9", "there is no node pve9 in cluster lab"),
    ] {
        let vmid = unique_vmid(6);
        let app = app_via(c, "pve1", vmid, &format!("node = \"{wanted}\"\n"));
        let r = run(app.path(), &["create"]);
        assert_eq!(r.status, 3, "{}", r.dump());
        assert!(r.stderr.contains(why), "{}", r.dump());
        assert!(
            r.stderr.contains("online nodes: pve1, pve2, pve3"),
            "{}",
            r.dump()
        );
    }
}

/// A VM on another node (vm-open, issue 25): made on pve2, then deployed with pve1's
/// address only: the deploy lock is taken on pve2 (`lock-here.sh` knows VM configs too),
/// the VM's session opened through pve1 and pve2 with its host key checked under pve2's
/// alias, and the unchanged redeploy after it changes nothing.
#[test]
fn a_vm_on_another_node_is_deployed_through_the_first() {
    let c = cluster();
    let vmid = unique_vmid(14);
    let vm_app = |via: &str| {
        let app = tempfile::tempdir().unwrap();
        write(
            app.path().join("docker-compose.yml"),
            "services:\n  web:\n    image: base:local\n    pull_policy: never\n    network_mode: none\n    command: [\"sleep\", \"3600\"]\n",
        );
        let mut t = c.node(via).config_table();
        t.remove("container");
        let extra: toml::Table = format!(
            "[proxmox]\nknown_hosts = \"{}\"\n[vm]\nvmid = {vmid}\nname = \"vmroute\"\nimage = \"debian-12\"\nimage_storage = \"local\"\nstorage = \"local-lvm\"\ndisk_gb = 8\nmemory_mb = 1024\ncores = 1\nbridge = \"vmbr0\"\nip = \"dhcp\"\n",
            c.known_hosts.display()
        )
        .parse()
        .unwrap();
        crate::support::sim::merge(&mut t, extra);
        write(
            app.path().join("pxdeploy.toml"),
            &toml::to_string(&t).unwrap(),
        );
        app
    };
    let on_b = vm_app("pve2");
    run(on_b.path(), &["create"]).assert_success();
    let app = vm_app("pve1");
    let r = run(app.path(), &["-o", "json", "deploy"]);
    r.assert_success();
    assert_eq!(r.json()["ok"], true, "{}", r.dump());
    let id = vmid.to_string();
    // The deploy lock found the VM's node (its config under nodes/pve2/qemu-server) and
    // took the lock there, so every call after it ran on pve2: the lock's check at the
    // finish too (a lock taken on pve1 was "lost" there).
    let asked = |node: &str| c.node(node).calls_matching(&["qm", "status", &id]);
    assert!(asked("pve1").is_empty(), "{:?}", asked("pve1"));
    assert!(
        asked("pve2").iter().any(|call| call.exit == 0),
        "{}",
        r.dump()
    );
    let r = run(app.path(), &["deploy"]);
    r.assert_success();
    r.assert_stderr_contains("nothing changed");
    c.node("pve2")
        .host_run(&["qm", "stop", &id])
        .assert_success();
}
