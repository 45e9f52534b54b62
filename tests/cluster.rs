//! Proxmox clusters: a simulated cluster of four nodes (one sshd each, on 127.0.0.1 to
//! 127.0.0.4 with the same port, one shared /etc/pve), shared by every test of this file.
//! pxdeploy is configured with the first node's address only. pve4 is offline; free
//! memory: pve3 > pve2 > pve1. HA-managed containers: `cluster/ha.rs`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::app::deploy_holding_the_lock;
use crate::support::{
    known_hosts_trusting, pxdeploy, run_bounded, unique_vmid, write, Run, SimHost,
};

mod ha;

/// A one-service app that comes back after a container restart.
fn small_app() -> tempfile::TempDir {
    let dir = crate::support::small_app();
    write(
        dir.path().join("docker-compose.yml"),
        &format!(
            "{}    restart: unless-stopped\n",
            crate::support::app::SMALL_COMPOSE
        ),
    );
    dir
}

struct Cluster {
    nodes: Vec<SimHost>,
    /// A known_hosts file trusting every node.
    known_hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn node(&self, name: &str) -> &SimHost {
        let i = ["pve1", "pve2", "pve3", "pve4"]
            .iter()
            .position(|n| *n == name)
            .unwrap();
        &self.nodes[i]
    }
}

/// Never dropped: launch.py's watchdog tears the nodes down when the test process ends.
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let first = SimHost::builder()
            .node("pve1")
            .template_cached(true)
            .cluster("lab", None, None)
            .start();
        let mut nodes = vec![];
        for (name, ip) in [
            ("pve2", "127.0.0.2"),
            ("pve3", "127.0.0.3"),
            ("pve4", "127.0.0.4"),
        ] {
            nodes.push(
                SimHost::builder()
                    .node(name)
                    .template_cached(true)
                    .cluster("lab", Some(&first), Some(ip))
                    .start(),
            );
        }
        nodes.insert(0, first);
        const GIB: u64 = 1 << 30;
        for (node, used) in nodes.iter().zip([6 * GIB, 5 * GIB, GIB / 2, 0]) {
            node.set_knob("mem", &used.to_string());
        }
        nodes[3].set_knob("offline", "1");
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<&SimHost> = nodes.iter().collect();
        let known_hosts = known_hosts_trusting(dir.path().join("known_hosts"), &all);
        Cluster {
            nodes,
            known_hosts,
            _dir: dir,
        }
    })
}

/// An app folder whose pxdeploy.toml points at node `via` (its address only).
fn app_via(c: &Cluster, via: &str, vmid: u32, extra: &str) -> tempfile::TempDir {
    let app = small_app();
    c.node(via).write_config(
        app.path(),
        &format!(
            "[proxmox]\nknown_hosts = \"{}\"\n[container]\nvmid = {vmid}\n{extra}",
            c.known_hosts.display()
        ),
    );
    app
}

fn run(app: &std::path::Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(app)
        .args(args)
        .timeout(Duration::from_secs(240))
        .run()
}

fn pct_status(node: &SimHost, vmid: u32) -> Run {
    node.host_run(&["pct", "status", &vmid.to_string()])
}

/// The test's end: its container stopped on `node` (the cluster is shared).
#[track_caller]
fn stop_on(node: &SimHost, vmid: u32) {
    node.host_run(&["pct", "stop", &vmid.to_string()])
        .assert_success();
}

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
fn a_wrong_host_key_at_the_second_hop_is_exit_4() {
    let c = cluster();
    let vmid = unique_vmid(4);
    c.node("pve2")
        .host_run(&[
            "pct",
            "create",
            &vmid.to_string(),
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "--rootfs",
            "local-lvm:4",
        ])
        .assert_success();
    // pve2's line carries pve3's key
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let key3 = c.node("pve3").host_public_key();
    let text = format!(
        "{}[127.0.0.2]:{} {key3}\n",
        std::fs::read_to_string(c.node("pve1").known_hosts()).unwrap(),
        c.node("pve2").port()
    );
    std::fs::write(&kh, text).unwrap();
    let app = small_app();
    c.node("pve1").write_config(
        app.path(),
        &format!(
            "[proxmox]\nknown_hosts = \"{}\"\n[container]\nvmid = {vmid}\n",
            kh.display()
        ),
    );
    let r = run(app.path(), &["status"]);
    assert_eq!(r.status, 4, "{}", r.dump());
    assert!(r.stderr.contains("pve2"), "{}", r.dump());
    c.node("pve2")
        .host_run(&["pct", "destroy", &vmid.to_string()])
        .assert_success();
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

/// A container created on `node` (not started) for a host key test.
fn container_on(c: &Cluster, node: &str, vmid: u32) {
    c.node(node)
        .host_run(&[
            "pct",
            "create",
            &vmid.to_string(),
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "--rootfs",
            "local-lvm:4",
        ])
        .assert_success();
}

/// An app entering through pve1 whose known_hosts (in `dir`) knows pve1 only, with
/// `host_key_check = "accept-new"`. Returns the app and the known_hosts path.
fn app_knowing_pve1_only(c: &Cluster, dir: &Path, vmid: u32) -> (tempfile::TempDir, PathBuf) {
    let kh = dir.join("known_hosts");
    std::fs::copy(c.node("pve1").known_hosts(), &kh).unwrap();
    let app = small_app();
    c.node("pve1").write_config(
        app.path(),
        &format!(
            "[proxmox]\nknown_hosts = \"{}\"\nhost_key_check = \"accept-new\"\n[container]\nvmid = {vmid}\n",
            kh.display()
        ),
    );
    (app, kh)
}

/// `type base64` of a node's RSA host key (the one pve-cluster records).
fn rsa_key(node: &SimHost) -> String {
    let text = std::fs::read_to_string(node.host_key_pub("rsa")).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The real OpenSSH client, `ssh -J <pve1> -p PORT <ip> true`, checking `kh` strictly
/// (its config file is handed to the jump's own ssh too).
fn real_ssh_through_pve1(c: &Cluster, dir: &Path, kh: &Path, ip: &str) -> Run {
    let pve1 = c.node("pve1");
    let cfg = dir.join("ssh_config");
    write(
        &cfg,
        &format!(
            "Host *\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 10\n",
            pve1.identity_file().display(),
            kh.display()
        ),
    );
    let mut cmd = std::process::Command::new("/usr/bin/ssh");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .arg("-F")
        .arg(&cfg)
        .arg("-J")
        .arg(format!("127.0.0.1:{}", pve1.port()))
        .args(["-p", &pve1.port().to_string(), ip, "echo", "through"]);
    run_bounded(
        cmd,
        format!("ssh -J pve1 {ip}"),
        None,
        Duration::from_secs(60),
    )
}

/// The cluster's data is data: a member whose `ip` in `/cluster/status` is `pwn,*` (a
/// known_hosts pattern that would match every host) is refused with exit 4 naming the
/// node, nothing is dialed and known_hosts is unchanged.
#[test]
fn a_member_whose_address_is_a_pattern_is_refused_and_nothing_is_written() {
    let c = cluster();
    let vmid = unique_vmid(9);
    container_on(c, "pve4", vmid);
    let members = c
        .node("pve1")
        .state_dir()
        .join("etc/pve/.pxsim-cluster.json");
    let set_ip = |ip: &str| {
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&members).unwrap()).unwrap();
        m["nodes"]["pve4"]["ip"] = ip.into();
        let tmp = members.with_extension("tmp-test");
        std::fs::write(&tmp, serde_json::to_string(&m).unwrap()).unwrap();
        std::fs::rename(&tmp, &members).unwrap();
    };
    set_ip("pwn,*");
    let dir = tempfile::tempdir().unwrap();
    let (app, kh) = app_knowing_pve1_only(c, dir.path(), vmid);
    let before = std::fs::read_to_string(&kh).unwrap();
    let r = run(app.path(), &["status"]);
    set_ip("127.0.0.4");
    assert_eq!(r.status, 4, "{}", r.dump());
    assert!(
        r.stderr
            .contains("node pve4 has the address \"pwn,*\" in `pvesh get /cluster/status --output-format json`, which is not an IP address or a hostname"),
        "{}",
        r.dump()
    );
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), before);
    c.node("pve4")
        .host_run(&["pct", "destroy", &vmid.to_string()])
        .assert_success();
}

/// pve2's key is not in known_hosts, but the cluster's record (read through pve1) has it:
/// trusted, said so, and recorded under the name pxdeploy dials, so that the real `ssh -J`
/// agrees afterwards (and did not before).
#[test]
fn an_unknown_node_key_matching_the_clusters_record_is_trusted_and_recorded() {
    let c = cluster();
    let vmid = unique_vmid(10);
    container_on(c, "pve2", vmid);
    let dir = tempfile::tempdir().unwrap();
    let (app, kh) = app_knowing_pve1_only(c, dir.path(), vmid);
    let before = std::fs::read_to_string(&kh).unwrap();
    let r = real_ssh_through_pve1(c, dir.path(), &kh, "127.0.0.2");
    assert_ne!(
        r.status,
        0,
        "plain ssh must not know pve2 yet: {}",
        r.dump()
    );

    let r = run(app.path(), &["status"]);
    r.assert_success();
    let pve2 = c.node("pve2");
    let dialed = format!("[127.0.0.2]:{}", pve2.port());
    assert!(
        r.stderr.contains(&format!(
            "of node pve2 (127.0.0.2:{}): it matches the cluster's record in /etc/pve/nodes/pve2/ssh_known_hosts (read through 127.0.0.1); added to {} as {dialed}",
            pve2.port(),
            kh.display()
        )),
        "{}",
        r.dump()
    );
    let after = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(after, format!("{before}{dialed} {}\n", rsa_key(pve2)));

    let r = real_ssh_through_pve1(c, dir.path(), &kh, "127.0.0.2");
    r.assert_success();
    assert_eq!(r.stdout.trim(), "through");
    // known now: no second record, no new line
    run(app.path(), &["status"]).assert_success();
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), after);
    c.node("pve2")
        .host_run(&["pct", "destroy", &vmid.to_string()])
        .assert_success();
}

/// pve3's key is not in known_hosts and the cluster's record does not vouch for it: exit 4
/// and nothing written, whether the record has another key or none; an older release's
/// record (`priv/known_hosts` only) vouches as well. The shared cluster's other tests know
/// pve3 from their own known_hosts, so they never read its record.
#[test]
fn an_unknown_node_key_the_cluster_does_not_vouch_for_is_exit_4() {
    let c = cluster();
    let vmid = unique_vmid(11);
    container_on(c, "pve3", vmid);
    let pve = c.node("pve1").state_dir().join("etc/pve");
    let node_file = pve.join("nodes/pve3/ssh_known_hosts");
    let priv_file = pve.join("priv/known_hosts");
    let saved = (
        std::fs::read_to_string(&node_file).unwrap(),
        std::fs::read_to_string(&priv_file).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (app, kh) = app_knowing_pve1_only(c, dir.path(), vmid);
    let before = std::fs::read_to_string(&kh).unwrap();

    // the record has pve2's key for pve3
    write(&node_file, &format!("pve3 {}", rsa_key(c.node("pve2"))));
    let r = run(app.path(), &["status"]);
    // no record at all (the node's file gone, priv/known_hosts without pve3)
    std::fs::remove_file(&node_file).unwrap();
    let none = run(app.path(), &["status"]);
    // before pve-cluster 8.0.6: priv/known_hosts has every node
    write(
        &priv_file,
        &format!("{}pve3 {}\n", saved.1, rsa_key(c.node("pve3"))),
    );
    let legacy = run(app.path(), &["status"]);
    write(&node_file, &saved.0);
    write(&priv_file, &saved.1);

    assert_eq!(r.status, 4, "{}", r.dump());
    assert!(
        r.stderr.contains("the host key of node pve3 (127.0.0.3:")
            && r.stderr
                .contains("does not match the cluster's record; refusing to connect"),
        "{}",
        r.dump()
    );
    assert_eq!(none.status, 4, "{}", none.dump());
    assert!(
        none.stderr.contains("the cluster has no record of it"),
        "{}",
        none.dump()
    );
    legacy.assert_success();
    assert!(
        legacy.stderr.contains(
            "it matches the cluster's record in /etc/pve/priv/known_hosts (read through 127.0.0.1)"
        ),
        "{}",
        legacy.dump()
    );
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(
        recorded,
        format!(
            "{before}[127.0.0.3]:{} {}\n",
            c.node("pve3").port(),
            rsa_key(c.node("pve3"))
        ),
        "only the vouched key is written"
    );
    c.node("pve3")
        .host_run(&["pct", "destroy", &vmid.to_string()])
        .assert_success();
}
