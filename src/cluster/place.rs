//! Where `create` puts a new guest (`[container] node` or `[vm] node`): the named node, or with
//! `"auto"` the online node with the most free memory (`/nodes`: `maxmem - mem`; a node
//! without those numbers is not a candidate). An offline or unknown node is a
//! configuration error (exit 3) naming the online nodes. The host then moves to that node
//! (reached through the node connected to), so the template and `pct create` run there.

use super::route::{self, View};
use super::{parse_nodes, NodeUsage, NODES};
use crate::error::{Error, Result};
use crate::remote::host::{ensure_success, Host, Route, PROBE_TIMEOUT};
use crate::remote::SshTarget;

/// The node chosen and why (for the progress line).
pub(crate) struct Choice {
    pub node: String,
    pub why: &'static str,
}

/// Chooses the node for `wanted` (`"auto"` or a name) and moves `host` there when it is not
/// the node connected to. `key`: the setting, `[container] node` or `[vm] node`, as
/// messages name it.
pub(crate) fn place(
    host: &Host,
    entry_target: &SshTarget,
    (key, wanted): (&'static str, &str),
) -> Result<Choice> {
    let view = route::view(host.entry())?;
    let choice = if wanted == "auto" {
        let out = host.entry().exec(NODES, None, PROBE_TIMEOUT)?;
        let nodes = parse_nodes(&ensure_success(NODES, out)?.stdout_str())?;
        Choice {
            node: most_free_memory(&view, &nodes, key)?,
            why: "the online node with the most free memory",
        }
    } else {
        check_named(&view, key, wanted)?;
        Choice {
            node: wanted.to_string(),
            why: key,
        }
    };
    let local = view.membership.local().map(|m| m.name.clone());
    if local.as_deref() != Some(choice.node.as_str()) {
        let session = route::connect(host.entry(), entry_target, &view.membership, &choice.node)?;
        host.place(Route {
            node: Some(choice.node.clone()),
            session: Some(session),
        });
    }
    Ok(choice)
}

fn online_list(view: &View) -> String {
    view.membership.online_names().join(", ")
}

fn check_named(view: &View, key: &str, wanted: &str) -> Result<()> {
    match view.membership.get(wanted) {
        Some(m) if m.online => Ok(()),
        Some(_) => Err(Error::config(format!("{key}: node {wanted} is offline"))
            .hint(format!("online nodes: {}", online_list(view)))),
        None => Err(Error::config(format!(
            "{key}: there is no node {wanted} in {}",
            view.membership
                .cluster
                .as_deref()
                .map_or("this standalone host".to_string(), |c| format!(
                    "cluster {c}"
                ))
        ))
        .hint(format!("online nodes: {}", online_list(view)))),
    }
}

/// The online node with the most free memory (ties: the first name).
pub(crate) fn most_free_memory(view: &View, nodes: &[NodeUsage], key: &str) -> Result<String> {
    let mut best: Option<(u64, &str)> = None;
    let mut sorted: Vec<&NodeUsage> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.node.cmp(&b.node));
    for n in sorted {
        let online = n.status == "online" && view.membership.get(&n.node).is_some_and(|m| m.online);
        let (Some(max), Some(used)) = (n.maxmem, n.mem) else {
            continue;
        };
        let free = max.saturating_sub(used);
        if online && best.map_or(true, |(f, _)| free > f) {
            best = Some((free, &n.node));
        }
    }
    best.map(|(_, n)| n.to_string()).ok_or_else(|| {
        Error::config(format!(
            "{key} = \"auto\": no online node reports its memory"
        ))
        .hint(format!("online nodes: {}; name one", online_list(view)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{parse_status, Membership};

    fn view(m: Membership) -> View {
        View {
            guests: vec![],
            membership: m,
        }
    }

    #[test]
    fn auto_takes_the_online_node_with_most_free_memory() {
        let m = parse_status(r#"[{"id":"cluster","name":"lab","type":"cluster"},{"type":"node","name":"a","local":1,"online":1},{"type":"node","name":"b","online":1},{"type":"node","name":"c","online":0}]"#).unwrap();
        let nodes = parse_nodes(r#"[{"node":"a","status":"online","mem":6,"maxmem":8},{"node":"b","status":"online","mem":1,"maxmem":8},{"node":"c","status":"offline"},{"node":"d","status":"unknown"}]"#).unwrap();
        let key = "[container] node";
        assert_eq!(
            most_free_memory(&view(m.clone()), &nodes, key).unwrap(),
            "b"
        );
        let e = check_named(&view(m.clone()), key, "c").unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(format!("{e:?}").contains("online nodes: a, b"), "{e:?}");
        assert_eq!(
            check_named(&view(m.clone()), key, "zz")
                .unwrap_err()
                .exit_code(),
            3
        );
        // A VM's setting is named as the VM's.
        let e = check_named(&view(m.clone()), "[vm] node", "c").unwrap_err();
        assert_eq!(e.message, "[vm] node: node c is offline");
        let e = check_named(&view(m.clone()), "[vm] node", "zz").unwrap_err();
        assert_eq!(e.message, "[vm] node: there is no node zz in cluster lab");
        let e = most_free_memory(&view(m), &[], "[vm] node").unwrap_err();
        assert_eq!(
            e.message,
            "[vm] node = \"auto\": no online node reports its memory"
        );
    }
}
