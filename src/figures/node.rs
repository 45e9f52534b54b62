//! The node's figures of a guest: its `/cluster/resources` entry (the `cpu` pvestatd
//! computed, a fraction of `maxcpu`; memory, disk, uptime) and the newest `rrddata` point
//! with the network rates (RRD `DERIVE`: bytes per second already). The kind of guest
//! (`lxc` or `qemu`) is the API path's; both answer the same shape (reference §6).

use serde_json::Value;

use super::GuestFigures;
use crate::remote::quote::join;

/// `pvesh get /nodes/localhost/<kind>/<vmid>/rrddata --timeframe <tf> --output-format json`
/// (`localhost` is the node that runs it: the guest's own, once the host routed there).
pub(crate) fn rrddata(kind: &str, vmid: u32, timeframe: &str) -> String {
    join(&[
        "pvesh",
        "get",
        &format!("/nodes/localhost/{kind}/{vmid}/rrddata"),
        "--timeframe",
        timeframe,
        "--output-format",
        "json",
    ])
}

/// One `rrddata` point: its time and the values it has (a missing value leaves its key
/// out, as RRD does for a gap).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct RrdPoint {
    pub time: i64,
    pub cpu: Option<f64>,
    pub mem: Option<f64>,
    pub maxmem: Option<f64>,
    pub netin: Option<f64>,
    pub netout: Option<f64>,
    pub diskread: Option<f64>,
    pub diskwrite: Option<f64>,
}

/// The points of `rrddata` JSON, oldest first; `None` when it is not a JSON array.
pub(crate) fn parse_rrddata(text: &str) -> Option<Vec<RrdPoint>> {
    let items: Vec<Value> = serde_json::from_str(text.trim()).ok()?;
    let mut points: Vec<RrdPoint> = items
        .iter()
        .filter_map(|p| {
            let num = |k: &str| p.get(k).and_then(Value::as_f64).filter(|v| v.is_finite());
            Some(RrdPoint {
                time: p.get("time")?.as_i64()?,
                cpu: num("cpu"),
                mem: num("mem"),
                maxmem: num("maxmem"),
                netin: num("netin"),
                netout: num("netout"),
                diskread: num("diskread"),
                diskwrite: num("diskwrite"),
            })
        })
        .collect();
    points.sort_by_key(|p| p.time);
    Some(points)
}

/// The guest's figures from its `/cluster/resources` entry (`resources`: that JSON) and
/// the newest `rrddata` point with network rates (`rrd`: that JSON, empty when it could
/// not be read). Only a running guest has use figures; limits are known when Proxmox
/// has RRD data of it at all (`status` `unknown` has none).
pub(crate) fn guest_figures(kind: &str, vmid: u32, resources: &str, rrd: &str) -> GuestFigures {
    let entries: Vec<Value> = serde_json::from_str(resources.trim()).unwrap_or_default();
    let Some(e) = entries.iter().find(|e| {
        e.get("vmid").and_then(Value::as_u64) == Some(u64::from(vmid))
            && e.get("type")
                .and_then(Value::as_str)
                .map_or(true, |t| t == kind)
    }) else {
        return GuestFigures::default();
    };
    let num = |k: &str| e.get(k).and_then(Value::as_f64).filter(|v| v.is_finite());
    let whole = |k: &str| num(k).map(|v| v.max(0.0) as u64);
    let running = e.get("status").and_then(Value::as_str) == Some("running");
    let mut f = GuestFigures {
        cores: whole("maxcpu"),
        mem_limit_bytes: whole("maxmem"),
        disk_size_bytes: whole("maxdisk"),
        ..GuestFigures::default()
    };
    if !running {
        return f;
    }
    f.cpu_percent = num("cpu").map(|c| (c * 10000.0).round() / 100.0);
    f.mem_used_bytes = whole("mem");
    // Proxmox reports no disk use for a VM (`disk` is always 0): read inside it instead.
    f.disk_used_bytes = if kind == "qemu" { None } else { whole("disk") };
    f.uptime_s = whole("uptime");
    if let Some(p) = parse_rrddata(rrd)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .find(|p| p.netin.is_some() || p.netout.is_some())
    {
        f.net_in_bytes_per_s = p.netin;
        f.net_out_bytes_per_s = p.netout;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pvesh's compact JSON (more §3.1) with another node's guest and a storage around it.
    const RESOURCES: &str = r#"[{"cpu":0.0123,"disk":1234567890,"diskread":0,"diskwrite":0,"id":"lxc/100","maxcpu":2,"maxdisk":8589934592,"maxmem":1073741824,"mem":123456789,"memhost":0,"name":"web01","netin":1234,"netout":5678,"node":"pve1","status":"running","template":0,"type":"lxc","uptime":3600,"vmid":100},{"id":"qemu/100","vmid":100,"node":"pve2","type":"qemu","status":"unknown"},{"id":"lxc/101","maxcpu":1,"maxdisk":4294967296,"maxmem":536870912,"cpu":0,"mem":0,"disk":0,"node":"pve1","status":"stopped","type":"lxc","uptime":0,"vmid":101}]"#;

    /// An hour of `rrddata`: the last points without rates (a gap), an older one with.
    const RRD: &str = r#"[{"time":1796660160},{"cpu":0.0233717044256398,"disk":4182016,"diskread":214.776362688679,"diskwrite":68.34526372647,"maxcpu":2,"maxdisk":8589934592,"maxmem":536870912,"mem":6906867.01695019,"memhost":0,"netin":23.1440964992291,"netout":12.3729693089091,"time":1796660220},{"cpu":0.01,"maxcpu":2,"time":1796660280}]"#;

    #[test]
    fn rrddata_line() {
        assert_eq!(
            rrddata("lxc", 210, "hour"),
            "pvesh get /nodes/localhost/lxc/210/rrddata --timeframe hour --output-format json"
        );
        assert_eq!(
            rrddata("qemu", 7, "week"),
            "pvesh get /nodes/localhost/qemu/7/rrddata --timeframe week --output-format json"
        );
    }

    #[test]
    fn rrddata_points_keep_gaps_as_none() {
        let points = parse_rrddata(RRD).unwrap();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].time, 1796660160);
        assert_eq!(points[0].cpu, None);
        assert_eq!(points[1].netin, Some(23.1440964992291));
        assert_eq!(points[1].mem, Some(6906867.01695019));
        assert_eq!(points[2].cpu, Some(0.01));
        assert_eq!(points[2].netin, None);
        assert_eq!(parse_rrddata("RRD error: mmaping file"), None);
        assert_eq!(parse_rrddata("[]"), Some(vec![]));
    }

    #[test]
    fn a_running_guest_from_cluster_resources_and_the_newest_rates() {
        let f = guest_figures("lxc", 100, RESOURCES, RRD);
        assert_eq!(
            f,
            GuestFigures {
                cpu_percent: Some(1.23),
                cores: Some(2),
                mem_used_bytes: Some(123456789),
                mem_limit_bytes: Some(1073741824),
                disk_used_bytes: Some(1234567890),
                disk_size_bytes: Some(8589934592),
                net_in_bytes_per_s: Some(23.1440964992291),
                net_out_bytes_per_s: Some(12.3729693089091),
                uptime_s: Some(3600),
            }
        );
        // no rrddata (none yet, or it failed): no rates, the rest stays
        let f = guest_figures("lxc", 100, RESOURCES, "");
        assert_eq!(f.net_in_bytes_per_s, None);
        assert_eq!(f.cpu_percent, Some(1.23));
    }

    #[test]
    fn stopped_unknown_and_missing_guests_have_no_use_figures() {
        let f = guest_figures("lxc", 101, RESOURCES, RRD);
        assert_eq!(f.cpu_percent, None);
        assert_eq!(f.mem_used_bytes, None);
        assert_eq!(f.disk_used_bytes, None);
        assert_eq!(f.net_in_bytes_per_s, None);
        assert_eq!(f.uptime_s, None);
        assert_eq!(f.mem_limit_bytes, Some(536870912));
        assert_eq!(f.disk_size_bytes, Some(4294967296));
        // a VM of the same vmid elsewhere, without RRD data: nothing known
        assert_eq!(
            guest_figures("qemu", 100, RESOURCES, RRD),
            GuestFigures::default()
        );
        assert_eq!(
            guest_figures("lxc", 999, RESOURCES, RRD),
            GuestFigures::default()
        );
        assert_eq!(
            guest_figures("lxc", 100, "not json", ""),
            GuestFigures::default()
        );
    }

    #[test]
    fn a_vms_disk_use_is_not_taken_from_the_node() {
        let vm = RESOURCES
            .replace(r#""id":"lxc/100""#, r#""id":"qemu/100""#)
            .replacen(
                r#""type":"lxc","uptime":3600"#,
                r#""type":"qemu","uptime":3600"#,
                1,
            );
        let f = guest_figures("qemu", 100, &vm, "");
        assert_eq!(f.disk_used_bytes, None);
        assert_eq!(f.disk_size_bytes, Some(8589934592));
        assert_eq!(f.mem_used_bytes, Some(123456789));
    }
}
