//! The node itself: `pveversion`, its name, the next free vmid, its bridges.

use crate::remote::quote::join;

/// `pveversion`: `pve-manager/9.2.11/<hash> (running kernel: 6.8.12-1-pve)`
pub(crate) fn pveversion() -> String {
    "pveversion".to_string()
}

/// The pve-manager version of `pveversion` output (`9.2.11`).
pub(crate) fn parse_pveversion(stdout: &str) -> Option<String> {
    let rest = stdout.trim().strip_prefix("pve-manager/")?;
    Some(rest.split(['/', ' ']).next()?.to_string())
}

/// `hostname`: the node name is its first label.
pub(crate) fn hostname() -> String {
    "hostname".to_string()
}

pub(crate) fn parse_node_name(stdout: &str) -> Option<String> {
    let name = stdout.trim().split('.').next()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// `pvesh get /nodes/<node>/network --output-format json`
pub(crate) fn network(node: &str) -> String {
    join(&[
        "pvesh",
        "get",
        &format!("/nodes/{node}/network"),
        "--output-format",
        "json",
    ])
}

/// The names of the bridges in `pvesh get /nodes/<node>/network --output-format json`
/// (objects with `"type": "bridge"` or `"OVSBridge"`), sorted.
pub(crate) fn parse_bridges(stdout: &str) -> Option<Vec<String>> {
    let items: Vec<serde_json::Value> = serde_json::from_str(stdout.trim()).ok()?;
    let mut names: Vec<String> = items
        .iter()
        .filter(|i| matches!(i["type"].as_str(), Some("bridge" | "OVSBridge")))
        .filter_map(|i| i["iface"].as_str().map(str::to_string))
        .collect();
    names.sort();
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_commands_and_parsers() {
        assert_eq!(pveversion(), "pveversion");
        assert_eq!(
            parse_pveversion("pve-manager/9.2.11/14a22df35955 (running kernel: 6.8.12-1-pve)\n")
                .as_deref(),
            Some("9.2.11")
        );
        assert_eq!(
            parse_pveversion("bash: pveversion: command not found"),
            None
        );
        assert_eq!(parse_node_name("pve.lan\n").as_deref(), Some("pve"));
        assert_eq!(parse_node_name("\n"), None);
        assert_eq!(
            network("pve"),
            "pvesh get /nodes/pve/network --output-format json"
        );
    }

    #[test]
    fn bridges_from_network_json() {
        let json = r#"[{"active":1,"families":["inet"],"iface":"vmbr1","type":"bridge"},{"iface":"eno1","type":"eth"},{"iface":"vmbr0","type":"bridge","bridge_ports":"eno1"}]"#;
        assert_eq!(
            parse_bridges(json),
            Some(vec!["vmbr0".to_string(), "vmbr1".to_string()])
        );
        assert_eq!(parse_bridges("not json"), None);
    }
}
