//! Beyond trust on first use for cluster nodes (docs/security.md, "Who is trusted for what"): Proxmox keeps its
//! members' host keys in the cluster filesystem (`/etc/pve/nodes/<node>/ssh_known_hosts`,
//! `/etc/pve/priv/known_hosts`; docs/cluster.md). A node reached through the first node,
//! whose key is already verified, carries that record ([`ClusterRecord`], read by
//! `cluster::host_keys`). When known_hosts has nothing for the node, its key is trusted only
//! when the record has exactly it, and the message says so; it is then recorded (in both
//! modes: the first node vouches, this is not first use) under the name pxdeploy dials (`[ip]:port`, as `ssh -J first -p port ip` looks it up).
//! A record without this key, or with no key for the node at all, is exit 4.

use super::{known_hosts, Offered};
use crate::error::{Error, Result};
use crate::output::display_path;

/// What the cluster says about one node's host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRecord {
    /// The node's name in the cluster.
    pub node: String,
    /// Where the record was read, for messages:
    /// `/etc/pve/nodes/pve2/ssh_known_hosts (read through pve1)`.
    pub source: String,
    /// The keys recorded for the node (raw blobs).
    pub keys: Vec<Vec<u8>>,
    /// Keys the record marks `@revoked` for it.
    pub revoked: Vec<Vec<u8>>,
}

impl ClusterRecord {
    /// The key types on record (pve-cluster records only `ssh-rsa`): asked for first when
    /// known_hosts has nothing for the node, so the node shows the key the record has.
    pub fn key_types(&self) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for t in self.keys.iter().filter_map(|k| known_hosts::key_type(k)) {
            if !types.contains(&t) {
                types.push(t);
            }
        }
        types
    }
}

impl Offered<'_> {
    /// The key is unknown to known_hosts: decide with the cluster's record.
    pub(super) fn vouched(&self, record: &ClusterRecord) -> Result<()> {
        let t = self.target;
        let node = &record.node;
        if record.revoked.iter().any(|k| k == self.blob) {
            return Err(self.revoked(&format!(
                "the cluster's record ({}) marks it @revoked",
                record.source
            )));
        }
        if !record.keys.iter().any(|k| k == self.blob) {
            return Err(self.unvouched(record));
        }
        match (&t.known_hosts, t.host_key_check) {
            // Recorded in both modes: this is not trust on first use but the verified first
            // node's record, and issue 22 wants plain `ssh -J` to agree with pxdeploy after.
            (Some(file), _) => {
                let shown = display_path(file);
                known_hosts::append(file, self.name, self.blob, t.hash_known_hosts).map_err(
                    |e| {
                        Error::ssh(format!(
                            "cannot record the host key of node {node} ({}) in {shown}",
                            self.shown
                        ))
                        .cause(e.to_string())
                    },
                )?;
                tracing::warn!(
                    "trusted the {} host key {} of node {node} ({}): it matches the cluster's record in {}; added to {shown} as {}",
                    self.key_type,
                    self.fp,
                    self.shown,
                    record.source,
                    self.name
                );
            }
            _ => tracing::warn!(
                "trusted the {} host key {} of node {node} ({}): it matches the cluster's record in {} (not recorded: no known_hosts file to write to)",
                self.key_type,
                self.fp,
                self.shown,
                record.source,
            ),
        }
        Ok(())
    }

    /// The record does not have the offered key: refused as a changed key is.
    fn unvouched(&self, record: &ClusterRecord) -> Error {
        let node = &record.node;
        let add = format!(
            "`echo '{} {} {}' >> {}`",
            self.name,
            self.key_type,
            base64_of(self.blob),
            self.file(None)
        );
        if record.keys.is_empty() {
            return Error::ssh(format!(
                "the host key of node {node} ({}) is unknown, and the cluster has no record of it; refusing to connect",
                self.shown
            ))
            .cause(format!("the node offers {} key {}", self.key_type, self.fp))
            .cause(format!("{} has no key for {node}", record.source))
            .hint(format!(
                "{}; only if it does, add exactly this key: {add}",
                self.verify_first()
            ));
        }
        let mut err = Error::ssh(format!(
            "the host key of node {node} ({}) does not match the cluster's record; refusing to connect",
            self.shown
        ))
        .cause(format!("the node offers {} key {}", self.key_type, self.fp));
        for k in &record.keys {
            err = err.cause(format!(
                "{} records {} key {} for {node}",
                record.source,
                known_hosts::key_type(k).unwrap_or_else(|| "unknown".into()),
                known_hosts::fingerprint(k)
            ));
        }
        err.cause("someone may be intercepting the connection between the nodes, or the node was reinstalled and the record is stale")
            .hint(format!(
                "do not add this key blindly: {}. If the node was reinstalled, run `pvecm updatecerts` on it; then connect again",
                self.verify_first()
            ))
    }
}

fn base64_of(blob: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(blob)
}
