//! Host keys: unknown, changed, `accept-new`, hashed entries, a key of another type, several
//! keys, `RevokedHostKeys`, `UserKnownHostsFile none`, `HostKeyAlgorithms`.

use super::*;

#[test]
fn unknown_host_key_is_refused_with_its_fingerprint_and_the_fix() {
    let sshd = Sshd::start();
    let t = sshd.untrusted_target();
    let err = Session::connect(&t)
        .err()
        .expect("an unknown host key must be refused");
    let text = err.render();
    assert_eq!(err.kind, ErrorKind::Ssh, "{text}");
    assert_eq!(err.exit_code(), 4);
    assert!(
        text.contains(&sshd.host_fingerprint()),
        "fingerprint missing: {text}"
    );
    assert!(
        text.contains(&format!(
            "ssh-keyscan -p {} -t ed25519 127.0.0.1 >> ",
            sshd.port
        )),
        "fix missing: {text}"
    );
    assert!(text.contains("accept-new"), "{text}");
    assert!(!kh(&t).exists(), "strict mode must not write known_hosts");
}

#[test]
fn a_changed_host_key_is_refused_with_both_fingerprints_and_the_fix() {
    let sshd = Sshd::start();
    keygen(&sshd.path("other_host_key"), "");
    let other = std::fs::read_to_string(sshd.path("other_host_key.pub")).unwrap();
    let mut w = other.split_whitespace();
    let mut t = sshd.untrusted_target();
    std::fs::write(
        kh(&t),
        format!(
            "[127.0.0.1]:{} {} {}\n",
            sshd.port,
            w.next().unwrap(),
            w.next().unwrap()
        ),
    )
    .unwrap();
    // Even accept-new never accepts a changed key.
    t.host_key_check = HostKeyCheck::AcceptNew;
    let err = Session::connect(&t)
        .err()
        .expect("a changed host key must be refused");
    let text = err.render();
    assert_eq!(err.exit_code(), 4, "{text}");
    assert!(text.contains("CHANGED"), "{text}");
    assert!(
        text.contains(&sshd.host_fingerprint()),
        "new fingerprint missing: {text}"
    );
    assert!(
        text.contains(&fingerprint_of(&sshd.path("other_host_key.pub"))),
        "old fingerprint missing: {text}"
    );
    assert!(
        text.contains(&format!("ssh-keygen -R '[127.0.0.1]:{}' -f ", sshd.port)),
        "fix missing: {text}"
    );
    assert_eq!(
        std::fs::read_to_string(kh(&t)).unwrap().lines().count(),
        1,
        "known_hosts must not change"
    );
}

#[test]
fn accept_new_records_exactly_one_line_then_strict_passes() {
    let sshd = Sshd::start();
    let mut t = sshd.untrusted_target();
    // A known_hosts in a folder that does not exist yet.
    t.known_hosts = Some(sshd.path("newhome/.ssh/known_hosts"));
    t.host_key_check = HostKeyCheck::AcceptNew;
    let s = connect(&t);
    assert_eq!(run(&s, "echo hi").stdout_str(), "hi\n");
    drop(s);
    let text = std::fs::read_to_string(kh(&t)).unwrap();
    assert_eq!(
        text,
        sshd.host_line(),
        "exactly the one line OpenSSH would write"
    );
    let mode = std::fs::metadata(kh(&t)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Existing content is kept: only one line is appended.
    let kh = sshd.path("home/.ssh/known_hosts");
    std::fs::write(&kh, "# my hosts\nexample.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9dG4kjRhQTtWTVzd2t27+t0DEHBPW7iOD23TUiYLio").unwrap();
    t.known_hosts = Some(kh.clone());
    drop(connect(&t));
    let after = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(after.lines().count(), 3, "{after}");
    assert!(after.starts_with("# my hosts\nexample.org ssh-ed25519 AAAAC3"));

    // The second connection passes strict checking.
    t.host_key_check = HostKeyCheck::Strict;
    let s = connect(&t);
    assert_eq!(run(&s, "echo again").stdout_str(), "again\n");
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        after,
        "nothing more written"
    );
}

#[test]
fn a_hashed_known_hosts_entry_matches() {
    let sshd = Sshd::start();
    let t = sshd.target();
    let ok = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(kh(&t))
        .output()
        .unwrap();
    assert!(ok.status.success());
    let text = std::fs::read_to_string(kh(&t)).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    let s = connect(&t);
    assert_eq!(run(&s, "echo hashed").stdout_str(), "hashed\n");
}

/// known_hosts with a comment and a key of `kind` for this server's name that the server
/// does not have.
fn stale_known_hosts(sshd: &Sshd, kind: &str) -> String {
    let stale = sshd.path(&format!("stale_{kind}"));
    keygen_type(&stale, "", kind);
    format!(
        "# my hosts\n[127.0.0.1]:{} {}\n",
        sshd.port,
        public_key(&sshd.path(&format!("stale_{kind}.pub")))
    )
}

#[test]
fn a_key_of_another_type_than_the_recorded_one_is_refused_in_both_modes_and_nothing_is_written() {
    // The server has only an ECDSA key; known_hosts records an ed25519 key for it.
    let sshd = Sshd::from(SimHost::builder().host_keys(&["ecdsa"]));
    let before = stale_known_hosts(&sshd, "ed25519");
    let offered = fingerprint_of(&sshd.sim.host_key_pub("ecdsa"));
    let recorded = fingerprint_of(&sshd.path("stale_ed25519.pub"));
    for mode in [HostKeyCheck::AcceptNew, HostKeyCheck::Strict] {
        let mut t = sshd.untrusted_target();
        std::fs::write(kh(&t), &before).unwrap();
        t.host_key_check = mode;
        let err = Session::connect(&t)
            .err()
            .unwrap_or_else(|| panic!("{mode:?}: a key of another type must be refused"));
        let text = err.render();
        assert_eq!(err.exit_code(), 4, "{mode:?}: {text}");
        assert!(
            text.contains("a key of another type is on record"),
            "{text}"
        );
        assert!(text.contains(&offered), "offered fingerprint: {text}");
        assert!(
            text.contains(&format!("known_hosts:2 records ssh-ed25519 key {recorded}")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "`ssh-keygen -lf /etc/ssh/ssh_host_ecdsa_key.pub` must print {offered}"
            )),
            "verify first: {text}"
        );
        assert_eq!(
            std::fs::read(kh(&t)).unwrap(),
            before.as_bytes(),
            "{mode:?}: known_hosts must stay byte for byte the same"
        );
    }
    // It never got as far as logging in.
    assert!(!sshd.log().contains("Accepted publickey"), "{}", sshd.log());
}

#[test]
fn a_server_with_several_host_keys_shows_the_one_on_record() {
    let sshd = Sshd::from(SimHost::builder().host_keys(&["ed25519", "ecdsa"]));
    for kind in ["ecdsa", "ed25519"] {
        let mut t = sshd.untrusted_target();
        std::fs::write(kh(&t), sshd.host_line_of(kind)).unwrap();
        for mode in [HostKeyCheck::Strict, HostKeyCheck::AcceptNew] {
            t.host_key_check = mode;
            let s = Session::connect(&t)
                .unwrap_or_else(|e| panic!("only {kind} on record, {mode:?}: {}", e.render()));
            assert_eq!(run(&s, "echo ok").stdout_str(), "ok\n");
        }
        assert_eq!(
            std::fs::read_to_string(kh(&t)).unwrap(),
            sshd.host_line_of(kind),
            "nothing appended"
        );
    }
}

/// Resolves `pve-test` from `HOME/.ssh/config` (written with `config`) as pxdeploy does.
fn target_from_ssh_config(sshd: &Sshd, config: &str, toml: &str) -> SshTarget {
    need("ssh", "openssh-client");
    let home = sshd.path("home");
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host pve-test\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n{config}",
            sshd.port,
            sshd.client().display()
        ),
    )
    .unwrap();
    let proxmox: pxdeploy::config::Proxmox =
        toml::from_str(&format!("host = \"pve-test\"\n{toml}")).unwrap();
    let ssh = pxdeploy::remote::ssh_config::query("pve-test", &home).expect("ssh -G works");
    pxdeploy::config::ssh::resolve_with(&proxmox, Some(&ssh), None, &home).unwrap()
}

#[test]
fn a_key_listed_in_revoked_host_keys_is_refused() {
    let sshd = Sshd::start();
    let trusted = sshd.target();
    std::fs::write(
        sshd.path("home/.ssh/revoked"),
        format!(
            "# retired\n{} old\n",
            public_key(&sshd.sim.host_key_pub("ed25519"))
        ),
    )
    .unwrap();
    let config = format!(
        "  UserKnownHostsFile {}\n  RevokedHostKeys ~/.ssh/revoked\n",
        kh(&trusted).display()
    );
    let t = target_from_ssh_config(&sshd, &config, "");
    let err = Session::connect(&t)
        .err()
        .expect("a revoked host key must be refused");
    let text = err.render();
    assert_eq!(err.exit_code(), 4, "{text}");
    assert!(text.contains("is revoked"), "{text}");
    assert!(text.contains(&sshd.host_fingerprint()), "{text}");
    assert!(text.contains("RevokedHostKeys"), "{text}");

    // Another key in the file: the host's own key passes.
    keygen(&sshd.path("retired"), "");
    std::fs::copy(sshd.path("retired.pub"), sshd.path("home/.ssh/revoked")).unwrap();
    let s = connect(&target_from_ssh_config(&sshd, &config, ""));
    assert_eq!(run(&s, "echo ok").stdout_str(), "ok\n");

    // A binary KRL is refused with a clear error, not ignored.
    let krl = Command::new("ssh-keygen")
        .args(["-k", "-f"])
        .arg(sshd.path("home/.ssh/revoked"))
        .arg(sshd.sim.host_key_pub("ed25519"))
        .output()
        .unwrap();
    assert!(
        krl.status.success(),
        "{}",
        String::from_utf8_lossy(&krl.stderr)
    );
    connect_fails(&target_from_ssh_config(&sshd, &config, ""), 3, "KRL");
}

#[test]
fn user_known_hosts_file_none_means_no_file() {
    let sshd = Sshd::start();
    let trusted = sshd.target();
    let cwd_none = std::env::current_dir().unwrap().join("none");
    assert!(!cwd_none.exists());
    // The key is in the global file: strict passes without any user file.
    let config = format!(
        "  UserKnownHostsFile none\n  GlobalKnownHostsFile {}\n",
        kh(&trusted).display()
    );
    let t = target_from_ssh_config(&sshd, &config, "");
    let s = connect(&t);
    assert_eq!(run(&s, "echo ok").stdout_str(), "ok\n");
    drop(s);

    // No file at all: accept-new has nowhere to record the key, so it refuses; it never
    // writes a file called `none`.
    let config = "  UserKnownHostsFile none\n  GlobalKnownHostsFile none\n";
    let t = target_from_ssh_config(&sshd, config, "host_key_check = \"accept-new\"");
    let err = Session::connect(&t)
        .err()
        .expect("nothing can record the key");
    assert_eq!(err.exit_code(), 4, "{}", err.render());
    assert!(
        err.render().contains("UserKnownHostsFile none"),
        "{}",
        err.render()
    );
    assert!(!cwd_none.exists(), "a file ./none was written");
    assert!(!sshd.path("home/none").exists());
    assert_eq!(t.known_hosts, None);
}

#[test]
fn host_key_algorithms_from_ssh_config_are_the_only_ones_offered() {
    need("ssh", "openssh-client");
    let sshd = Sshd::from(
        SimHost::builder()
            .host_keys(&["ed25519", "ecdsa"])
            .sshd_extra("LogLevel DEBUG1"),
    );
    // Both keys on record, ed25519 first: without HostKeyAlgorithms ed25519 would be used.
    let trusted = sshd.target();
    let config = format!(
        "  UserKnownHostsFile {}\n  HostKeyAlgorithms ecdsa-sha2-nistp256\n",
        kh(&trusted).display()
    );
    let t = target_from_ssh_config(&sshd, &config, "");
    assert_eq!(
        t.host_key_algorithms,
        Some(vec!["ecdsa-sha2-nistp256".to_string()])
    );
    let s = connect(&t);
    assert_eq!(run(&s, "echo ok").stdout_str(), "ok\n");
    let log = sshd.log();
    assert!(
        log.contains("host key algorithm: ecdsa-sha2-nistp256"),
        "{log}"
    );
    assert!(!log.contains("host key algorithm: ssh-ed25519"), "{log}");

    // Only ed25519 on record, only ECDSA allowed: the host shows a key of another type.
    std::fs::write(kh(&trusted), sshd.host_line_of("ed25519")).unwrap();
    connect_fails(
        &target_from_ssh_config(&sshd, &config, ""),
        4,
        "another type",
    );
}

#[test]
fn deploy_under_accept_new_stops_at_a_key_of_another_type_before_logging_in() {
    // The user story: known_hosts trusts the host's ed25519 key, a man in the middle offers
    // only an ECDSA key. Nothing may be recorded and nothing (.env) sent.
    let sshd = Sshd::from(SimHost::builder().host_keys(&["ecdsa"]));
    let app = crate::support::small_app();
    let known_hosts = app.path().join("known_hosts");
    let before = stale_known_hosts(&sshd, "ed25519");
    std::fs::write(&known_hosts, &before).unwrap();
    sshd.sim.write_config(
        app.path(),
        &format!(
            "[proxmox]\nknown_hosts = \"{}\"\nhost_key_check = \"accept-new\"\n\n[env.secrets]\nDB_PASSWORD = 32\n",
            known_hosts.display()
        ),
    );
    let r = crate::support::pxdeploy()
        .current_dir(app.path())
        .arg("deploy")
        .run();
    r.assert_code(4)
        .assert_stderr_contains("a key of another type is on record")
        .assert_stderr_contains(&fingerprint_of(&sshd.sim.host_key_pub("ecdsa")));
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), before);
    assert!(!sshd.log().contains("Accepted publickey"), "{}", sshd.log());
}
