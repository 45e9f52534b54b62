//! `pvesh get … --output-format json`: canonical JSON (sorted keys, compact), numbers where
//! Perl adds `+ 0`, strings where it does not (`to_json(…, canonical => 1)`, pve-common
//! `src/PVE/CLIFormatter.pm:386`).

use super::{sim_says, Real};
use crate::cluster;
use crate::proxmox::{backup_job, node, purge};

/// `vmid => $vmid + 0`; a guest without RRD data has `status: unknown` and no name.
pub(super) const RESOURCES: Real = Real::new(
    r#"[{"id":"lxc/210","node":"pve","status":"running","type":"lxc","vmid":210,"name":"app","maxmem":4294967296},{"id":"lxc/211","node":"pve2","status":"unknown","type":"lxc","vmid":211}]"#,
    "pve-manager PVE/API2Tools.pm:86",
);
/// A standalone node: one entry, `nodeid 0`, `online 1`, `local` a number.
pub(super) const STATUS_STANDALONE: Real = Real::new(
    r#"[{"id":"node/pve","ip":"192.0.2.10","level":"","local":1,"name":"pve","nodeid":0,"online":1,"type":"node"}]"#,
    "pve-manager PVE/API2/Cluster.pm:1003",
)
.sim("cluster.py", r#""name": Sim.node, "nodeid": 0, "online": 1, "type": "node""#);
pub(super) const STATUS_CLUSTER: Real = Real::new(
    r#"[{"id":"cluster","name":"lab","nodes":2,"quorate":1,"type":"cluster","version":4},{"id":"node/pve2","ip":"192.0.2.12","level":"","local":0,"name":"pve2","nodeid":2,"online":0,"type":"node"},{"id":"node/pve","ip":"192.0.2.11","level":"","local":1,"name":"pve","nodeid":1,"online":1,"type":"node"}]"#,
    "pve-manager PVE/API2/Cluster.pm:960",
);
pub(super) const NETWORK: Real = Real::new(
    r#"[{"active":1,"bridge_ports":"eno1","iface":"vmbr0","type":"bridge"},{"active":1,"iface":"eno1","type":"eth"},{"iface":"vmbr1","type":"OVSBridge"}]"#,
    "pve-manager PVE/API2/Network.pm:444",
);
/// `next-run` for every job with a schedule, a disabled one too; `vmid` a string,
/// `enabled` a number, `prune-backups` an object.
pub(super) const BACKUP_JOBS: Real = Real::new(
    r#"[{"enabled":0,"id":"pxdeploy-210","mode":"snapshot","next-run":1796004000,"prune-backups":{"keep-last":"7"},"schedule":"02:00","storage":"local","type":"vzdump","vmid":"210"},{"all":1,"enabled":1,"exclude":"210,330","id":"nightly","next-run":1796004000,"schedule":"daily","type":"vzdump"}]"#,
    "pve-manager PVE/API2/Backup.pm:224",
)
.sim("jobs.py", r#"if with_next_run and "schedule" in job:"#);

pub(super) const ALL: &[Real] = &[
    RESOURCES,
    STATUS_STANDALONE,
    STATUS_CLUSTER,
    NETWORK,
    BACKUP_JOBS,
];

#[test]
fn cluster_answers_are_read() {
    let guests = cluster::parse_resources(RESOURCES.text).expect("resources");
    let app = cluster::owner(&guests, 210).expect("210");
    assert_eq!(app.node, "pve");
    assert_eq!(app.name.as_deref(), Some("app"));
    let other = cluster::owner(&guests, 211).expect("211");
    assert_eq!(other.status.as_deref(), Some("unknown"));
    assert_eq!(other.name, None);

    let alone = cluster::parse_status(STATUS_STANDALONE.text).expect("status");
    assert_eq!(alone.cluster, None);
    assert_eq!(alone.local().map(|m| m.name.as_str()), Some("pve"));
    let lab = cluster::parse_status(STATUS_CLUSTER.text).expect("status");
    assert_eq!(lab.cluster.as_deref(), Some("lab"));
    assert_eq!(lab.online_names(), ["pve"]);
    assert_eq!(
        lab.get("pve2").and_then(|m| m.ip.as_deref()),
        Some("192.0.2.12")
    );

    assert_eq!(
        node::parse_bridges(NETWORK.text),
        Some(vec!["vmbr0".to_string(), "vmbr1".to_string()])
    );
    sim_says(&STATUS_STANDALONE);
}

#[test]
fn backup_jobs_are_read_and_a_disabled_job_has_a_next_run() {
    let job = backup_job::find(BACKUP_JOBS.text, "pxdeploy-210")
        .expect("a list")
        .expect("the job");
    assert_eq!(job.get("enabled"), Some("0"));
    assert_eq!(job.get("prune-backups"), Some("keep-last=7"));
    assert_eq!(job.get("vmid"), Some("210"));
    assert_eq!(job.next_run, Some(1796004000));
    let touched = purge::backup_jobs(BACKUP_JOBS.text, 210).expect("a list");
    assert_eq!(touched.deleted, ["pxdeploy-210"]);
    assert_eq!(touched.unexcluded, ["nightly"]);
    sim_says(&BACKUP_JOBS);
}
