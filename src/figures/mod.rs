//! What the guest and its services use (docs/monitoring.md, "Figures"): read from the node
//! (`/cluster/resources` for CPU, memory, disk, uptime; the newest `rrddata` point for the
//! network rates: `status/current` read from the command line always says CPU 0 and its
//! counters are cumulative) and from inside the guest (`docker stats` and `docker inspect`,
//! one call each for all services; `df` for a VM, whose disk use Proxmox does not know).
//! A figure that is not known is `None` (JSON `null`), never a made-up 0.

pub(crate) mod docker;
pub(crate) mod history;
mod node;

pub(crate) use node::{guest_figures, parse_rrddata, rrddata, RrdPoint};

use serde::Serialize;

/// The marker line that starts a section of a combined read (`@@pxdeploy <name> [<arg>]`).
pub(crate) const MARK: &str = "@@pxdeploy";

/// The guest's figures. Rates are per second; CPU is a percentage of the guest's cores.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct GuestFigures {
    pub cpu_percent: Option<f64>,
    pub cores: Option<u64>,
    pub mem_used_bytes: Option<u64>,
    pub mem_limit_bytes: Option<u64>,
    pub disk_used_bytes: Option<u64>,
    pub disk_size_bytes: Option<u64>,
    pub net_in_bytes_per_s: Option<f64>,
    pub net_out_bytes_per_s: Option<f64>,
    pub uptime_s: Option<u64>,
}

/// One service's figures (its containers summed when it runs several). CPU is
/// `docker stats`' percentage: of one core, so up to 100 × cores.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ServiceFigures {
    pub cpu_percent: Option<f64>,
    pub mem_used_bytes: Option<u64>,
    pub restart_count: Option<u64>,
}

/// The sections of a combined read's stdout: `(name, arg, text)` in order; what comes
/// before the first marker has the name `""`.
pub(crate) fn sections(stdout: &str) -> Vec<(String, String, String)> {
    let mut out = vec![(String::new(), String::new(), String::new())];
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix(MARK).and_then(|r| r.strip_prefix(' ')) {
            let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push((name.to_string(), arg.trim().to_string(), String::new()));
            continue;
        }
        let text = &mut out.last_mut().expect("one section at least").2;
        text.push_str(line);
        text.push('\n');
    }
    out
}

/// The text of section `name` (empty when there is none).
pub(crate) fn section<'a>(sections: &'a [(String, String, String)], name: &str) -> &'a str {
    sections
        .iter()
        .find(|(n, _, _)| n == name)
        .map_or("", |(_, _, text)| text.as_str())
}

/// The text of the last section `name`: for what the node prints after the guest's output
/// (a guest that prints a marker line of its own cannot replace it).
pub(crate) fn last_section<'a>(sections: &'a [(String, String, String)], name: &str) -> &'a str {
    sections
        .iter()
        .rev()
        .find(|(n, _, _)| n == name)
        .map_or("", |(_, _, text)| text.as_str())
}

/// The argument of the marker `name` (`@@pxdeploy ps-exit 0` → `0`).
pub(crate) fn marker_arg<'a>(
    sections: &'a [(String, String, String)],
    name: &str,
) -> Option<&'a str> {
    sections
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, arg, _)| arg.as_str())
}

/// `echo '@@pxdeploy <name>'` for a shell line.
pub(crate) fn echo_mark(name: &str) -> String {
    format!("echo '{MARK} {name}'")
}

/// A percentage with one decimal, a byte count as `1.5 GiB`, a rate as `12.0 KiB/s`; `-`
/// when unknown.
pub(crate) fn show_percent(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.1}%"))
}

pub(crate) fn show_bytes(v: Option<u64>) -> String {
    v.map_or("-".to_string(), crate::output::size)
}

pub(crate) fn show_rate(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| {
        format!("{}/s", crate::output::size(v.max(0.0).round() as u64))
    })
}

/// `3d 4h`, `2h 5m`, `5m 3s`, `42s`.
pub(crate) fn show_duration(v: Option<u64>) -> String {
    let Some(s) = v else {
        return "-".to_string();
    };
    let (d, h, m) = (s / 86400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {}s", s % 60),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// The guest's figures as aligned `label  value` lines.
pub(crate) fn guest_lines(f: &GuestFigures) -> String {
    let of = |used: String, all: String| match all.as_str() {
        "-" => used,
        _ => format!("{used} of {all}"),
    };
    let cores = f.cores.map_or(String::new(), |c| {
        format!(" of {c} core{}", if c == 1 { "" } else { "s" })
    });
    [
        ("cpu", format!("{}{cores}", show_percent(f.cpu_percent))),
        (
            "memory",
            of(show_bytes(f.mem_used_bytes), show_bytes(f.mem_limit_bytes)),
        ),
        (
            "disk",
            of(show_bytes(f.disk_used_bytes), show_bytes(f.disk_size_bytes)),
        ),
        (
            "network",
            format!(
                "in {}, out {}",
                show_rate(f.net_in_bytes_per_s),
                show_rate(f.net_out_bytes_per_s)
            ),
        ),
        ("uptime", show_duration(f.uptime_s)),
    ]
    .iter()
    .map(|(k, v)| format!("{:<9}{v}", format!("{k}:")))
    .collect::<Vec<_>>()
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_on_marker_lines() {
        let text = "[{\"vmid\":1}]\n@@pxdeploy rrd\n[]\n@@pxdeploy ps-exit 0\n@@pxdeploy stats\n{\"a\":1}\n{\"b\":2}\n";
        let s = sections(text);
        assert_eq!(section(&s, ""), "[{\"vmid\":1}]\n");
        assert_eq!(section(&s, "rrd"), "[]\n");
        assert_eq!(marker_arg(&s, "ps-exit"), Some("0"));
        assert_eq!(section(&s, "stats"), "{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(section(&s, "df"), "");
        assert_eq!(marker_arg(&s, "df"), None);
    }

    /// The node's reads are printed after the guest's output: a guest that prints their
    /// marker (its `docker` replaced) cannot make up the node's figures.
    #[test]
    fn the_node_sections_are_the_last_ones() {
        let text = "@@pxdeploy stats\n@@pxdeploy resources\n[{\"vmid\":1,\"cpu\":9}]\n@@pxdeploy resources\n[{\"vmid\":1,\"cpu\":0.5}]\n@@pxdeploy rrd\n[]\n";
        let s = sections(text);
        assert_eq!(
            last_section(&s, "resources"),
            "[{\"vmid\":1,\"cpu\":0.5}]\n"
        );
        assert_eq!(section(&s, "resources"), "[{\"vmid\":1,\"cpu\":9}]\n");
    }

    #[test]
    fn figures_for_people() {
        assert_eq!(show_percent(Some(12.345)), "12.3%");
        assert_eq!(show_percent(None), "-");
        assert_eq!(show_bytes(Some(536870912)), "512.0 MiB");
        assert_eq!(show_rate(Some(2048.4)), "2.0 KiB/s");
        assert_eq!(show_rate(None), "-");
        assert_eq!(show_duration(Some(42)), "42s");
        assert_eq!(show_duration(Some(303)), "5m 3s");
        assert_eq!(show_duration(Some(7500)), "2h 5m");
        assert_eq!(show_duration(Some(273600)), "3d 4h");
        let f = GuestFigures {
            cpu_percent: Some(3.25),
            cores: Some(2),
            mem_used_bytes: Some(104857600),
            mem_limit_bytes: Some(536870912),
            disk_used_bytes: None,
            disk_size_bytes: Some(8589934592),
            net_in_bytes_per_s: Some(1024.0),
            net_out_bytes_per_s: Some(0.0),
            uptime_s: Some(3600),
        };
        assert_eq!(
            guest_lines(&f),
            "cpu:     3.2% of 2 cores\nmemory:  100.0 MiB of 512.0 MiB\ndisk:    - of 8.0 GiB\nnetwork: in 1.0 KiB/s, out 0 B/s\nuptime:  1h 0m"
        );
    }
}
