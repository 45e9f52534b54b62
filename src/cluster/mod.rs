//! Proxmox clusters (docs/cluster.md): what the cluster says
//! about its guests and nodes (`pvesh get /cluster/resources|/cluster/status|/nodes`,
//! fields that may be missing included), finding the node a container lives on and
//! reaching it through the node connected to ([`route`]), where `create` puts a new
//! container ([`place`]) and the HA manager ([`ha`]).

pub(crate) mod address;
pub(crate) mod ha;
pub(crate) mod host_keys;
pub(crate) mod place;
pub(crate) mod route;

use serde::Deserialize;

use crate::error::{Error, Result};

/// `pvesh get /cluster/resources --type vm --output-format json`.
pub(crate) const RESOURCES: &str = "pvesh get /cluster/resources --type vm --output-format json";
/// `pvesh get /cluster/status --output-format json`.
pub(crate) const STATUS: &str = "pvesh get /cluster/status --output-format json";
/// `pvesh get /nodes --output-format json`.
pub(crate) const NODES: &str = "pvesh get /nodes --output-format json";

/// One guest of `/cluster/resources`. Without RRD data (a node offline for minutes, a
/// guest created seconds ago) there is no `name` and `status` is `unknown`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct Guest {
    pub vmid: u32,
    pub node: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub hastate: Option<String>,
}

/// One entry of `/cluster/status`: the cluster (`type: cluster`, absent on a standalone
/// node) or a node. Flags are numbers (`1`/`0`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct StatusEntry {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub local: Option<u8>,
    #[serde(default)]
    pub online: Option<u8>,
    #[serde(default)]
    pub nodeid: Option<u32>,
}

/// A node of `/cluster/status`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub name: String,
    pub ip: Option<String>,
    pub local: bool,
    pub online: bool,
}

/// What `/cluster/status` says: the cluster's name (`None`: a standalone node) and the nodes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Membership {
    pub cluster: Option<String>,
    pub members: Vec<Member>,
}

impl Membership {
    pub(crate) fn local(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.local)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The names of the online nodes, sorted (for messages).
    pub(crate) fn online_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.online)
            .map(|m| m.name.clone())
            .collect();
        v.sort();
        v
    }
}

/// One node of `/nodes`. An offline node has only `status` (plus, for 5 minutes, stale
/// `max*`); `mem`/`maxmem` are there only with RRD data.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct NodeUsage {
    pub node: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub mem: Option<u64>,
    #[serde(default)]
    pub maxmem: Option<u64>,
}

pub(crate) fn parse_resources(text: &str) -> Result<Vec<Guest>> {
    parse_json(text, RESOURCES)
}

pub(crate) fn parse_status(text: &str) -> Result<Membership> {
    let entries: Vec<StatusEntry> = parse_json(text, STATUS)?;
    let cluster = entries
        .iter()
        .find(|e| e.kind == "cluster")
        .and_then(|e| e.name.clone());
    let members = entries
        .into_iter()
        .filter(|e| e.kind == "node")
        .filter_map(|e| {
            Some(Member {
                name: e.name?,
                ip: e.ip,
                local: e.local == Some(1),
                // A standalone node's one entry is always online.
                online: e.online.unwrap_or(1) == 1,
            })
        })
        .collect();
    Ok(Membership { cluster, members })
}

pub(crate) fn parse_nodes(text: &str) -> Result<Vec<NodeUsage>> {
    parse_json(text, NODES)
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, command: &str) -> Result<T> {
    serde_json::from_str(text.trim()).map_err(|e| {
        Error::remote(format!(
            "`{command}` printed something pxdeploy cannot read"
        ))
        .cause(e.to_string())
    })
}

/// The node a vmid lives on, from `/cluster/resources`.
pub(crate) fn owner(guests: &[Guest], vmid: u32) -> Option<&Guest> {
    guests.iter().find(|g| g.vmid == vmid)
}

impl Guest {
    /// `container 210` / `VM 220` (by `type`: `qemu` is a VM, anything else a container),
    /// for messages.
    pub(crate) fn named(&self) -> String {
        let noun = match self.kind.as_str() {
            "qemu" => "VM",
            _ => "container",
        };
        format!("{noun} {}", self.vmid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_is_named_by_its_type() {
        let text = r#"[{"id":"qemu/220","node":"pve2","type":"qemu","vmid":220},{"id":"lxc/210","node":"pve3","type":"lxc","vmid":210}]"#;
        let guests = parse_resources(text).unwrap();
        assert_eq!(owner(&guests, 220).unwrap().named(), "VM 220");
        assert_eq!(owner(&guests, 210).unwrap().named(), "container 210");
    }

    #[test]
    fn resources_with_and_without_rrd_data() {
        let text = r#"[{"cpu":0.01,"id":"lxc/1000","maxmem":1,"mem":1,"name":"web","node":"pve2","status":"running","type":"lxc","uptime":5,"vmid":1000,"hastate":"started"},{"id":"lxc/200","node":"pve3","status":"unknown","type":"lxc","vmid":200}]"#;
        let g = parse_resources(text).unwrap();
        assert_eq!(owner(&g, 200).unwrap().node, "pve3");
        assert_eq!(owner(&g, 200).unwrap().name, None);
        assert_eq!(owner(&g, 1000).unwrap().hastate.as_deref(), Some("started"));
        assert!(owner(&g, 7).is_none());
    }

    #[test]
    fn cluster_status_and_standalone() {
        let c = parse_status(r#"[{"id":"cluster","name":"lab","nodes":2,"quorate":1,"type":"cluster","version":3},{"id":"node/pve2","level":"","local":0,"name":"pve2","nodeid":2,"online":0,"type":"node"},{"id":"node/pve1","ip":"10.0.0.11","level":"","local":1,"name":"pve1","nodeid":1,"online":1,"type":"node"}]"#).unwrap();
        assert_eq!(c.cluster.as_deref(), Some("lab"));
        assert_eq!(c.local().unwrap().name, "pve1");
        assert_eq!(c.get("pve2").unwrap().ip, None);
        assert_eq!(c.online_names(), vec!["pve1"]);
        let s = parse_status(r#"[{"id":"node/pve","ip":"192.0.2.2","level":"","local":1,"name":"pve","nodeid":0,"online":1,"type":"node"}]"#).unwrap();
        assert_eq!(s.cluster, None);
        assert_eq!(s.local().unwrap().name, "pve");
    }

    #[test]
    fn nodes_offline_has_no_memory() {
        let n = parse_nodes(r#"[{"id":"node/pve2","node":"pve2","ssl_fingerprint":"AA","status":"offline","type":"node"},{"id":"node/pve1","node":"pve1","status":"online","mem":1,"maxmem":8,"type":"node","ssl_fingerprint":"BB"}]"#).unwrap();
        assert_eq!(n[0].mem, None);
        assert_eq!(n[1].maxmem, Some(8));
    }
}
