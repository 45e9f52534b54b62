//! The host keys of the other nodes of the cluster: a wrong one at the second hop, a member
//! whose address is a known_hosts pattern, a key unknown locally that the cluster's record
//! vouches for (or not).

use super::*;

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
    let vmid = unique_vmid(12);
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
    let vmid = unique_vmid(13);
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
