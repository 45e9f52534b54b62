//! `[firewall]`: the container's Proxmox firewall, as pxdeploy writes it into
//! `/etc/pve/firewall/<vmid>.fw` (as pve-firewall's `save_vmfw_conf` writes it: src/PVE/Firewall.pm:3744; docs/production.md, "Firewall"). This is the model,
//! the rule parser and the file builder; every rule is checked when the config is loaded.

use std::net::IpAddr;

use serde::Deserialize;

use super::problem::Problem;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// The container's own switch (`[OPTIONS] enable`); the interface switch `firewall=1`
    /// is set on the container's network device with it.
    #[serde(default)]
    pub enable: bool,
    /// `ACCEPT`, `DROP` (the default, as Proxmox's) or `REJECT`.
    #[serde(default)]
    pub policy_in: Policy,
    /// `"tcp/80"`, `"udp/53"`, `"tcp/8000:8100"`, `"tcp/22 from 192.168.1.0/24"`.
    #[serde(default)]
    pub allow: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Policy {
    Accept,
    #[default]
    Drop,
    Reject,
}

impl Policy {
    fn as_str(self) -> &'static str {
        match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
            Policy::Reject => "REJECT",
        }
    }
}

/// One `allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub proto: &'static str,
    /// A port or a range `a:b`.
    pub dport: String,
    /// An address or a network in CIDR form.
    pub source: Option<String>,
}

impl Rule {
    /// `proto/port[ from source]`; the error says what is wrong, in words.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let mut words = text.split_whitespace();
        let spec = words.next().ok_or("is empty")?;
        let source = match (words.next(), words.next(), words.next()) {
            (None, _, _) => None,
            (Some("from"), Some(net), None) => Some(source(net)?),
            _ => {
                return Err(format!(
                    "`{text}` is not `PROTO/PORT` or `PROTO/PORT from NETWORK`"
                ))
            }
        };
        let (proto, ports) = spec
            .split_once('/')
            .ok_or_else(|| format!("`{spec}` is not `PROTO/PORT` (e.g. tcp/80)"))?;
        let proto = match proto.to_ascii_lowercase().as_str() {
            "tcp" => "tcp",
            "udp" => "udp",
            other => return Err(format!("protocol `{other}`: use tcp or udp")),
        };
        let dport = match ports.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (port(a)?, port(b)?);
                if a >= b {
                    return Err(format!("port range {ports}: the first port must be lower"));
                }
                format!("{a}:{b}")
            }
            None => port(ports)?.to_string(),
        };
        Ok(Rule {
            proto,
            dport,
            source,
        })
    }

    /// The `[RULES]` line, flags in the order Proxmox's writer uses.
    pub fn line(&self) -> String {
        let mut line = "IN ACCEPT".to_string();
        if let Some(s) = &self.source {
            line.push_str(&format!(" -source {s}"));
        }
        line.push_str(&format!(
            " -p {} -dport {} -log nolog",
            self.proto, self.dport
        ));
        line
    }
}

fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("port `{text}`: use a number 1–65535")),
    }
}

fn source(text: &str) -> Result<String, String> {
    let bad = || format!("`{text}` is not an address or a network in CIDR form (192.168.1.0/24)");
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    if let Some(p) = prefix {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        match p.parse::<u8>() {
            Ok(n) if n <= max && !p.starts_with('+') => {}
            _ => return Err(bad()),
        }
    }
    Ok(text.to_string())
}

impl Firewall {
    /// The rules, parsed (after validation every entry parses).
    pub fn rules(&self) -> Vec<Rule> {
        self.allow
            .iter()
            .filter_map(|r| Rule::parse(r).ok())
            .collect()
    }

    /// The whole `<vmid>.fw` file, as Proxmox's writer lays it out.
    pub fn file(&self) -> String {
        let mut out = format!(
            "[OPTIONS]\n\nenable: {}\npolicy_in: {}\n\n[RULES]\n\n",
            u8::from(self.enable),
            self.policy_in.as_str()
        );
        for rule in self.rules() {
            out.push_str(&rule.line());
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

pub(super) fn validate(fw: &Firewall, problems: &mut Vec<Problem>) {
    for (i, rule) in fw.allow.iter().enumerate() {
        if let Err(why) = Rule::parse(rule) {
            problems.push(Problem::new(format!("firewall.allow[{i}]"), why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_become_proxmox_rule_lines() {
        for (text, line) in [
            ("tcp/80", "IN ACCEPT -p tcp -dport 80 -log nolog"),
            ("UDP/53", "IN ACCEPT -p udp -dport 53 -log nolog"),
            (
                "tcp/8000:8100",
                "IN ACCEPT -p tcp -dport 8000:8100 -log nolog",
            ),
            (
                "tcp/22 from 192.168.1.0/24",
                "IN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22 -log nolog",
            ),
            (
                "tcp/443 from 2001:db8::/32",
                "IN ACCEPT -source 2001:db8::/32 -p tcp -dport 443 -log nolog",
            ),
            (
                "tcp/22 from 10.0.0.7",
                "IN ACCEPT -source 10.0.0.7 -p tcp -dport 22 -log nolog",
            ),
        ] {
            assert_eq!(
                Rule::parse(text).map(|r| r.line()),
                Ok(line.to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn invalid_rules_say_why() {
        for (text, says) in [
            ("tcp/99999", "port `99999`"),
            ("tcp/0", "port `0`"),
            ("tcp/http", "port `http`"),
            ("icmp/8", "protocol `icmp`"),
            ("80", "is not `PROTO/PORT`"),
            ("tcp/22 from 192.168.1.0/33", "not an address or a network"),
            ("tcp/22 from 192.168.1/24", "not an address or a network"),
            ("tcp/22 from", "is not `PROTO/PORT` or"),
            ("tcp/22 to 10.0.0.1", "is not `PROTO/PORT` or"),
            ("tcp/90:80", "the first port must be lower"),
            ("", "is empty"),
            // Words that would become rule text or a section of the file are refused.
            (
                "tcp/80\nIN ACCEPT -p tcp -dport 1:65535",
                "is not `PROTO/PORT` or",
            ),
            ("tcp/22 from 10.0.0.0/8 -i eth0", "is not `PROTO/PORT` or"),
            (
                "tcp/22 from 10.0.0.1,0.0.0.0/0",
                "not an address or a network",
            ),
        ] {
            let err = Rule::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_file_follows_the_writer_layout() {
        let fw = Firewall {
            enable: true,
            policy_in: Policy::Drop,
            allow: vec!["tcp/80".into(), "tcp/22 from 192.168.1.0/24".into()],
        };
        assert_eq!(
            fw.file(),
            "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80 -log nolog\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22 -log nolog\n\n"
        );
    }
}
