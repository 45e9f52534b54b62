//! Commands over one session: 8 MiB each way, exit codes and signals, many commands on one
//! connection, timeouts, prepared and spawned commands, two threads, streaming, an alias of
//! `~/.ssh/config`, keepalives, too many channels.

use super::*;

/// Deterministic pseudo-random bytes.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    use ssh_key::sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const MIB8: usize = 8 * 1024 * 1024;

/// The remote floods stderr BEFORE it reads stdin: blocking code deadlocks here.
fn big_stdin_and_stderr(s: &Session) {
    let data = noise(MIB8);
    let mut input: &[u8] = &data;
    let out = s
        .exec(
            &format!("head -c {MIB8} /dev/zero >&2; sha256sum"),
            Some(&mut input as &mut dyn Read),
            Duration::from_secs(120),
        )
        .unwrap_or_else(|e| panic!("{}", e.render()));
    assert!(out.status.success(), "{}", out.status);
    assert_eq!(out.stderr.len(), MIB8);
    assert_eq!(out.stdout_str(), format!("{}  -\n", sha256_hex(&data)));
}

#[test]
fn eight_mib_of_stdin_and_eight_mib_of_stderr_through_one_command() {
    let sshd = Sshd::start();
    let s = connect(&sshd.target());
    big_stdin_and_stderr(&s);
    // And a command that exits without reading its stdin.
    let data = noise(MIB8);
    let mut input: &[u8] = &data;
    let out = s
        .exec(
            "echo early",
            Some(&mut input as &mut dyn Read),
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(out.stdout_str(), "early\n");
    assert!(out.status.success());
}

#[test]
fn exit_codes_and_signals_are_reported() {
    let sshd = Sshd::start();
    let s = connect(&sshd.target());
    let out = run(&s, "echo out; echo err >&2; exit 5");
    assert_eq!(out.status.code, 5);
    assert!(!out.status.success());
    assert_eq!(
        (out.stdout_str().as_str(), out.stderr_str().as_str()),
        ("out\n", "err\n")
    );
    let out = run(&s, "kill -TERM $$");
    assert_eq!(
        out.status.signal.as_deref(),
        Some("TERM"),
        "{:?}",
        out.status
    );
    assert!(!out.status.success());
    assert_eq!(out.status.to_string(), "was killed by signal TERM");
    assert!(run(&s, "true").status.success());
}

#[test]
#[allow(clippy::print_stderr)]
fn many_commands_share_one_connection() {
    let sshd = Sshd::start();
    let started = Instant::now();
    let s = connect(&sshd.target());
    let connect_time = started.elapsed();
    let started = Instant::now();
    for i in 0..30 {
        assert_eq!(run(&s, &format!("echo {i}")).stdout_str(), format!("{i}\n"));
    }
    let per_exec = started.elapsed() / 30;
    eprintln!("loopback: connect+auth {connect_time:?}, per exec {per_exec:?}");
    let log = sshd.log();
    assert_eq!(log.matches("Accepted publickey").count(), 1, "{log}");
    assert_eq!(log.matches("Connection from").count(), 1, "{log}");
}

#[test]
fn a_timed_out_command_is_stopped_and_the_session_stays_usable() {
    let sshd = Sshd::start();
    let s = connect(&sshd.target());
    let started = Instant::now();
    let err = s
        .exec("echo started >&2; sleep 313", None, Duration::from_secs(1))
        .expect_err("must time out");
    let took = started.elapsed();
    let text = err.render();
    assert_eq!(err.exit_code(), 5, "{text}");
    assert!(text.contains("timed out after 1s"), "{text}");
    assert!(text.contains("started"), "the last stderr is shown: {text}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(run(&s, "echo still-here").stdout_str(), "still-here\n");
    // The remote command is gone.
    let out = run(&s, "pgrep -f 'sleep 31[3]' || echo none");
    assert_eq!(out.stdout_str(), "none\n");
}

/// `Host::prepare` opens the channel at once; the command does nothing until `go` comes
/// with its input (`Host::run_prepared`); one dropped without it never gets past the gate.
#[test]
fn a_prepared_command_waits_for_go_and_a_dropped_one_does_nothing() {
    use pxdeploy::remote::host::{Host, GATE};
    let sshd = Sshd::start();
    let host = Host::new(connect(&sshd.target()), "test", false);
    let (ran, got) = (sshd.path("ran"), sshd.path("got"));
    let command = |tag: &str| {
        format!(
            "sh -c '{GATE}echo {tag} >> {}; cat > {}'",
            ran.display(),
            got.display()
        )
    };
    let dropped = host.prepare(command("dropped"));
    assert_eq!(
        run(host.session(), "echo meanwhile").stdout_str(),
        "meanwhile\n"
    );
    drop(dropped);
    let prepared = host.prepare(command("prepared"));
    let out = host
        .run_prepared(prepared, &mut &b"payload"[..], Duration::from_secs(10))
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "prepared\n");
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "payload");
}

#[test]
fn a_spawned_process_stays_open_while_other_commands_run() {
    let sshd = Sshd::start();
    let s = connect(&sshd.target());
    let lock = sshd.path("deploy.lock");
    let holder = format!(
        "exec 9>{}; flock -n 9 || {{ echo busy; exit 1; }}; echo locked; exec cat >/dev/null",
        lock.display()
    );
    let mut first = s.spawn(&holder).unwrap();
    assert_eq!(
        first.read_line(Duration::from_secs(10)).unwrap(),
        ReadLine::Line("locked".into())
    );
    // Nothing more arrives while it holds the lock.
    assert_eq!(
        first.read_line(Duration::from_millis(200)).unwrap(),
        ReadLine::TimedOut
    );
    for i in 0..10 {
        assert_eq!(run(&s, &format!("echo {i}")).stdout_str(), format!("{i}\n"));
    }
    big_stdin_and_stderr(&s);
    let mut second = s.spawn(&holder).unwrap();
    assert_eq!(
        second.read_line(Duration::from_secs(10)).unwrap(),
        ReadLine::Line("busy".into())
    );
    assert_eq!(
        second.read_line(Duration::from_secs(10)).unwrap(),
        ReadLine::Eof
    );
    second.close().unwrap();
    let started = Instant::now();
    first.close().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // Released: a new holder gets it.
    let mut third = s.spawn(&holder).unwrap();
    assert_eq!(
        third.read_line(Duration::from_secs(10)).unwrap(),
        ReadLine::Line("locked".into())
    );
    drop(third);
    // A process that ignores stdin is stopped by close() too.
    let sleeper = s.spawn("echo up; sleep 1000").unwrap();
    let started = Instant::now();
    sleeper.close().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(run(&s, "echo fine").stdout_str(), "fine\n");
}

#[test]
fn commands_on_two_threads_share_the_session() {
    let sshd = Sshd::start();
    let s = connect(&sshd.target());
    let _held = s.spawn("echo held; exec cat").unwrap();
    std::thread::scope(|scope| {
        let big = scope.spawn(|| big_stdin_and_stderr(&s));
        // Small commands with stdin (like the .env upload) while the big one streams: their
        // sends (data, EOF, close) must not cut into a half-sent packet of the other.
        let small = scope.spawn(|| {
            for i in 0..40 {
                let line = format!("line {i}\n");
                let mut input = line.as_bytes();
                let out = s
                    .exec(
                        "cat",
                        Some(&mut input as &mut dyn Read),
                        Duration::from_secs(30),
                    )
                    .unwrap_or_else(|e| panic!("small command {i}: {}", e.render()));
                assert_eq!(out.stdout_str(), line);
            }
        });
        big.join().unwrap();
        small.join().unwrap();
    });
}

#[test]
fn streaming_hands_over_output_as_it_arrives() {
    let sshd = Sshd::start();
    let s = connect(&sshd.target());
    let mut lines = Vec::new();
    let mut sink = |stream: pxdeploy::remote::ssh::Stream, data: &[u8]| {
        for l in BufReader::new(data).lines() {
            lines.push((stream, l.unwrap()));
        }
    };
    let status = s
        .exec_streaming(
            "echo a; sleep 0.2; echo b >&2",
            None,
            &mut sink,
            Some(Duration::from_secs(10)),
        )
        .unwrap();
    assert!(status.success());
    use pxdeploy::remote::ssh::Stream;
    assert_eq!(
        lines,
        vec![
            (Stream::Stdout, "a".to_string()),
            (Stream::Stderr, "b".to_string())
        ]
    );
}

#[test]
fn a_host_alias_from_ssh_config_is_resolved() {
    need("ssh", "openssh-client");
    let sshd = Sshd::start();
    let trusted = sshd.target();
    let home = sshd.path("home");
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host other\n  User nobody\n\nHost pve-test\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile ~/.ssh/pve_key\n  UserKnownHostsFile {}\n  ConnectTimeout 3\n",
            sshd.port,
            kh(&trusted).display()
        ),
    )
    .unwrap();
    std::fs::copy(sshd.client(), home.join(".ssh/pve_key")).unwrap();
    let proxmox: pxdeploy::config::Proxmox = toml::from_str("host = \"pve-test\"").unwrap();
    let ssh = pxdeploy::remote::ssh_config::query("pve-test", &home).expect("ssh -G works");
    let t = pxdeploy::config::ssh::resolve_with(&proxmox, Some(&ssh), None, &home).unwrap();
    assert_eq!(
        (t.hostname.as_str(), t.port, t.user.as_str()),
        ("127.0.0.1", sshd.port, "root")
    );
    assert_eq!(t.identity_files, vec![home.join(".ssh/pve_key")]);
    assert_eq!(t.connect_timeout, Duration::from_secs(3));
    let s = connect(&t);
    assert_eq!(run(&s, "echo aliased").stdout_str(), "aliased\n");

    // pxdeploy.toml wins over ~/.ssh/config.
    let proxmox: pxdeploy::config::Proxmox =
        toml::from_str("host = \"pve-test\"\nport = 1\nuser = \"admin\"").unwrap();
    let t = pxdeploy::config::ssh::resolve_with(&proxmox, Some(&ssh), None, &home).unwrap();
    assert_eq!((t.port, t.user.as_str()), (1, "admin"));
}

#[test]
fn long_commands_send_keepalives() {
    let sshd = Sshd::start_with("LogLevel DEBUG1");
    let mut t = sshd.target();
    t.keepalive_secs = 1;
    let s = connect(&t);
    let out = s
        .exec("sleep 3.5; echo done", None, Duration::from_secs(30))
        .unwrap();
    assert!(out.stdout_str().ends_with("done\n"));
    let sent = sshd.log().matches("keepalive@libssh2.org").count();
    assert!(sent >= 2, "{sent} keepalives in the sshd log");
}

#[test]
fn too_many_open_channels_is_explained() {
    let sshd = Sshd::start_with("MaxSessions 2");
    let s = connect(&sshd.target());
    let a = s.spawn("exec cat").unwrap();
    let b = s.spawn("exec cat").unwrap();
    let err = s
        .exec("echo three", None, Duration::from_secs(10))
        .expect_err("MaxSessions is 2");
    let text = err.render();
    assert_eq!(err.exit_code(), 4, "{text}");
    assert!(text.contains("MaxSessions"), "{text}");
    a.close().unwrap();
    b.close().unwrap();
    assert_eq!(run(&s, "echo fine").stdout_str(), "fine\n");
}
