//! Proxmox clusters: a simulated cluster of four nodes (one sshd each, on 127.0.0.1 to
//! 127.0.0.4 with the same port, one shared /etc/pve), shared by every test of this file.
//! pxdeploy is configured with the first node's address only. pve4 is offline; free
//! memory: pve3 > pve2 > pve1. HA-managed containers: `cluster/ha.rs`.
//!
//! `routing.rs`: what the simulated cluster answers, containers on other nodes (deploy,
//! migration, the owner's lock, placement); `node_keys.rs`: the host keys of the other
//! nodes (the cluster's record, a wrong key at the second hop, a member whose address is a
//! pattern).
//!
//! The cluster is shared, so the container ids of all three files differ: `unique_vmid` 1–3,
//! 5, 6, 8, 14 in `routing.rs`, 4 and 11–13 in `node_keys.rs`, 7, 9, 10 in `ha.rs`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::app::deploy_holding_the_lock;
use crate::support::{
    known_hosts_trusting, pxdeploy, run_bounded, unique_vmid, write, Run, SimHost,
};
mod ha;
mod node_keys;
mod routing;

/// A one-service app that comes back after a container restart.
fn small_app() -> tempfile::TempDir {
    let dir = crate::support::small_app();
    write(
        dir.path().join("docker-compose.yml"),
        &format!(
            "{}    restart: unless-stopped\n",
            crate::support::app::SMALL_COMPOSE
        ),
    );
    dir
}

struct Cluster {
    nodes: Vec<SimHost>,
    /// A known_hosts file trusting every node.
    known_hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn node(&self, name: &str) -> &SimHost {
        let i = ["pve1", "pve2", "pve3", "pve4"]
            .iter()
            .position(|n| *n == name)
            .unwrap();
        &self.nodes[i]
    }
}

/// Never dropped: launch.py's watchdog tears the nodes down when the test process ends.
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let first = SimHost::builder()
            .node("pve1")
            .template_cached(true)
            .cluster("lab", None, None)
            .start();
        let mut nodes = vec![];
        for (name, ip) in [
            ("pve2", "127.0.0.2"),
            ("pve3", "127.0.0.3"),
            ("pve4", "127.0.0.4"),
        ] {
            nodes.push(
                SimHost::builder()
                    .node(name)
                    .template_cached(true)
                    .cluster("lab", Some(&first), Some(ip))
                    .start(),
            );
        }
        nodes.insert(0, first);
        const GIB: u64 = 1 << 30;
        for (node, used) in nodes.iter().zip([6 * GIB, 5 * GIB, GIB / 2, 0]) {
            node.set_knob("mem", &used.to_string());
        }
        nodes[3].set_knob("offline", "1");
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<&SimHost> = nodes.iter().collect();
        let known_hosts = known_hosts_trusting(dir.path().join("known_hosts"), &all);
        Cluster {
            nodes,
            known_hosts,
            _dir: dir,
        }
    })
}

/// An app folder whose pxdeploy.toml points at node `via` (its address only).
fn app_via(c: &Cluster, via: &str, vmid: u32, extra: &str) -> tempfile::TempDir {
    let app = small_app();
    c.node(via).write_config(
        app.path(),
        &format!(
            "[proxmox]\nknown_hosts = \"{}\"\n[container]\nvmid = {vmid}\n{extra}",
            c.known_hosts.display()
        ),
    );
    app
}

fn run(app: &std::path::Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(app)
        .args(args)
        .timeout(Duration::from_secs(240))
        .run()
}

fn pct_status(node: &SimHost, vmid: u32) -> Run {
    node.host_run(&["pct", "status", &vmid.to_string()])
}

/// The test's end: its container stopped on `node` (the cluster is shared).
#[track_caller]
fn stop_on(node: &SimHost, vmid: u32) {
    node.host_run(&["pct", "stop", &vmid.to_string()])
        .assert_success();
}
