//! Nodes behind a bastion: `[proxmox] jump`, `ProxyJump` from `~/.ssh/config`, and
//! [`Session::connect_via`] (the mechanism a cluster reuses to reach another node through
//! the first). Every sshd is a real OpenSSH on 127.0.0.1 started by the shared launcher.
//! The bastions log at DEBUG1, so their logs show every `direct-tcpip` request: that is how
//! the tests prove the node was reached through the bastion (and only once per run).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pxdeploy::remote::ssh::Session;
use pxdeploy::remote::SshTarget;

use crate::support::{known_hosts_trusting, pxdeploy, small_app, unique_vmid, Run, SimHost};

/// A bastion: sshd only, logging its forwarding requests.
fn bastion(extra: &[&str]) -> SimHost {
    let mut b = SimHost::builder()
        .without_sim()
        .sshd_extra("LogLevel DEBUG1");
    for e in extra {
        b = b.sshd_extra(e);
    }
    b.start()
}

/// `direct-tcpip` requests the bastion served, to `127.0.0.1:port`.
fn forwards_to(bastion: &SimHost, port: u16) -> usize {
    let want = format!("target 127.0.0.1 port {port}");
    bastion
        .sshd_log()
        .lines()
        .filter(|l| l.contains("server_request_direct_tcpip") && l.contains(&want))
        .count()
}

fn target_of(sim: &SimHost) -> SshTarget {
    let mut t = SshTarget::new("127.0.0.1", sim.port());
    t.identity_files = vec![sim.identity_file().to_path_buf()];
    t.explicit_identity = true;
    t.known_hosts = Some(sim.known_hosts().to_path_buf());
    t
}

/// A HOME whose default key (`~/.ssh/id_ed25519`) is the bastion's client key, plus an
/// optional `~/.ssh/config`.
fn home_for(bastion: &SimHost, ssh_config: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::Builder::new()
        .prefix("pxtest-home-")
        .tempdir()
        .unwrap();
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    let key = ssh.join("id_ed25519");
    std::fs::copy(bastion.identity_file(), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    if !ssh_config.is_empty() {
        std::fs::write(ssh.join("config"), ssh_config).unwrap();
    }
    home
}

/// One known_hosts file in `dir` trusting every given host (the node's and the bastion's keys).
fn known_hosts(dir: &Path, hosts: &[&SimHost]) -> PathBuf {
    known_hosts_trusting(dir.join("known_hosts"), hosts)
}

/// A simulated node (template cached) and an app folder with a one-service compose file.
fn node_and_app() -> (SimHost, tempfile::TempDir) {
    (SimHost::start_cached(), small_app())
}

fn run(app: &Path, home: &Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(app)
        .home(home)
        .args(args)
        .timeout(Duration::from_secs(240))
        .run()
}

fn connections(sim: &SimHost) -> usize {
    sim.connection_count()
}

/// After `runs` runs through `bastion`: one TCP connection to the bastion per run, and the
/// node's only connection each time is the one the bastion forwarded.
#[track_caller]
fn assert_runs_through(bastion: &SimHost, node: &SimHost, runs: usize) {
    assert_eq!(connections(bastion), runs, "{}", bastion.sshd_log());
    assert_eq!(
        forwards_to(bastion, node.port()),
        runs,
        "{}",
        bastion.sshd_log()
    );
    assert_eq!(connections(node), runs, "{}", node.sshd_log());
}

#[test]
fn create_and_deploy_through_a_jump_host_with_one_connection_to_it_per_run() {
    let bastion = bastion(&[]);
    let (node, app) = node_and_app();
    let kh = known_hosts(app.path(), &[&node, &bastion]);
    let home = home_for(&bastion, "");
    node.write_config(
        app.path(),
        &format!(
            "[proxmox]\njump = \"root@127.0.0.1:{}\"\nknown_hosts = \"{}\"\n[container]\nvmid = {}\n",
            bastion.port(),
            kh.display(),
            unique_vmid(91),
        ),
    );
    let before = std::fs::read_to_string(&kh).unwrap();

    run(app.path(), home.path(), &["create"]).assert_success();
    assert_runs_through(&bastion, &node, 1);

    let r = run(app.path(), home.path(), &["-o", "json", "deploy"]);
    r.assert_success();
    assert_eq!(r.json()["ok"], true, "{}", r.dump());
    assert_runs_through(&bastion, &node, 2);
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), before);
}

#[test]
fn create_and_deploy_through_a_proxy_jump_alias_from_ssh_config() {
    let bastion = bastion(&[]);
    let (node, app) = node_and_app();
    let kh = known_hosts(app.path(), &[&node, &bastion]);
    let ssh_config = format!(
        "Host pve-behind\n  HostName 127.0.0.1\n  Port {node_port}\n  ProxyJump jumpbox\n\n\
         Host jumpbox\n  HostName 127.0.0.1\n  Port {bastion_port}\n  User root\n  IdentityFile {key}\n",
        node_port = node.port(),
        bastion_port = bastion.port(),
        key = bastion.identity_file().display(),
    );
    // The bastion's key is only named in ~/.ssh/config, not in HOME's default keys.
    let home = tempfile::Builder::new()
        .prefix("pxtest-home-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/config"), ssh_config).unwrap();
    let mut table = node.config_table();
    let proxmox = table["proxmox"].as_table_mut().unwrap();
    proxmox.insert("host".into(), "pve-behind".into());
    proxmox.remove("port");
    proxmox.insert("known_hosts".into(), kh.display().to_string().into());
    table["container"]
        .as_table_mut()
        .unwrap()
        .insert("vmid".into(), i64::from(unique_vmid(92)).into());
    std::fs::write(
        app.path().join("pxdeploy.toml"),
        toml::to_string(&table).unwrap(),
    )
    .unwrap();

    run(app.path(), home.path(), &["create"]).assert_success();
    run(app.path(), home.path(), &["deploy"]).assert_success();
    assert_runs_through(&bastion, &node, 2);
}

#[test]
fn a_wrong_host_key_at_the_second_hop_exits_4_and_known_hosts_stays_as_it_was() {
    let bastion = bastion(&[]);
    let node = SimHost::builder().without_sim().start();
    let app = small_app();
    // The bastion is trusted; the node's name is on record with another key (the bastion's).
    let wrong = std::fs::read_to_string(bastion.known_hosts())
        .unwrap()
        .replace(
            &format!("]:{} ", bastion.port()),
            &format!("]:{} ", node.port()),
        );
    assert!(wrong.contains(&format!("]:{} ", node.port())), "{wrong}");
    let kh = app.path().join("known_hosts");
    let before = format!(
        "{}{wrong}",
        std::fs::read_to_string(bastion.known_hosts()).unwrap()
    );
    std::fs::write(&kh, &before).unwrap();
    let home = home_for(&bastion, "");
    node.write_config(
        app.path(),
        &format!(
            "[proxmox]\njump = \"127.0.0.1:{}\"\nknown_hosts = \"{}\"\nhost_key_check = \"accept-new\"\n",
            bastion.port(),
            kh.display()
        ),
    );
    let r = run(app.path(), home.path(), &["status"]);
    r.assert_code(4).assert_stderr_contains("127.0.0.1:");
    assert!(r.stderr.to_lowercase().contains("host key"), "{}", r.dump());
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), before);
    assert_eq!(
        forwards_to(&bastion, node.port()),
        1,
        "{}",
        bastion.sshd_log()
    );
    assert!(
        !node.sshd_log().contains("Accepted publickey"),
        "{}",
        node.sshd_log()
    );
}

#[test]
fn a_bastion_that_refuses_forwarding_exits_4_saying_so() {
    let bastion = bastion(&["AllowTcpForwarding no"]);
    let node = SimHost::builder().without_sim().start();
    let app = small_app();
    let kh = known_hosts(app.path(), &[&node, &bastion]);
    let home = home_for(&bastion, "");
    node.write_config(
        app.path(),
        &format!(
            "[proxmox]\njump = \"root@127.0.0.1:{}\"\nknown_hosts = \"{}\"\n",
            bastion.port(),
            kh.display()
        ),
    );
    let r = run(app.path(), home.path(), &["status"]);
    r.assert_code(4)
        .assert_stderr_contains("refused to forward")
        .assert_stderr_contains("AllowTcpForwarding");
    assert_eq!(connections(&node), 0, "{}", node.sshd_log());
}

fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn a_session_through_a_bastion_carries_big_streams_while_the_bastion_runs_commands() {
    const MIB8: usize = 8 * 1024 * 1024;
    let bastion = bastion(&[]);
    let node = SimHost::builder().without_sim().start();
    let via = Session::connect(&target_of(&bastion)).unwrap_or_else(|e| panic!("{}", e.render()));
    let s =
        Session::connect_via(&via, &target_of(&node)).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(
        forwards_to(&bastion, node.port()),
        1,
        "{}",
        bastion.sshd_log()
    );

    let data = noise(MIB8);
    let started = Instant::now();
    std::thread::scope(|scope| {
        // The bastion's own session keeps working meanwhile (what a cluster does: commands
        // on the first node while another node is reached through it).
        let side = scope.spawn(|| {
            let mut n = 0;
            while started.elapsed() < Duration::from_secs(2) || n < 3 {
                let out = via
                    .exec("echo bastion", None, Duration::from_secs(30))
                    .unwrap_or_else(|e| panic!("{}", e.render()));
                assert_eq!(out.stdout_str(), "bastion\n");
                n += 1;
            }
        });
        // Stderr floods before stdin is read: both directions of the tunnel at once.
        let mut input: &[u8] = &data;
        let out = s
            .exec(
                &format!("head -c {MIB8} /dev/zero >&2; md5sum | cut -c1-32"),
                Some(&mut input as &mut dyn Read),
                Duration::from_secs(120),
            )
            .unwrap_or_else(|e| panic!("{}", e.render()));
        assert!(out.status.success(), "{}", out.status);
        assert_eq!(out.stderr.len(), MIB8);
        let want = std::process::Command::new("md5sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&data).unwrap();
                String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
            })
            .unwrap();
        assert_eq!(out.stdout_str().trim(), &want[..32]);
        side.join().unwrap();
    });
    // The node session outlives the handle of the bastion's.
    drop(via);
    let out = s.exec("echo still", None, Duration::from_secs(30)).unwrap();
    assert_eq!(out.stdout_str(), "still\n");
    drop(s);
    assert_eq!(connections(&bastion), 1);
    assert_eq!(connections(&node), 1);
}

/// The processes sshd started for its connections (not the listener itself).
fn sshd_children(sim: &SimHost) -> Vec<i32> {
    let pid = sim.sshd_pid();
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn a_bastion_that_goes_away_fails_the_node_session_quickly() {
    let bastion = bastion(&[]);
    let node = SimHost::builder().without_sim().start();
    let via = Session::connect(&target_of(&bastion)).unwrap_or_else(|e| panic!("{}", e.render()));
    let s =
        Session::connect_via(&via, &target_of(&node)).unwrap_or_else(|e| panic!("{}", e.render()));
    drop(via);
    assert_eq!(
        s.exec("echo up", None, Duration::from_secs(30))
            .unwrap()
            .stdout_str(),
        "up\n"
    );
    let children = sshd_children(&bastion);
    assert!(!children.is_empty(), "{}", bastion.sshd_log());
    for pid in children {
        // SAFETY: plain kill(2) of a process this test's sshd started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let started = Instant::now();
    let err = s
        .exec("sleep 1; echo late", None, Duration::from_secs(60))
        .expect_err("the route to the node is gone");
    assert_eq!(err.exit_code(), 4, "{}", err.render());
    assert!(!err.render().contains("timed out"), "{}", err.render());
    // Not the command's 60 s timeout: the end of the route is noticed.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
