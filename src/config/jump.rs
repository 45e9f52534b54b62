//! `[proxmox] jump`: the bastions on the way to the node, as OpenSSH's `-J`/`ProxyJump`
//! writes them: `[user@]host[:port]`, a comma list for several hops (the first is
//! connected to directly, each next one through the one before). `none`: no jump host,
//! even if `~/.ssh/config` has a `ProxyJump` for the node.

use super::rules::check_host;

/// One hop of `jump` (or of a `ProxyJump` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHost {
    /// `None`: `~/.ssh/config`'s `User` for that host, else the local user (as `ssh -J`).
    pub user: Option<String>,
    /// A name, an IP address, or a Host alias from ~/.ssh/config.
    pub host: String,
    /// `None`: `~/.ssh/config`'s `Port` for that host, else 22.
    pub port: Option<u16>,
}

/// Parses a `jump` value or a `ProxyJump` line. `none` is the empty list.
pub fn parse_jump(spec: &str) -> Result<Vec<JumpHost>, String> {
    let spec = spec.trim();
    if spec.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    if spec.is_empty() {
        return Err(
            "empty: write `user@host:port` (a comma list for several hops), or `none`".into(),
        );
    }
    spec.split(',').map(|hop| parse_hop(hop.trim())).collect()
}

fn parse_hop(hop: &str) -> Result<JumpHost, String> {
    let bare = hop.strip_prefix("ssh://").unwrap_or(hop);
    if bare.is_empty() {
        return Err("a hop is empty (two commas, or a comma at an end)".into());
    }
    let (user, rest) = match bare.rsplit_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, bare),
    };
    if let Some(u) = user {
        if u.is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{u:?} in {hop:?} is not a user name"));
        }
    }
    // `[v6addr]:port`, `host:port`, or a host alone (an IPv6 address alone has several `:`).
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (h, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("{hop:?}: `[` without `]`"))?;
        (h, after.strip_prefix(':'))
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').expect("one colon");
        (h, Some(p))
    } else {
        (rest, None)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("{p:?} in {hop:?} is not a port (1–65535)")),
        },
    };
    if host.is_empty() {
        return Err(format!("{hop:?} names no host"));
    }
    check_host(host).map_err(|why| format!("{host:?} in {hop:?} is not a host name: {why}"))?;
    Ok(JumpHost {
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(user: Option<&str>, host: &str, port: Option<u16>) -> JumpHost {
        JumpHost {
            user: user.map(str::to_string),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn one_hop_several_hops_and_none() {
        assert_eq!(
            parse_jump("admin@bastion.example.com").unwrap(),
            vec![hop(Some("admin"), "bastion.example.com", None)]
        );
        assert_eq!(
            parse_jump("a@b1:2222, b2 ,ssh://c@[::1]:23,[fe80::1]").unwrap(),
            vec![
                hop(Some("a"), "b1", Some(2222)),
                hop(None, "b2", None),
                hop(Some("c"), "::1", Some(23)),
                hop(None, "fe80::1", None),
            ]
        );
        assert_eq!(parse_jump("none").unwrap(), vec![]);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (spec, says) in [
            ("", "empty"),
            ("a,,b", "empty"),
            ("root@", "names no host"),
            ("@b", "not a user name"),
            ("b:0", "not a port"),
            ("b:ssh", "not a port"),
            ("b;rm", "not a host name"),
            ("-oProxyCommand=x", "not a host name"),
        ] {
            let e = parse_jump(spec).unwrap_err();
            assert!(e.contains(says), "{spec:?}: {e}");
        }
    }
}
