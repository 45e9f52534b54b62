//! The SSH transport against a real OpenSSH sshd on 127.0.0.1, one per test, started by the
//! shared launcher (`sim/launch.py up --no-sim`, through [`SimHost`]): throw-away host keys
//! of the chosen types, client key and config in its own folder.
//!
//! `host_keys.rs`: what is accepted, refused and recorded; `verdicts.rs`: the same verdict as
//! the real `ssh` on 31 known_hosts files; `login.rs`: reaching the server and logging in
//! (agent, keys, refused and silent ports); `channels.rs`: commands over one session
//! (big streams, exit codes, timeouts, prepared and spawned commands, threads, keepalives).

mod channels;
mod host_keys;
mod login;
mod verdicts;

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
