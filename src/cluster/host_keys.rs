//! The cluster's record of its members' SSH host keys, read through the node connected to
//! (docs/cluster.md "Host keys of the other nodes"; reference pve-cluster-host-keys.md).
//! pve-cluster writes:
//!
//! - `/etc/pve/nodes/<node>/ssh_known_hosts`, one line `<node> ssh-rsa <key>`, on every
//!   start of pve-cluster since 8.0.6 (Proxmox VE 8.2, 9.x); Proxmox's own SSH between nodes
//!   then pins exactly this file (`HostKeyAlias=<node>`, `UserKnownHostsFile=` it).
//! - `/etc/pve/priv/known_hosts`, `<node> ssh-rsa <key>` and `<ip> ssh-rsa <key>` lines: for
//!   every node on every start before 8.0.6, only at cluster creation since.
//!
//! The node's own file wins when it has a key for the node (as Proxmox pins it); else the
//! entries naming the node exactly in `priv/known_hosts` (never a wildcard line).

use std::path::Path;

use crate::remote::host_key::vouched::ClusterRecord;
use crate::remote::known_hosts::KnownHosts;
use crate::remote::quote::join;
use crate::remote::ssh::Session;

/// Starts each file's text in the output of [`command`].
const MARK: &str = "==> pxdeploy: ";
const PRIV: &str = "/etc/pve/priv/known_hosts";

fn node_file(node: &str) -> String {
    format!("/etc/pve/nodes/{node}/ssh_known_hosts")
}

/// Prints each file named by a parameter that exists, after a [`MARK`] line; never fails.
const LIST: &str =
    "for f; do if [ -f \"$f\" ]; then echo; echo \"==> pxdeploy: $f\"; cat \"$f\"; fi; done; true";

/// One remote call printing both files (those that exist), each after a [`MARK`] line.
/// `node` must be a checked node name (`address::node_name`).
pub(crate) fn command(node: &str) -> String {
    debug_assert!(LIST.contains(MARK));
    join(&["sh", "-c", LIST, "sh", &node_file(node), PRIV])
}

/// What [`command`]'s output says about `node`; `via` names the node it was read through.
pub(crate) fn parse(out: &str, node: &str, via: &str) -> ClusterRecord {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in out.lines() {
        if let Some(file) = line.strip_prefix(MARK) {
            files.push((file.to_string(), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    let text_of = |path: &str| {
        files
            .iter()
            .find(|(f, _)| f == path)
            .map(|(_, t)| t.as_str())
    };
    let mut looked = Vec::new();
    for path in [node_file(node), PRIV.to_string()] {
        let Some(text) = text_of(&path) else { continue };
        let (keys, revoked) = KnownHosts::parse(text, Path::new(&path)).keys_named(node);
        looked.push(path.clone());
        if !keys.is_empty() || !revoked.is_empty() {
            return ClusterRecord {
                node: node.to_string(),
                source: format!("{path} (read through {via})"),
                keys,
                revoked,
            };
        }
    }
    let source = if looked.is_empty() {
        format!(
            "/etc/pve ({} and {PRIV} are missing or unreadable through {via})",
            node_file(node)
        )
    } else {
        format!("{} (read through {via})", looked.join(" and "))
    };
    ClusterRecord {
        node: node.to_string(),
        source,
        keys: Vec::new(),
        revoked: Vec::new(),
    }
}

/// Reads the record of `node` through `entry` (one remote call). A failed call is an
/// empty record: the node's key is then trusted only if known_hosts has it.
pub(crate) fn read(entry: &Session, node: &str, via: &str) -> ClusterRecord {
    let cmd = command(node);
    tracing::debug!(command = %cmd, "reading the cluster's record of node {node}'s host key");
    let out = match entry.exec(&cmd, None, crate::remote::host::PROBE_TIMEOUT) {
        Ok(out) => out.stdout_str(),
        Err(e) => {
            tracing::debug!("reading the cluster's record failed: {}", e.render());
            String::new()
        }
    };
    parse(&out, node, via)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    fn blob(kind: &str, fill: u8) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(&[0, 0, 0, 32]);
        b.extend_from_slice(&[fill; 32]);
        b
    }

    fn key(fill: u8) -> (Vec<u8>, String) {
        let b = blob("ssh-rsa", fill);
        let text = format!("ssh-rsa {}", STANDARD.encode(&b));
        (b, text)
    }

    #[test]
    fn the_command_reads_both_files_and_never_fails() {
        assert_eq!(
            command("pve2"),
            "sh -c 'for f; do if [ -f \"$f\" ]; then echo; echo \"==> pxdeploy: $f\"; cat \"$f\"; fi; done; true' sh /etc/pve/nodes/pve2/ssh_known_hosts /etc/pve/priv/known_hosts"
        );
    }

    #[test]
    fn the_nodes_own_file_wins_as_proxmox_pins_it() {
        let (k2, t2) = key(2);
        let (old, told) = key(9);
        // 8.2+: the node's file has no newline at its end; priv has a stale key
        let out = format!(
            "\n==> pxdeploy: /etc/pve/nodes/pve2/ssh_known_hosts\npve2 {t2}\n==> pxdeploy: /etc/pve/priv/known_hosts\npve1 {told}\npve2 {told}\n"
        );
        let r = parse(&out, "pve2", "pve1");
        assert_eq!(r.keys, vec![k2]);
        assert_eq!(
            r.source,
            "/etc/pve/nodes/pve2/ssh_known_hosts (read through pve1)"
        );
        assert_eq!(r.key_types(), vec!["ssh-rsa".to_string()]);
        // before 8.0.6: only priv/known_hosts, names lower-cased, the ip line too
        let out = format!(
            "\n==> pxdeploy: /etc/pve/priv/known_hosts\npve1 {told}\n10.0.0.1 {told}\npve2 {t2}\n10.0.0.2 {t2}\n"
        );
        let r = parse(&out, "PVE2", "pve1");
        assert_eq!(r.keys, vec![blob("ssh-rsa", 2)]);
        assert_eq!(r.source, "/etc/pve/priv/known_hosts (read through pve1)");
        drop(old);
    }

    #[test]
    fn wildcards_negations_and_other_nodes_vouch_for_nothing() {
        let (_, t) = key(3);
        let out = format!(
            "\n==> pxdeploy: /etc/pve/priv/known_hosts\n* {t}\npve* {t}\n!pve2,pve2 {t}\npve3 {t}\n@revoked pve2x {t}\n"
        );
        let r = parse(&out, "pve2", "pve1");
        assert!(r.keys.is_empty(), "{r:?}");
        assert_eq!(r.source, "/etc/pve/priv/known_hosts (read through pve1)");
        // a list naming it does; a revocation is kept
        let out = format!(
            "\n==> pxdeploy: /etc/pve/priv/known_hosts\npve2,10.0.0.2 {t}\n@revoked pve2 {}\n",
            key(4).1
        );
        let r = parse(&out, "pve2", "pve1");
        assert_eq!((r.keys.len(), r.revoked.len()), (1, 1));
    }

    #[test]
    fn nothing_readable_is_an_empty_record_that_says_so() {
        let r = parse("", "pve2", "pve1");
        assert!(r.keys.is_empty());
        assert!(
            r.source.contains("missing or unreadable through pve1"),
            "{}",
            r.source
        );
        // a forged mark inside a file only starts another section of the same record
        let (_, t) = key(5);
        let out = format!("\n==> pxdeploy: /etc/pve/nodes/pve2/ssh_known_hosts\npve3 {t}\n");
        assert!(parse(&out, "pve2", "pve1").keys.is_empty());
    }
}
