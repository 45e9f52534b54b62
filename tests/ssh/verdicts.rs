//! The differential test: the real OpenSSH client (strict checking) and pxdeploy against the
//! same sshd with the same known_hosts file, 31 files, the same verdict on each.

use super::*;

/// What a client decided about the server's host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Unknown,
    Changed,
    Revoked,
}

/// The real OpenSSH client's verdict on `file` (strict checking, the file as the only
/// known_hosts), from its exit and its own words.
fn openssh_verdict(sshd: &Sshd, home: &Path, file: &Path) -> (Verdict, String) {
    let mut cmd = crate::support::sim::strict_ssh(home, &sshd.client(), file, sshd.port);
    cmd.args(["root@127.0.0.1", "echo", "in"]);
    let r = crate::support::run_bounded(cmd, "ssh".into(), None, Duration::from_secs(60));
    let verdict = if r.status == 0 && r.stdout.trim() == "in" {
        Verdict::Accepted
    } else if r.stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        Verdict::Changed
    } else if r.stderr.contains("REVOKED HOST KEY DETECTED") {
        Verdict::Revoked
    } else if r.stderr.contains("host key is known for") {
        Verdict::Unknown
    } else {
        panic!("ssh said something this test does not know:\n{}", r.dump());
    };
    (verdict, r.stderr)
}

/// pxdeploy's verdict on the same file (strict, the file as the only known_hosts).
fn pxdeploy_verdict(sshd: &Sshd, file: &Path) -> (Verdict, String) {
    let mut t = sshd.untrusted_target();
    t.known_hosts = Some(file.to_path_buf());
    t.host_key_check = HostKeyCheck::Strict;
    match Session::connect(&t) {
        Ok(s) => {
            assert_eq!(run(&s, "echo in").stdout_str(), "in\n");
            (Verdict::Accepted, String::new())
        }
        Err(e) => {
            let text = e.render();
            assert_eq!(e.exit_code(), 4, "{text}");
            let verdict = if text.contains("has CHANGED") {
                Verdict::Changed
            } else if text.contains("is revoked") {
                Verdict::Revoked
            } else if text.contains("is unknown") {
                Verdict::Unknown
            } else {
                panic!("pxdeploy said something this test does not know:\n{text}");
            };
            (verdict, text)
        }
    }
}

/// `ssh-keygen -H` of `text`: the real tool hashes the names.
fn hashed(dir: &Path, text: &str) -> String {
    let f = dir.join("to_hash");
    std::fs::write(&f, text).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    text
}

/// A differential test against the real OpenSSH client (`ssh`, strict checking): the same
/// known_hosts file, the same server, and pxdeploy must decide as ssh does on every case:
/// exact, without the port, wildcards, `?`, a port wildcard, negations, lists, hashed names,
/// `@revoked`, `@cert-authority`, a bad marker, comments, another key, another key type.
/// (OpenSSH 9.2 `sshconnect.c` `check_host_key`, `hostfile.c`, `match.c`.)
#[test]
fn known_hosts_verdicts_agree_with_the_openssh_client() {
    need("ssh", "openssh-client");
    let sshd = Sshd::start();
    let p = sshd.port;
    let key = public_key(&sshd.sim.host_key_pub("ed25519"));
    keygen(&sshd.path("other"), "");
    let other = public_key(&sshd.path("other.pub"));
    keygen_type(&sshd.path("other_ecdsa"), "", "ecdsa");
    let ecdsa = public_key(&sshd.path("other_ecdsa.pub"));
    let home = sshd.path("home");
    let dir = sshd.path("cases");
    std::fs::create_dir_all(&dir).unwrap();
    let at = format!("[127.0.0.1]:{p}");
    let cases: Vec<(&str, String)> = vec![
        ("exact", format!("{at} {key}\n")),
        ("exact, with a comment", format!("{at} {key} a comment\n")),
        ("without the port", format!("127.0.0.1 {key}\n")),
        (
            "without the port, another key",
            format!("127.0.0.1 {other}\n"),
        ),
        (
            "another key, the right one without the port",
            format!("{at} {other}\n127.0.0.1 {key}\n"),
        ),
        ("wildcard", format!("* {key}\n")),
        (
            "wildcard in the address",
            format!("[127.0.0.*]:{p} {key}\n"),
        ),
        ("wildcard without the port", format!("127.0.*.1 {key}\n")),
        ("wildcard for other hosts", format!("*.lan {key}\n")),
        ("question mark", format!("[127.0.0.?]:{p} {key}\n")),
        (
            "question marks too many",
            format!("[127.0.0.??]:{p} {key}\n"),
        ),
        ("port wildcard", format!("[127.0.0.1]:* {key}\n")),
        ("negation of another host", format!("!127.0.0.1,* {key}\n")),
        ("negation of the dialed name", format!("!{at},* {key}\n")),
        (
            "negation of both names",
            format!("![127.0.0.1]:*,!127.0.0.1,* {key}\n"),
        ),
        ("list", format!("pve.lan,{at},10.0.0.1 {key}\n")),
        ("list without it", format!("pve.lan,10.0.0.1 {key}\n")),
        ("hashed", hashed(&dir, &format!("{at} {key}\n"))),
        (
            "hashed without the port",
            hashed(&dir, &format!("127.0.0.1 {key}\n")),
        ),
        (
            "hashed, another key",
            hashed(&dir, &format!("{at} {other}\n")),
        ),
        ("revoked", format!("{at} {key}\n@revoked * {key}\n")),
        (
            "revoked, another key",
            format!("{at} {key}\n@revoked * {other}\n"),
        ),
        (
            "cert-authority only",
            format!("@cert-authority {at} {key}\n"),
        ),
        (
            "cert-authority and the key",
            format!("@cert-authority * {other}\n{at} {key}\n"),
        ),
        ("a bad marker", format!("@trusted {at} {key}\n")),
        (
            "comments and blank lines",
            format!("# {at} {other}\n\n   {at} {key}\n"),
        ),
        ("commented out", format!("#{at} {key}\n")),
        ("another key", format!("{at} {other}\n")),
        ("another key type", format!("{at} {ecdsa}\n")),
        ("another host only", format!("pve.lan {key}\n")),
        ("empty", String::new()),
    ];
    let mut seen = std::collections::HashSet::new();
    let mut disagree = Vec::new();
    for (i, (name, text)) in cases.iter().enumerate() {
        let file = dir.join(format!("known_hosts_{i}"));
        std::fs::write(&file, text).unwrap();
        let (theirs, their_words) = openssh_verdict(&sshd, &home, &file);
        let (ours, our_words) = pxdeploy_verdict(&sshd, &file);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            *text,
            "{name}: the file must not change"
        );
        seen.insert(format!("{theirs:?}"));
        if theirs != ours {
            disagree.push(format!(
                "{name}: ssh {theirs:?}, pxdeploy {ours:?}\n--- file\n{text}--- ssh\n{their_words}--- pxdeploy\n{our_words}"
            ));
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n\n"));
    // every verdict occurs, so the cases test something
    assert_eq!(seen.len(), 4, "{seen:?}");
}
