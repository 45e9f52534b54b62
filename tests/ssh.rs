//! The SSH transport against a real OpenSSH sshd on 127.0.0.1, one per test, started by the
//! shared launcher (`sim/launch.py up --no-sim`, through [`SimHost`]): throw-away host keys
//! of the chosen types, client key and config in its own folder.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pxdeploy::config::HostKeyCheck;
use pxdeploy::error::ErrorKind;
use pxdeploy::remote::ssh::{ReadLine, Session};
use pxdeploy::remote::SshTarget;

use crate::support::{SimBuilder, SimHost};

fn need(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is needed by this test: apt-get install -y {package}"
    );
}

fn keygen(path: &Path, passphrase: &str) {
    keygen_type(path, passphrase, "ed25519");
}

fn keygen_type(path: &Path, passphrase: &str, kind: &str) {
    need("ssh-keygen", "openssh-client");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", "test", "-f"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen failed");
}

fn fingerprint_of(pub_file: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_string()
}

/// `type base64` of a .pub file.
fn public_key(pub_file: &Path) -> String {
    let text = std::fs::read_to_string(pub_file).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shared launcher's sshd (no simulated node), plus a fake home (`DIR/home/.ssh`).
struct Sshd {
    sim: SimHost,
    port: u16,
}

impl Sshd {
    fn start() -> Sshd {
        Self::from(SimHost::builder())
    }

    fn start_with(extra: &str) -> Sshd {
        Self::from(SimHost::builder().sshd_extra(extra))
    }

    fn from(builder: SimBuilder) -> Sshd {
        let sim = builder.without_sim().start();
        std::fs::create_dir_all(sim.dir().join("home/.ssh")).unwrap();
        let port = sim.port();
        Sshd { sim, port }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.sim.dir().join(name)
    }

    /// The client key, authorized for root.
    fn client(&self) -> PathBuf {
        self.sim.identity_file().to_path_buf()
    }

    /// `[127.0.0.1]:PORT type base64` for the host key of this type.
    fn host_line_of(&self, kind: &str) -> String {
        format!(
            "[127.0.0.1]:{} {}\n",
            self.port,
            public_key(&self.sim.host_key_pub(kind))
        )
    }

    fn host_line(&self) -> String {
        self.host_line_of("ed25519")
    }

    fn host_fingerprint(&self) -> String {
        fingerprint_of(&self.sim.host_key_pub("ed25519"))
    }

    /// A target that trusts this server's host keys and logs in with the client key.
    fn target(&self) -> SshTarget {
        let kh = self.path("home/.ssh/known_hosts");
        std::fs::copy(self.sim.known_hosts(), &kh).unwrap();
        let mut t = self.untrusted_target();
        t.known_hosts = Some(kh);
        t
    }

    /// A target whose known_hosts (in the fake home) does not exist yet.
    fn untrusted_target(&self) -> SshTarget {
        let mut t = SshTarget::new("127.0.0.1", self.port);
        t.identity_files = vec![self.client()];
        t.explicit_identity = true;
        t.known_hosts = Some(self.path("home/.ssh/known_hosts"));
        t.connect_timeout = Duration::from_secs(10);
        t
    }

    fn log(&self) -> String {
        self.sim.sshd_log()
    }
}

/// The known_hosts file of a target.
fn kh(t: &SshTarget) -> &Path {
    t.known_hosts.as_deref().expect("a known_hosts file")
}

fn connect(t: &SshTarget) -> Session {
    Session::connect(t).unwrap_or_else(|e| panic!("connect failed: {}", e.render()))
}

/// Connecting to `t` fails with exit code `code` and a message that says `needle`.
#[track_caller]
fn connect_fails(t: &SshTarget, code: i32, needle: &str) {
    let err = Session::connect(t)
        .err()
        .unwrap_or_else(|| panic!("connected, expected a failure saying {needle:?}"));
    assert_eq!(err.exit_code(), code, "{}", err.render());
    assert!(err.render().contains(needle), "{}", err.render());
}

fn run(s: &Session, cmd: &str) -> pxdeploy::remote::Output {
    s.exec(cmd, None, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("`{cmd}` failed: {}", e.render()))
}

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

struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_agent(dir: &Path) -> Agent {
    need("ssh-agent", "openssh-client");
    let sock = dir.join("agent.sock");
    let child = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !sock.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "ssh-agent did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Agent { child, sock }
}

fn ssh_add(agent: &Agent, key: &Path) {
    let out = Command::new("ssh-add")
        .arg(key)
        .env("SSH_AUTH_SOCK", &agent.sock)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_agent_identity_is_tried_not_only_the_first() {
    let sshd = Sshd::start();
    keygen(&sshd.path("wrong"), "");
    let agent = start_agent(sshd.sim.dir());
    ssh_add(&agent, &sshd.path("wrong"));
    ssh_add(&agent, &sshd.client());
    let mut t = sshd.target();
    // No key files at all: only the agent can log in.
    t.identity_files = vec![sshd.path("home/.ssh/id_ed25519")];
    t.explicit_identity = false;
    t.agent_socket = Some(agent.sock.clone());
    let s = connect(&t);
    assert_eq!(run(&s, "echo via-agent").stdout_str(), "via-agent\n");
}

#[test]
fn an_explicit_encrypted_key_is_used_through_the_agent() {
    let sshd = Sshd::start();
    keygen(&sshd.path("locked"), "secret pass");
    std::fs::copy(sshd.path("locked.pub"), sshd.path("authorized_keys")).unwrap();
    let agent = start_agent(sshd.sim.dir());
    keygen(&sshd.path("wrong"), "");
    ssh_add(&agent, &sshd.path("wrong"));
    // ssh-add needs the passphrase: give it through SSH_ASKPASS.
    let askpass = sshd.path("askpass");
    std::fs::write(&askpass, "#!/bin/sh\necho 'secret pass'\n").unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("ssh-add")
        .arg(sshd.path("locked"))
        .env("SSH_AUTH_SOCK", &agent.sock)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut t = sshd.target();
    t.identity_files = vec![sshd.path("locked")];
    t.agent_socket = Some(agent.sock.clone());
    let s = connect(&t);
    assert_eq!(run(&s, "echo ok").stdout_str(), "ok\n");
    // Only the matching agent key was offered.
    assert!(!sshd.log().contains("Failed publickey"), "{}", sshd.log());
}

#[test]
fn an_encrypted_key_without_agent_fails_with_the_ssh_add_fix() {
    let sshd = Sshd::start();
    keygen(&sshd.path("locked"), "secret pass");
    std::fs::copy(sshd.path("locked.pub"), sshd.path("authorized_keys")).unwrap();
    let mut t = sshd.target();
    t.identity_files = vec![sshd.path("locked")];
    let err = Session::connect(&t)
        .err()
        .expect("no way to use an encrypted key");
    let text = err.render();
    assert_eq!(err.exit_code(), 4, "{text}");
    let key = sshd.path("locked").display().to_string();
    assert!(text.contains(&format!("key {key} is encrypted")), "{text}");
    assert!(text.contains(&format!("ssh-add {key}")), "{text}");
    assert!(!text.contains("Unsupported private key format"), "{text}");
}

#[test]
fn a_rejected_key_fails_with_the_ssh_copy_id_fix() {
    let sshd = Sshd::start();
    keygen(&sshd.path("stranger"), "");
    let mut t = sshd.target();
    t.identity_files = vec![sshd.path("stranger")];
    let err = Session::connect(&t)
        .err()
        .expect("an unauthorized key must fail");
    let text = err.render();
    assert_eq!(err.exit_code(), 4, "{text}");
    let key = sshd.path("stranger").display().to_string();
    assert!(
        text.contains(&format!(
            "ssh-copy-id -i {key}.pub -p {} root@127.0.0.1",
            sshd.port
        )),
        "{text}"
    );
}

#[test]
fn a_refused_port_fails_fast() {
    let port = free_port();
    let mut t = SshTarget::new("127.0.0.1", port);
    t.connect_timeout = Duration::from_secs(10);
    let started = Instant::now();
    let err = Session::connect(&t).err().expect("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.exit_code(), 4);
    assert!(
        err.render().contains("connection refused"),
        "{}",
        err.render()
    );
}

#[test]
fn a_listener_that_never_speaks_fails_within_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let mut t = SshTarget::new("127.0.0.1", port);
    t.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let err = Session::connect(&t).err().expect("no SSH server there");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.exit_code(), 4);
    assert!(err.render().contains("timed out"), "{}", err.render());
}

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
    let mut cmd = Command::new("/usr/bin/ssh");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .args(["-F", "/dev/null", "-T", "-i"])
        .arg(sshd.client())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", file.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "ConnectTimeout=10",
            "-p",
            &sshd.port.to_string(),
            "root@127.0.0.1",
            "echo",
            "in",
        ]);
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
