//! Finding the container's node and reaching it (docs/cluster.md, "How the container is found"): the
//! [`Router`] of [`Host`](crate::remote::host::Host). When `pct` on the node connected to
//! says the container's config is not there, one remote call asks the cluster
//! (`/cluster/resources` for the owner, `/cluster/status` for its address, in one shell),
//! and the owner is reached through the first node over a `direct-tcpip` channel, its host
//! key checked with the same rules as the first node's (same known_hosts, same
//! `host_key_check`), and, when known_hosts has nothing for it, against the cluster's own
//! record of its key ([`host_keys`]). The node's name and address come from the node
//! connected to: both are checked ([`address`]) before anything uses them. A container on
//! the node connected to costs nothing: the command that would have asked is the one that
//! ran.

use super::address::{self, shown, Address};
use super::{host_keys, owner, parse_resources, parse_status, Membership, RESOURCES, STATUS};
use crate::error::{Error, Result};
use crate::proxmox::pct::{self, Said};
use crate::remote::host::{ensure_success, Route, Router, PROBE_TIMEOUT};
use crate::remote::host_key::Checker;
use crate::remote::ssh::Session;
use crate::remote::SshTarget;

/// The cluster read in one call: the guests and the membership.
pub(crate) const LOCATE: &str = "pvesh get /cluster/resources --type vm --output-format json && echo && pvesh get /cluster/status --output-format json";

/// What the cluster says, read with [`LOCATE`].
pub(crate) struct View {
    pub guests: Vec<super::Guest>,
    pub membership: Membership,
}

/// Runs [`LOCATE`] on `session`.
pub(crate) fn view(session: &Session) -> Result<View> {
    tracing::debug!(command = LOCATE, "asking the cluster where the guests are");
    let out = ensure_success(LOCATE, session.exec(LOCATE, None, PROBE_TIMEOUT)?)?;
    let text = out.stdout_str();
    let mut docs = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
    let mut next = |what: &str| -> Result<String> {
        match docs.next() {
            Some(Ok(v)) => Ok(v.to_string()),
            _ => Err(Error::remote(format!("`{what}` printed no JSON"))),
        }
    };
    let guests = parse_resources(&next(RESOURCES)?)?;
    let membership = parse_status(&next(STATUS)?)?;
    Ok(View { guests, membership })
}

/// The session target of cluster node `node` at `ip`: the first node's settings (user,
/// keys, known_hosts, host key rules, port), its own address, no jump (it is reached
/// through the first node), no `HostKeyAlias`: known_hosts names it `[ip]:port`, as
/// `ssh -J first -p port ip` looks it up.
pub(crate) fn node_target(entry: &SshTarget, node: &str, ip: &Address) -> SshTarget {
    let mut t = entry.clone();
    t.alias = format!("node {node} ({ip})");
    t.hostname = ip.to_string();
    t.host_key_alias = None;
    t.jump = Vec::new();
    t.cluster_record = None;
    t
}

/// A node name from the cluster, checked: not one hostname label is exit 4.
pub(crate) fn checked_node(node: &str) -> Result<&str> {
    address::node_name(node).map_err(|why| {
        Error::ssh(format!(
            "the cluster names a node {}, which is not a node name; refusing to use it",
            shown(node)
        ))
        .cause(format!("{why} (a Proxmox node name is one hostname label)"))
    })
}

/// A node's address from `/cluster/status`, checked: not an IP literal or a hostname is
/// exit 4, naming the node, and is used for nothing.
pub(crate) fn checked_address(node: &str, ip: &str) -> Result<Address> {
    address::parse(ip).map_err(|why| {
        Error::ssh(format!(
            "node {node} has the address {} in `{STATUS}`, which is not an IP address or a hostname; refusing to connect to it",
            shown(ip)
        ))
        .cause(why)
        .hint(format!(
            "check node {node}'s address in the cluster (`pvecm status`, /etc/pve/corosync.conf); nothing was written to known_hosts"
        ))
    })
}

/// Connects to `node` through `entry` (the node connected to).
pub(crate) fn connect(
    entry: &Session,
    entry_target: &SshTarget,
    membership: &Membership,
    node: &str,
) -> Result<Session> {
    let node = checked_node(node)?;
    let Some(member) = membership.get(node) else {
        return Err(Error::remote(format!(
            "node {node} is not in the cluster's member list"
        )));
    };
    // Checked first: whatever else happens, a bad address is reported as such.
    let addr = (member.ip.as_deref())
        .map(|ip| checked_address(node, ip))
        .transpose()?;
    if !member.online {
        return Err(Error::ssh(format!("node {node} is offline")).hint(format!(
            "online nodes: {}",
            membership.online_names().join(", ")
        )));
    }
    let Some(addr) = addr else {
        return Err(Error::ssh(format!(
            "`{STATUS}` gives no address for node {node}"
        )));
    };
    let mut target = node_target(entry_target, node, &addr);
    if !Checker::load(&target)?.has_entries() {
        target.cluster_record = Some(host_keys::read(entry, node, &entry_target.alias));
    }
    tracing::info!(
        node,
        ip = %addr,
        "connecting to the node through {}",
        entry_target.alias
    );
    Session::connect_via(entry, &target).map_err(|e| {
        e.cause(format!(
            "node {node} is reached through {} (a direct-tcpip channel to {addr}:{})",
            entry_target.alias, target.port
        ))
    })
}

/// `VM 220 lives on node pve2`: the cause under a failure to reach the guest's node.
fn lives_on(guest: &super::Guest) -> String {
    format!("{} lives on node {}", guest.named(), guest.node)
}

/// The [`Router`] of one command: where guest `vmid` lives.
pub(crate) struct Locator {
    pub target: SshTarget,
    pub vmid: u32,
}

impl Router for Locator {
    fn elsewhere(&self, stderr: &str) -> bool {
        pct::said(stderr) == Some(Said::Missing)
            || crate::proxmox::qm::said(stderr) == Some(Said::Missing)
    }

    fn route(&self, entry: &Session) -> Result<Route> {
        let view = view(entry)?;
        let Some(guest) = owner(&view.guests, self.vmid) else {
            return Ok(Route {
                node: None,
                session: None,
            });
        };
        let node = guest.node.clone();
        if view.membership.local().map(|m| m.name.as_str()) == Some(node.as_str()) {
            return Ok(Route {
                node: Some(node),
                session: None,
            });
        }
        let lives = lives_on(guest);
        let session =
            connect(entry, &self.target, &view.membership, &node).map_err(|e| e.cause(lives))?;
        Ok(Route {
            node: Some(node),
            session: Some(session),
        })
    }

    fn local_node(&self, entry: &Session) -> Result<Option<String>> {
        let out = ensure_success(RESOURCES, entry.exec(RESOURCES, None, PROBE_TIMEOUT)?)?;
        let guests = parse_resources(&out.stdout_str())?;
        Ok(owner(&guests, self.vmid).map(|g| g.node.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_whose_node_cannot_be_reached_is_named_by_its_kind() {
        let guests = super::super::parse_resources(
            r#"[{"node":"pve2","type":"qemu","vmid":220},{"node":"pve3","type":"lxc","vmid":210}]"#,
        )
        .unwrap();
        assert_eq!(lives_on(&guests[0]), "VM 220 lives on node pve2");
        assert_eq!(lives_on(&guests[1]), "container 210 lives on node pve3");
    }
}
