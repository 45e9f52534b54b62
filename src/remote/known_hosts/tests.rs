use super::*;

fn blob(kind: &str, fill: u8) -> Vec<u8> {
    let mut b = (kind.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind.as_bytes());
    b.extend_from_slice(&[0, 0, 0, 32]);
    b.extend_from_slice(&[fill; 32]);
    b
}

fn line(names: &str, b: &[u8]) -> String {
    format!("{names} {} {}\n", key_type(b).unwrap(), STANDARD.encode(b))
}

fn db(text: &str) -> KnownHosts {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    fs::write(&path, text).unwrap();
    KnownHosts::load(&[path])
}

#[test]
fn plain_port_and_case() {
    let k = blob("ssh-ed25519", 1);
    let h = db(&line("[PVE.lan]:2222", &k));
    assert_eq!(
        h.check(&lookup_name("pve.LAN", 2222, None), &k),
        HostKeyStatus::Known
    );
    // A plain entry does not vouch for another port, and port 22 uses the plain name.
    assert_eq!(
        h.check(&lookup_name("pve.lan", 22, None), &k),
        HostKeyStatus::Unknown
    );
    let h = db(&line("pve.lan", &k));
    assert_eq!(
        h.check(&lookup_name("pve.lan", 22, None), &k),
        HostKeyStatus::Known
    );
}

#[test]
fn hashed_names_match() {
    let k = blob("ssh-ed25519", 1);
    let h = db(&line(
        &hash_name("[127.0.0.1]:2222", b"0123456789abcdefghij"),
        &k,
    ));
    assert_eq!(h.check("[127.0.0.1]:2222", &k), HostKeyStatus::Known);
    assert_eq!(h.check("[127.0.0.1]:2223", &k), HostKeyStatus::Unknown);
}

#[test]
fn a_key_of_another_type_than_the_recorded_one_is_changed_as_in_openssh() {
    let ed = blob("ssh-ed25519", 1);
    let ec = blob("ecdsa-sha2-nistp256", 2);
    // known_hosts has only an ecdsa key; the server offers ed25519: HOST_CHANGED.
    let h = db(&line("pve", &ec));
    match h.check("pve", &ed) {
        HostKeyStatus::Changed {
            recorded,
            other_type,
        } => {
            assert!(other_type);
            assert_eq!(recorded.len(), 1);
            assert_eq!(recorded[0].key_type, "ecdsa-sha2-nistp256");
            assert_eq!(recorded[0].fingerprint, fingerprint(&ec));
            assert!(recorded[0].line.ends_with("known_hosts:1"), "{recorded:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.key_types("pve"), vec!["ecdsa-sha2-nistp256".to_string()]);
    // Both types recorded: the matching one is known.
    let h = db(&format!("{}{}", line("pve", &ec), line("pve", &ed)));
    assert_eq!(h.check("pve", &ed), HostKeyStatus::Known);
    // Same type, other key: changed, naming the keys of that type only.
    let h = db(&format!(
        "{}{}",
        line("pve", &ec),
        line("pve", &blob("ssh-ed25519", 9))
    ));
    match h.check("pve", &ed) {
        HostKeyStatus::Changed {
            recorded,
            other_type,
        } => {
            assert!(!other_type);
            let fps: Vec<_> = recorded.iter().map(|r| r.fingerprint.clone()).collect();
            assert_eq!(fps, vec![fingerprint(&blob("ssh-ed25519", 9))]);
            assert!(recorded[0].line.ends_with(":2"));
        }
        other => panic!("{other:?}"),
    }
    // Entries for other hosts, and @revoked entries, do not make a key "changed".
    let h = db(&format!(
        "{}@revoked pve {} {}\n",
        line("other", &ec),
        key_type(&ec).unwrap(),
        STANDARD.encode(&ec)
    ));
    assert_eq!(h.check("pve", &ed), HostKeyStatus::Unknown);
}

#[test]
fn revoked_wins_and_bad_lines_are_skipped() {
    let k = blob("ssh-ed25519", 1);
    let long = format!("# {}\n", "x".repeat(9000));
    let text = format!(
        "{long}@cert-authority *.lan ssh-ed25519 AAAA\ngarbage line\n{}@revoked * {} {}\n",
        line("pve", &k),
        key_type(&k).unwrap(),
        STANDARD.encode(&k)
    );
    let h = db(&text);
    assert!(matches!(h.check("pve", &k), HostKeyStatus::Revoked { .. }));
}

#[test]
fn patterns_and_negation() {
    let k = blob("ssh-ed25519", 1);
    let h = db(&line("*.lan,!bad.lan,10.0.0.?", &k));
    assert_eq!(h.check("pve.lan", &k), HostKeyStatus::Known);
    assert_eq!(h.check("bad.lan", &k), HostKeyStatus::Unknown);
    assert_eq!(h.check("10.0.0.7", &k), HostKeyStatus::Known);
    assert_eq!(h.check("10.0.0.17", &k), HostKeyStatus::Unknown);
}

#[test]
fn append_adds_one_line_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/known_hosts");
    let k = blob("ssh-ed25519", 1);
    append(&path, "[h]:2", &k, false).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"# no newline")
        .unwrap();
    append(&path, "[h]:3", &k, true).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.starts_with("[h]:2 ssh-ed25519 "));
    let h = KnownHosts::load(&[path]);
    assert_eq!(h.check("[h]:3", &k), HostKeyStatus::Known);
}

#[test]
fn only_plain_names_are_ever_recorded() {
    for ok in [
        "pve.lan",
        "[127.0.0.2]:2222",
        "10.0.0.1",
        "fd00::2",
        "[fd00::2]:22",
    ] {
        assert!(recordable(ok), "{ok}");
    }
    for bad in [
        "pwn,*",
        "*",
        "[pwn,*]:22",
        "[*]:22",
        "a?",
        "!a",
        "a|b",
        "[a]:x",
        "a b",
        "a\n* x",
        "a\t",
        "",
        "[]:22",
        "@revoked",
        "a#",
        "a'",
        "a\"",
        "a\\b",
        "[a]b]:22",
    ] {
        assert!(!recordable(bad), "{bad:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let k = blob("ssh-ed25519", 1);
    assert!(append(&path, "[pwn,*]:22", &k, false).is_err());
    assert!(!path.exists(), "nothing written");
}

#[test]
fn fingerprint_is_openssh_style() {
    // ssh-keygen -lf of this key prints SHA256:… with no '=' padding.
    let fp = fingerprint(&blob("ssh-ed25519", 1));
    assert!(fp.starts_with("SHA256:") && !fp.ends_with('='), "{fp}");
    assert_eq!(fp.len(), 7 + 43);
}
