//! Reaching the server and logging in: agent identities, encrypted keys, a rejected key, a
//! refused port, a listener that never speaks.

use super::*;

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
    let (key, text) = login_fails_with(&sshd, "locked");
    assert!(text.contains(&format!("key {key} is encrypted")), "{text}");
    assert!(text.contains(&format!("ssh-add {key}")), "{text}");
    assert!(!text.contains("Unsupported private key format"), "{text}");
}

#[test]
fn a_rejected_key_fails_with_the_ssh_copy_id_fix() {
    let sshd = Sshd::start();
    keygen(&sshd.path("stranger"), "");
    let (key, text) = login_fails_with(&sshd, "stranger");
    assert!(
        text.contains(&format!(
            "ssh-copy-id -i {key}.pub -p {} root@127.0.0.1",
            sshd.port
        )),
        "{text}"
    );
}

/// Logging in with the key `name` of the server's folder alone fails with exit 4: the key's
/// path and the error's text.
#[track_caller]
fn login_fails_with(sshd: &Sshd, name: &str) -> (String, String) {
    let mut t = sshd.target();
    t.identity_files = vec![sshd.path(name)];
    let err = Session::connect(&t).err().expect("the login must fail");
    let text = err.render();
    assert_eq!(err.exit_code(), 4, "{text}");
    (sshd.path(name).display().to_string(), text)
}

#[test]
fn a_refused_port_fails_fast() {
    let port = free_port();
    fails_within(port, 10, 2, "connection refused");
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
    fails_within(port, 2, 4, "timed out");
}

/// Connecting to `port` (connect timeout `timeout` s) fails with exit 4 saying `says`,
/// within `bound` s.
#[track_caller]
fn fails_within(port: u16, timeout: u64, bound: u64, says: &str) {
    let mut t = SshTarget::new("127.0.0.1", port);
    t.connect_timeout = Duration::from_secs(timeout);
    let started = Instant::now();
    let err = Session::connect(&t).err().expect("no SSH server there");
    assert!(
        started.elapsed() < Duration::from_secs(bound),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.exit_code(), 4);
    assert!(err.render().contains(says), "{}", err.render());
}
