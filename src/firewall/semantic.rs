//! A `<vmid>.fw` file as pve-firewall reads it, so that two files are compared by what they
//! say, not by how they are laid out. Proxmox's own writer (the API and the GUI) puts
//! `[OPTIONS]` keys in Perl hash order, leaves out an empty `[RULES]` and writes `-log` only
//! when a level is set (pve-firewall `src/PVE/Firewall.pm` 3698-3745, 3815-3827 at
//! 6f1311f349da); pxdeploy writes the options sorted, always a `[RULES]` section and
//! `-log nolog`. Both mean the same to the firewall.
//!
//! The reading follows `parse_fw_rule` and `parse_vmfw_option` (same file, 3157-3290):
//! option names are case-insensitive, `policy_*` values upper-case; a rule is
//! `[|]TYPE ACTION [flags…] [# comment]` with its flags in any order (`-p`, `--proto`, …);
//! `-log nolog` is the same as no `-log`. The order of the rules matters (the first match
//! wins), the order of the options does not.

use std::collections::BTreeMap;

/// What a `.fw` file says.
#[derive(Debug, Clone, Default)]
pub(super) struct FwFile {
    options: BTreeMap<String, String>,
    rules: Vec<Rule>,
    /// Other sections (`[ALIASES]`, `[IPSET x]`, …): their non-empty lines, trimmed.
    other: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The line as written (trimmed), for messages.
    text: String,
    meaning: RuleMeaning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RuleMeaning {
    enabled: bool,
    kind: String,
    action: String,
    flags: BTreeMap<&'static str, String>,
    comment: Option<String>,
    /// Whatever pve-firewall could not read (it refuses such a rule): compared as text.
    unread: String,
}

impl PartialEq for FwFile {
    fn eq(&self, other: &Self) -> bool {
        self.options == other.options
            && self.other == other.other
            && self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.meaning == b.meaning)
    }
}

/// Reads a `.fw` file; nothing in it is an error (an unreadable line is kept as text).
pub(super) fn parse(text: &str) -> FwFile {
    let mut file = FwFile::default();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.split_once(']')) {
            section = name.0.trim().to_string();
            if !matches!(section.to_ascii_uppercase().as_str(), "OPTIONS" | "RULES") {
                file.other.entry(section.clone()).or_default();
            }
            continue;
        }
        match section.to_ascii_uppercase().as_str() {
            "OPTIONS" => {
                let (key, value) = option(line);
                file.options.insert(key, value);
            }
            "RULES" => file.rules.push(Rule {
                text: line.to_string(),
                meaning: rule(line),
            }),
            _ => file
                .other
                .entry(section.clone())
                .or_default()
                .push(line.to_string()),
        }
    }
    file
}

fn option(line: &str) -> (String, String) {
    let Some((key, value)) = line.split_once(':') else {
        return (line.to_string(), String::new());
    };
    let key = key.trim().to_ascii_lowercase();
    let value = value.trim();
    let value = if key.starts_with("policy_") {
        value.to_ascii_uppercase()
    } else if key.starts_with("log_level_") {
        value.to_ascii_lowercase()
    } else {
        value.to_string()
    };
    (key, value)
}

const FLAGS: [(&str, &str); 8] = [
    ("i", "iface"),
    ("p", "proto"),
    ("proto", "proto"),
    ("dport", "dport"),
    ("sport", "sport"),
    ("source", "source"),
    ("dest", "dest"),
    ("icmp-type", "icmp-type"),
];

fn rule(line: &str) -> RuleMeaning {
    let (body, comment) = match line.split_once('#') {
        Some((b, c)) => (b, Some(c.trim().to_string()).filter(|c| !c.is_empty())),
        None => (line, None),
    };
    let body = body.trim();
    let (enabled, body) = match body.strip_prefix('|') {
        Some(rest) => (false, rest),
        None => (true, body),
    };
    let mut words = body.split_whitespace();
    let kind = words.next().unwrap_or_default().to_ascii_lowercase();
    let action = words.next().unwrap_or_default().to_string();
    let mut flags = BTreeMap::new();
    let mut unread = Vec::new();
    while let Some(word) = words.next() {
        let name = word.strip_prefix("--").or_else(|| word.strip_prefix('-'));
        let known = name.and_then(|n| FLAGS.iter().find(|(f, _)| *f == n).map(|(_, k)| *k));
        match (name, known, words.clone().next()) {
            (Some("log"), _, Some(level)) => {
                words.next();
                if level != "nolog" {
                    flags.insert("log", level.to_string());
                }
            }
            (_, Some(key), Some(value)) if unread.is_empty() => {
                words.next();
                flags.insert(key, value.to_string());
            }
            _ => unread.push(word),
        }
    }
    RuleMeaning {
        enabled,
        kind,
        action,
        flags,
        comment,
        unread: unread.join(" "),
    }
}

/// What differs between the file on the node (`old`) and the wanted one (`new`): `-` for
/// what only `old` says, `+` for what only `new` says. Empty when both say the same.
pub(super) fn drift(old: &FwFile, new: &FwFile) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in &old.options {
        if new.options.get(k) != Some(v) {
            out.push(format!("-{k}: {v}"));
        }
    }
    for (k, v) in &new.options {
        if old.options.get(k) != Some(v) {
            out.push(format!("+{k}: {v}"));
        }
    }
    let has = |rules: &[Rule], r: &Rule| rules.iter().any(|o| o.meaning == r.meaning);
    let before = out.len();
    out.extend(
        old.rules
            .iter()
            .filter(|r| !has(&new.rules, r))
            .map(|r| format!("-{}", r.text)),
    );
    out.extend(
        new.rules
            .iter()
            .filter(|r| !has(&old.rules, r))
            .map(|r| format!("+{}", r.text)),
    );
    let same_rules = old.rules.len() == new.rules.len()
        && old
            .rules
            .iter()
            .zip(&new.rules)
            .all(|(a, b)| a.meaning == b.meaning);
    if out.len() == before && !same_rules {
        out.push("rules in another order".to_string());
    }
    for (name, lines) in &old.other {
        match new.other.get(name) {
            Some(n) if n == lines => {}
            _ => out.push(format!("-[{name}] ({} lines)", lines.len())),
        }
    }
    for (name, lines) in &new.other {
        if old.other.get(name) != Some(lines) {
            out.push(format!("+[{name}] ({} lines)", lines.len()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What pxdeploy writes for `enable = true`, `policy_in = "DROP"`, two rules.
    const OURS: &str = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80 -log nolog\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22 -log nolog\n\n";

    /// The same after an edit in the GUI: the real writer's layout (options in hash order,
    /// `-log` only when set).
    const GUI: &str = "[OPTIONS]\n\npolicy_in: DROP\nenable: 1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22\n\n";

    #[test]
    fn the_real_writers_layout_means_the_same() {
        assert_eq!(parse(OURS), parse(GUI));
        assert!(drift(&parse(GUI), &parse(OURS)).is_empty());
        // No rules: the real writer leaves `[RULES]` out; pxdeploy writes it empty.
        let ours = "[OPTIONS]\n\nenable: 0\npolicy_in: ACCEPT\n\n[RULES]\n\n\n";
        let real = "[OPTIONS]\n\npolicy_in: ACCEPT\nenable: 0\n\n";
        assert_eq!(parse(ours), parse(real));
        // Flags in another order, the long spellings, a lower-case policy and option name.
        let odd = "[options]\nENABLE: 1\npolicy_in: drop\n[rules]\nIN ACCEPT --dport 80 --proto tcp -log nolog\nIN ACCEPT -dport 22 -p tcp -source 192.168.1.0/24\n";
        assert_eq!(parse(odd), parse(OURS));
    }

    #[test]
    fn a_change_of_meaning_is_drift() {
        let cases = [
            (
                OURS.replace("-dport 80", "-dport 8080"),
                vec![
                    "-IN ACCEPT -p tcp -dport 8080 -log nolog",
                    "+IN ACCEPT -p tcp -dport 80 -log nolog",
                ],
            ),
            (
                OURS.replace("policy_in: DROP", "policy_in: ACCEPT"),
                vec!["-policy_in: ACCEPT", "+policy_in: DROP"],
            ),
            (
                GUI.replace(
                    "IN ACCEPT -p tcp -dport 80\n",
                    "|IN ACCEPT -p tcp -dport 80\n",
                ),
                vec![
                    "-|IN ACCEPT -p tcp -dport 80",
                    "+IN ACCEPT -p tcp -dport 80 -log nolog",
                ],
            ),
            (
                GUI.replace("-dport 80\n", "-dport 80 -log info\n"),
                vec![
                    "-IN ACCEPT -p tcp -dport 80 -log info",
                    "+IN ACCEPT -p tcp -dport 80 -log nolog",
                ],
            ),
            (
                GUI.replace("enable: 1\n", "enable: 1\nmacfilter: 0\n"),
                vec!["-macfilter: 0"],
            ),
            (
                format!("{GUI}[IPSET ours]\n\n10.0.0.0/8\n"),
                vec!["-[IPSET ours] (1 lines)"],
            ),
        ];
        for (node, want) in cases {
            assert_ne!(parse(&node), parse(OURS), "{node}");
            assert_eq!(drift(&parse(&node), &parse(OURS)), want, "{node}");
        }
        let swapped = "[OPTIONS]\nenable: 1\npolicy_in: DROP\n[RULES]\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22\nIN ACCEPT -p tcp -dport 80\n";
        assert_ne!(parse(swapped), parse(OURS));
        assert_eq!(
            drift(&parse(swapped), &parse(OURS)),
            ["rules in another order"]
        );
    }

    #[test]
    fn comments_and_disabled_rules_are_read_as_pve_firewall_reads_them() {
        let r = rule("|IN Ping(ACCEPT) -i net0 -log info # from the GUI ");
        assert!(!r.enabled);
        assert_eq!((r.kind.as_str(), r.action.as_str()), ("in", "Ping(ACCEPT)"));
        assert_eq!(r.flags["iface"], "net0");
        assert_eq!(r.flags["log"], "info");
        assert_eq!(r.comment.as_deref(), Some("from the GUI"));
        assert_eq!(rule("IN ACCEPT -p tcp -bogus 1").unread, "-bogus 1");
    }
}
