use super::*;

fn blob(kind: &str, fill: u8) -> Vec<u8> {
    let mut b = (kind.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind.as_bytes());
    b.extend_from_slice(&[0, 0, 0, 32]);
    b.extend_from_slice(&[fill; 32]);
    b
}

fn key_line(b: &[u8]) -> String {
    format!("{} {}", key_type(b).unwrap(), STANDARD.encode(b))
}

/// A target for `[127.0.0.1]:2222` whose known_hosts (in `dir`) holds `text`.
fn target(dir: &Path, text: &str, mode: HostKeyCheck) -> SshTarget {
    let kh = dir.join("known_hosts");
    std::fs::write(&kh, text).unwrap();
    let mut t = SshTarget::new("127.0.0.1", 2222);
    t.known_hosts = Some(kh);
    t.host_key_check = mode;
    t
}

#[test]
fn only_a_key_of_another_type_on_record_is_refused_in_both_modes_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ed = blob("ssh-ed25519", 1);
    let ec = blob("ecdsa-sha2-nistp256", 2);
    let text = format!("# mine\n[127.0.0.1]:2222 {}\n", key_line(&ed));
    for mode in [HostKeyCheck::Strict, HostKeyCheck::AcceptNew] {
        let t = target(dir.path(), &text, mode);
        let err = Checker::load(&t).unwrap().check(&t, &ec).unwrap_err();
        let msg = err.render();
        assert_eq!(err.exit_code(), 4, "{msg}");
        assert!(msg.contains("a key of another type is on record"), "{msg}");
        assert!(
            msg.contains(&fingerprint(&ec)),
            "offered fingerprint: {msg}"
        );
        assert!(
            msg.contains(&format!(
                "known_hosts:2 records ssh-ed25519 key {}",
                fingerprint(&ed)
            )),
            "{msg}"
        );
        // The hint verifies first, on the console, and only then adds exactly this key.
        let verify = msg
            .find("ssh-keygen -lf /etc/ssh/ssh_host_ecdsa_key.pub")
            .expect(&msg);
        let add = msg.find(">> ").expect(&msg);
        assert!(verify < add, "{msg}");
        assert!(msg.contains(&STANDARD.encode(&ec)), "{msg}");
        assert!(!msg.contains("ssh-keyscan"), "{msg}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("known_hosts")).unwrap(),
            text,
            "{mode:?} must not write known_hosts"
        );
    }
}

#[test]
fn unknown_under_accept_new_is_appended_but_not_without_a_user_file() {
    let dir = tempfile::tempdir().unwrap();
    let ec = blob("ecdsa-sha2-nistp256", 2);
    let t = target(dir.path(), "", HostKeyCheck::AcceptNew);
    Checker::load(&t).unwrap().check(&t, &ec).unwrap();
    let text = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
    assert_eq!(text, format!("[127.0.0.1]:2222 {}\n", key_line(&ec)));

    // UserKnownHostsFile none: nothing to record it in, so it is refused.
    let mut t = SshTarget::new("127.0.0.1", 2222);
    t.known_hosts = None;
    t.host_key_check = HostKeyCheck::AcceptNew;
    let err = Checker::load(&t).unwrap().check(&t, &ec).unwrap_err();
    assert_eq!(err.exit_code(), 4);
    assert!(
        err.render().contains("UserKnownHostsFile none"),
        "{}",
        err.render()
    );
}

#[test]
fn revoked_host_keys_file_refuses_a_listed_key() {
    let dir = tempfile::tempdir().unwrap();
    let ed = blob("ssh-ed25519", 1);
    let other = blob("ssh-ed25519", 3);
    let mut t = target(
        dir.path(),
        &format!("[127.0.0.1]:2222 {}\n", key_line(&ed)),
        HostKeyCheck::Strict,
    );
    let rev = dir.path().join("revoked");
    std::fs::write(&rev, format!("# old keys\n{} old@host\n\n", key_line(&ed))).unwrap();
    t.revoked_host_keys = Some(rev.clone());
    let c = Checker::load(&t).unwrap();
    let err = c.check(&t, &ed).unwrap_err();
    assert_eq!(err.exit_code(), 4);
    assert!(err.render().contains("revoked"), "{}", err.render());
    assert!(err.render().contains("RevokedHostKeys"), "{}", err.render());
    // Another key is judged by known_hosts as usual (here: same type, changed).
    assert!(c
        .check(&t, &other)
        .unwrap_err()
        .render()
        .contains("CHANGED"));

    // A binary KRL and a missing file are clear configuration errors.
    std::fs::write(&rev, b"SSHKRL\n\0\0\0\0\x01rest").unwrap();
    let err = Checker::load(&t).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.render().contains("KRL"), "{}", err.render());
    t.revoked_host_keys = Some(dir.path().join("missing"));
    assert_eq!(Checker::load(&t).unwrap_err().exit_code(), 3);
}

#[test]
fn offer_puts_recorded_types_first_or_only_the_configured_ones() {
    let supported = [
        "ecdsa-sha2-nistp256",
        "ssh-ed25519",
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-rsa",
    ];
    assert_eq!(
        offer(&["ssh-rsa".into()], None, &supported)
            .unwrap()
            .unwrap(),
        "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ecdsa-sha2-nistp256,ssh-ed25519"
    );
    assert_eq!(
        offer(&["ssh-ed25519".into()], None, &supported)
            .unwrap()
            .unwrap(),
        "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa"
    );
    assert_eq!(offer(&[], None, &supported).unwrap(), None);
    // HostKeyAlgorithms: only those, in the configured order, unsupported ones dropped.
    let configured: Vec<String> = [
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519",
        "rsa-sha2-256",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        offer(
            &["ecdsa-sha2-nistp256".into()],
            Some(&configured),
            &supported
        )
        .unwrap()
        .unwrap(),
        "ssh-ed25519,rsa-sha2-256"
    );
    let err = offer(
        &[],
        Some(&["sk-ssh-ed25519@openssh.com".into()]),
        &supported,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 3);
}

/// OpenSSH's "checking without port identifier": for `[host]:port`, a key recorded for the
/// bare host is found when nothing matches under the port name; never the other way round,
/// never for port 22 or a HostKeyAlias, and a changed key under the port name stays changed.
#[test]
fn a_key_recorded_without_the_port_matches_as_in_openssh() {
    let dir = tempfile::tempdir().unwrap();
    let ed = blob("ssh-ed25519", 1);
    let other = blob("ssh-ed25519", 2);
    let accepted = |text: &str, mode: HostKeyCheck| {
        let t = target(dir.path(), text, mode);
        Checker::load(&t).unwrap().check(&t, &ed)
    };
    for text in [
        format!("127.0.0.1 {}\n", key_line(&ed)),
        // the negation skips the line for `[127.0.0.1]:2222` only; the retry matches `*`
        format!("![127.0.0.1]:2222,* {}\n", key_line(&ed)),
        format!("{} {}\n", hash_of("127.0.0.1"), key_line(&ed)),
    ] {
        accepted(&text, HostKeyCheck::Strict).unwrap_or_else(|e| panic!("{text}{}", e.render()));
        // nothing is written, even under accept-new (OpenSSH never records keys that way)
        accepted(&text, HostKeyCheck::AcceptNew).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("known_hosts")).unwrap(),
            text
        );
    }
    // another key without the port: unknown, not changed (strict refuses it as unknown)
    let err = accepted(
        &format!("127.0.0.1 {}\n", key_line(&other)),
        HostKeyCheck::Strict,
    )
    .unwrap_err();
    assert!(err.render().contains("is unknown"), "{}", err.render());
    // a changed key under the port name is not rescued by a match without it
    let text = format!(
        "[127.0.0.1]:2222 {}\n127.0.0.1 {}\n",
        key_line(&other),
        key_line(&ed)
    );
    assert!(accepted(&text, HostKeyCheck::Strict)
        .unwrap_err()
        .render()
        .contains("CHANGED"));
    // revoked without the port: refused (stricter than OpenSSH, which would go on)
    let text = format!("@revoked 127.0.0.1 {}\n", key_line(&ed));
    let err = accepted(&text, HostKeyCheck::AcceptNew).unwrap_err();
    assert!(err.render().contains("revoked"), "{}", err.render());
    // HostKeyAlias and port 22 look up one name only
    let mut t = target(
        dir.path(),
        &format!("127.0.0.1 {}\n", key_line(&ed)),
        HostKeyCheck::Strict,
    );
    t.host_key_alias = Some("pve".into());
    assert!(Checker::load(&t).unwrap().check(&t, &ed).is_err());
    let mut t = target(
        dir.path(),
        &format!("127.0.0.1:22 {}\n", key_line(&ed)),
        HostKeyCheck::Strict,
    );
    t.port = 22;
    assert!(Checker::load(&t).unwrap().check(&t, &ed).is_err());
}

fn hash_of(name: &str) -> String {
    known_hosts::hash_name(name, b"0123456789abcdefghij")
}

fn record(keys: Vec<Vec<u8>>) -> vouched::ClusterRecord {
    vouched::ClusterRecord {
        node: "pve2".into(),
        source: "/etc/pve/nodes/pve2/ssh_known_hosts (read through pve1)".into(),
        keys,
        revoked: Vec::new(),
    }
}

/// A cluster node unknown to known_hosts: trusted only when the cluster's record has its
/// key (recorded under the dialed name with accept-new, not with strict); another key or
/// no key on record is exit 4 and writes nothing; known_hosts still decides first.
#[test]
fn an_unknown_cluster_node_is_trusted_only_when_the_clusters_record_has_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = blob("ssh-rsa", 7);
    let ed = blob("ssh-ed25519", 1);
    for mode in [HostKeyCheck::AcceptNew, HostKeyCheck::Strict] {
        let mut t = target(dir.path(), "# mine\n", mode);
        t.cluster_record = Some(record(vec![rsa.clone()]));
        Checker::load(&t).unwrap().check(&t, &rsa).unwrap();
        let text = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
        // recorded in both modes: the first node's record vouches, not first use
        assert_eq!(
            text,
            format!("# mine\n[127.0.0.1]:2222 {}\n", key_line(&rsa))
        );
        // another key than the record's: refused as a changed key, nothing written
        let t2 = {
            let mut t2 = target(dir.path(), "", mode);
            t2.cluster_record = t.cluster_record.clone();
            t2
        };
        let err = Checker::load(&t2).unwrap().check(&t2, &ed).unwrap_err();
        let msg = err.render();
        assert_eq!(err.exit_code(), 4, "{msg}");
        assert!(msg.contains("node pve2"), "{msg}");
        assert!(msg.contains("does not match the cluster's record"), "{msg}");
        assert!(msg.contains(&fingerprint(&rsa)), "{msg}");
        assert!(msg.contains(&fingerprint(&ed)), "{msg}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("known_hosts")).unwrap(),
            ""
        );
        // no key on record: no trust on first use either
        let mut t3 = target(dir.path(), "", mode);
        t3.cluster_record = Some(record(Vec::new()));
        let err = Checker::load(&t3).unwrap().check(&t3, &ed).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(
            err.render().contains("the cluster has no record of it"),
            "{}",
            err.render()
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("known_hosts")).unwrap(),
            ""
        );
    }
    // known_hosts wins: a changed key stays changed whatever the record says
    let mut t = target(
        dir.path(),
        &format!("[127.0.0.1]:2222 {}\n", key_line(&blob("ssh-rsa", 8))),
        HostKeyCheck::AcceptNew,
    );
    t.cluster_record = Some(record(vec![rsa.clone()]));
    assert!(Checker::load(&t)
        .unwrap()
        .check(&t, &rsa)
        .unwrap_err()
        .render()
        .contains("CHANGED"));
    // a key the record marks @revoked is refused
    let mut r = record(vec![rsa.clone()]);
    r.revoked = vec![rsa.clone()];
    let mut t = target(dir.path(), "", HostKeyCheck::AcceptNew);
    t.cluster_record = Some(r);
    assert!(Checker::load(&t)
        .unwrap()
        .check(&t, &rsa)
        .unwrap_err()
        .render()
        .contains("revoked"));
}
