//! Names and addresses that come from a node (docs/security.md, "Who is trusted for what"): a cluster member's
//! `ip` in `pvesh get /cluster/status` and its node name. They are data, used only when they
//! are what they claim to be: an address is an IPv4 or IPv6 literal or an RFC 1123 hostname,
//! a node name one RFC 1123 label (Proxmox's `pve-node` format). Anything else is refused
//! before it reaches a `direct-tcpip` request, a remote path or a known_hosts line, so no
//! `*`, `?`, `!`, `,`, `[`, `]`, `|`, `%`, `/`, whitespace or control character ever does.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A checked address: what pxdeploy may dial and write into known_hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    V4(Ipv4Addr),
    /// Without brackets (`fd00::2`), as `/cluster/status` gives it; known_hosts gets
    /// `[fd00::2]:port` or the bare form for port 22, as OpenSSH writes.
    V6(Ipv6Addr),
    /// An RFC 1123 hostname, lower-cased (OpenSSH compares names lower-cased).
    Name(String),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::V4(a) => write!(f, "{a}"),
            Address::V6(a) => write!(f, "{a}"),
            Address::Name(n) => f.write_str(n),
        }
    }
}

/// Longest hostname (RFC 1123 §2.1, without a trailing dot) and label (RFC 1035 §2.3.4).
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// Checks `text` as an address; `Err` says why not (for messages).
pub(crate) fn parse(text: &str) -> Result<Address, &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    if let Ok(a) = text.parse::<Ipv4Addr>() {
        return Ok(Address::V4(a));
    }
    // Only the plain textual form: no brackets, no zone (`%eth0`), no port.
    if let Ok(a) = text.parse::<Ipv6Addr>() {
        return Ok(Address::V6(a));
    }
    hostname(text).map(Address::Name)
}

/// An RFC 1123 hostname: dot-separated labels of letters, digits and inner hyphens, each
/// 1-63 characters, 253 in all; the last label not all digits (so `10.0.0.300` or
/// `1.2.3` is neither an IPv4 address nor a name).
pub(crate) fn hostname(text: &str) -> Result<String, &'static str> {
    if text.len() > MAX_NAME {
        return Err("it is longer than 253 characters");
    }
    let labels: Vec<&str> = text.split('.').collect();
    for l in &labels {
        label(l)?;
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("it is neither an IP address nor a hostname");
    }
    Ok(text.to_ascii_lowercase())
}

/// A Proxmox node name: one RFC 1123 label (`pve-node` in pve-common's JSONSchema.pm).
pub(crate) fn node_name(text: &str) -> Result<&str, &'static str> {
    label(text)?;
    Ok(text)
}

fn label(l: &str) -> Result<(), &'static str> {
    if l.is_empty() {
        return Err("it has an empty label (`..`, or a leading or trailing dot)");
    }
    if l.len() > MAX_LABEL {
        return Err("a label is longer than 63 characters");
    }
    if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("it has characters other than letters, digits, `-` and `.`");
    }
    if l.starts_with('-') || l.ends_with('-') {
        return Err("a label starts or ends with `-`");
    }
    Ok(())
}

/// How a refused value is shown: quoted with every control character, quote and
/// backslash escaped, so the message cannot move a terminal's cursor.
pub(crate) fn shown(text: &str) -> String {
    format!("\"{}\"", text.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals() {
        for (text, want) in [
            ("10.0.0.11", "10.0.0.11"),
            ("127.0.0.2", "127.0.0.2"),
            ("0.0.0.0", "0.0.0.0"),
            ("255.255.255.255", "255.255.255.255"),
            ("::1", "::1"),
            ("fd00::2", "fd00::2"),
            ("FD00:0:0:0:0:0:0:2", "fd00::2"),
            ("2001:db8::10.0.0.1", "2001:db8::a00:1"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ] {
            let a = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(matches!(a, Address::V4(_) | Address::V6(_)), "{text}");
            assert_eq!(a.to_string(), want);
        }
    }

    #[test]
    fn hostnames() {
        for (text, want) in [
            ("pve", "pve"),
            ("PVE2", "pve2"),
            ("pve-2.lab.example", "pve-2.lab.example"),
            ("1pve", "1pve"),
            ("a", "a"),
            ("x1.example.com", "x1.example.com"),
            ("10.0.0.a", "10.0.0.a"),
        ] {
            assert_eq!(
                parse(text).unwrap_or_else(|e| panic!("{text}: {e}")),
                Address::Name(want.into())
            );
        }
        let longest = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(longest.len(), 253);
        assert!(parse(&longest).is_ok());
        assert!(parse(&format!("{longest}e")).is_err());
        assert!(parse(&"a".repeat(63)).is_ok());
        assert!(parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn everything_else_is_refused() {
        for text in [
            "",
            "pwn,*",
            "*",
            "?",
            "10.0.0.?",
            "*.lan",
            "!pve",
            "pve,other",
            "[127.0.0.1]:22",
            "[::1]",
            "|1|abc|def",
            "pve lan",
            "pve\tlan",
            "pve\n* ssh-ed25519 AAAA",
            "pve\r",
            "pve\x1b[2J",
            "pve\0",
            "fe80::1%eth0",
            "127.0.0.1:22",
            "10.0.0.300",
            "1.2.3",
            "010.0.0.1",
            "10.0.0.1.",
            ".pve",
            "pve..lan",
            "-pve",
            "pve-",
            "pve_2",
            "pve/../x",
            "pve'",
            "pve\"",
            "pve$(id)",
            "pve;id",
            "pve\\",
            "pvé",
            "@revoked",
            "#",
            ":::",
            "1::2::3",
        ] {
            assert!(parse(text).is_err(), "{text:?} must be refused");
        }
    }

    #[test]
    fn node_names_are_one_label() {
        assert_eq!(node_name("pve2"), Ok("pve2"));
        assert_eq!(node_name("Node-1"), Ok("Node-1"));
        for bad in [
            "", "pve.lan", "../priv", "pve/x", "*", "pve,x", "-a", "a b", "p\n",
        ] {
            assert!(node_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refused_values_are_shown_escaped() {
        assert_eq!(shown("pwn,*"), "\"pwn,*\"");
        assert_eq!(shown("a\x1b[2J\nb\""), "\"a\\u{1b}[2J\\nb\\\"\"");
    }
}
