//! `pxdeploy metrics`: the node's `rrddata` of the guest as series (CPU %, memory, network
//! in/out, disk read/write), each with min/avg/max over the points that have a value, drawn
//! as sparklines on a terminal (a hand-written 8-level block renderer: a chart crate would
//! add a dependency tree for one line of `▁▂▃▄▅▆▇█`), a table otherwise, JSON with `-o json`.

use serde_json::{json, Value};

use super::{show_bytes, show_percent, show_rate, RrdPoint};

/// `--since`: the `rrddata` timeframes, with their step (RRD.pm, PVE 9).
pub(crate) const TIMEFRAMES: [(&str, u64); 5] = [
    ("hour", 60),
    ("day", 60),
    ("week", 1800),
    ("month", 1800),
    ("year", 21600),
];

/// The step of `points` as the node recorded them (RRD.pm's resolution: a real node's
/// `hour` has one a minute): the distance of the first two, or the step of timeframe
/// `since` in [`TIMEFRAMES`] when there are fewer.
pub(crate) fn step(points: &[RrdPoint], since: &str) -> u64 {
    match points {
        [a, b, ..] if b.time > a.time => (b.time - a.time) as u64,
        _ => TIMEFRAMES
            .iter()
            .find(|(name, _)| *name == since)
            .map_or(60, |(_, step)| *step),
    }
}

/// How a series' values are shown.
#[derive(Clone, Copy)]
enum Unit {
    Percent,
    Bytes,
    Rate,
}

/// One series: its JSON key (unit in the name), its label, and how to read it off a point.
struct Series {
    key: &'static str,
    label: &'static str,
    unit: Unit,
    get: fn(&RrdPoint) -> Option<f64>,
}

const SERIES: [Series; 6] = [
    Series {
        key: "cpu_percent",
        label: "cpu",
        unit: Unit::Percent,
        get: |p| p.cpu.map(|c| c * 100.0),
    },
    Series {
        key: "mem_used_bytes",
        label: "memory",
        unit: Unit::Bytes,
        get: |p| p.mem,
    },
    Series {
        key: "net_in_bytes_per_s",
        label: "net in",
        unit: Unit::Rate,
        get: |p| p.netin,
    },
    Series {
        key: "net_out_bytes_per_s",
        label: "net out",
        unit: Unit::Rate,
        get: |p| p.netout,
    },
    Series {
        key: "disk_read_bytes_per_s",
        label: "disk read",
        unit: Unit::Rate,
        get: |p| p.diskread,
    },
    Series {
        key: "disk_write_bytes_per_s",
        label: "disk write",
        unit: Unit::Rate,
        get: |p| p.diskwrite,
    },
];

fn show(unit: Unit, v: Option<f64>) -> String {
    match unit {
        Unit::Percent => show_percent(v),
        Unit::Bytes => show_bytes(v.map(|v| v.max(0.0).round() as u64)),
        Unit::Rate => show_rate(v),
    }
}

/// `(min, avg, max)` of the values that exist.
pub(crate) fn summary(values: &[Option<f64>]) -> Option<(f64, f64, f64)> {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    if known.is_empty() {
        return None;
    }
    let min = known.iter().copied().fold(f64::INFINITY, f64::min);
    let max = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((min, known.iter().sum::<f64>() / known.len() as f64, max))
}

/// The values as at most `width` block characters from `▁` (0) to `█` (the maximum), each
/// the average of the points it covers; a space where no point has a value.
pub(crate) fn sparkline(values: &[Option<f64>], width: usize) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(width);
    let cells: Vec<Option<f64>> = values
        .chunks(per)
        .map(|c| summary(c).map(|(_, avg, _)| avg))
        .collect();
    let top = cells.iter().flatten().copied().fold(0.0, f64::max);
    cells
        .iter()
        .map(|c| match c {
            None => ' ',
            Some(_) if top <= 0.0 => BLOCKS[0],
            Some(v) => BLOCKS[((v / top) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

/// The sparkline view: per series a label, the line, and min/avg/max.
pub(crate) fn sparklines(points: &[RrdPoint], width: usize) -> String {
    let mut out = Vec::new();
    for s in &SERIES {
        let values: Vec<Option<f64>> = points.iter().map(s.get).collect();
        let line = sparkline(&values, width);
        let stats = match summary(&values) {
            Some((min, avg, max)) => format!(
                "min {}  avg {}  max {}",
                show(s.unit, Some(min)),
                show(s.unit, Some(avg)),
                show(s.unit, Some(max))
            ),
            None => "no data".to_string(),
        };
        out.push(format!("{:<10}  {line:<width$}  {stats}", s.label));
    }
    out.join("\n")
}

/// The table view: one row per point, then min/avg/max rows.
pub(crate) fn table(points: &[RrdPoint]) -> String {
    let mut rows = vec![std::iter::once("TIME".to_string())
        .chain(SERIES.iter().map(|s| s.label.to_uppercase()))
        .collect::<Vec<_>>()];
    for p in points {
        let mut row = vec![time(p.time)];
        row.extend(SERIES.iter().map(|s| show(s.unit, (s.get)(p))));
        rows.push(row);
    }
    for (i, name) in ["min", "avg", "max"].iter().enumerate() {
        let mut row = vec![name.to_string()];
        row.extend(SERIES.iter().map(|s| {
            let values: Vec<Option<f64>> = points.iter().map(s.get).collect();
            show(
                s.unit,
                summary(&values).map(|(min, avg, max)| [min, avg, max][i]),
            )
        }));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(c, v)| format!("{v:<w$}", w = widths[c]))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON facts: every point with its values (units in the keys; `null` where the node
/// has none) and each series' min/avg/max.
pub(crate) fn facts(points: &[RrdPoint]) -> Value {
    let rows: Vec<Value> = points
        .iter()
        .map(|p| {
            let mut row = serde_json::Map::new();
            row.insert("time".into(), json!(p.time));
            for s in &SERIES {
                row.insert(s.key.into(), json!((s.get)(p)));
            }
            row.insert("mem_limit_bytes".into(), json!(p.maxmem));
            Value::Object(row)
        })
        .collect();
    let mut summary_doc = serde_json::Map::new();
    for s in &SERIES {
        let values: Vec<Option<f64>> = points.iter().map(s.get).collect();
        summary_doc.insert(
            s.key.into(),
            match summary(&values) {
                Some((min, avg, max)) => json!({"min": min, "avg": avg, "max": max}),
                None => Value::Null,
            },
        );
    }
    json!({ "points": rows, "summary": summary_doc })
}

/// A point's time as `2026-12-07T17:00:00Z`.
fn time(t: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    crate::timestamp::rfc3339(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(time: i64, cpu: Option<f64>, netin: Option<f64>) -> RrdPoint {
        RrdPoint {
            time,
            cpu,
            mem: cpu.map(|_| 1048576.0),
            maxmem: Some(536870912.0),
            netin,
            netout: None,
            diskread: None,
            diskwrite: None,
        }
    }

    #[test]
    fn sparklines_scale_to_the_maximum_and_leave_gaps_blank() {
        let v = [Some(0.0), Some(1.0), None, Some(4.0), Some(8.0)];
        assert_eq!(sparkline(&v, 10), "▁▂ ▅█");
        // more points than columns: each column the average of its points
        assert_eq!(
            sparkline(&[Some(0.0), Some(2.0), Some(8.0), Some(8.0)], 2),
            "▂█"
        );
        assert_eq!(sparkline(&[Some(0.0), Some(0.0)], 5), "▁▁");
        assert_eq!(sparkline(&[None, None], 5), "  ");
    }

    #[test]
    fn the_step_is_read_off_the_points() {
        let hour = [point(1796660160, None, None), point(1796660220, None, None)];
        assert_eq!(step(&hour, "hour"), 60);
        let week = [point(1796659200, None, None), point(1796661000, None, None)];
        assert_eq!(step(&week, "week"), 1800);
        // a node with a shorter step (the simulator's test knob) is taken at its word
        assert_eq!(
            step(&[point(100, None, None), point(105, None, None)], "hour"),
            5
        );
        // fewer than two points: the timeframe's step
        assert_eq!(step(&hour[..1], "year"), 21600);
        assert_eq!(step(&[], "day"), 60);
    }

    #[test]
    fn summaries_count_only_known_values() {
        assert_eq!(
            summary(&[None, Some(1.0), Some(3.0)]),
            Some((1.0, 2.0, 3.0))
        );
        assert_eq!(summary(&[None]), None);
    }

    #[test]
    fn table_and_json_of_points() {
        let points = [
            point(1796660160, None, None),
            point(1796660220, Some(0.25), Some(2048.0)),
        ];
        let t = table(&points);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines,
            [
                "TIME                  CPU    MEMORY   NET IN     NET OUT  DISK READ  DISK WRITE",
                "2026-12-07T16:16:00Z  -      -        -          -        -          -",
                "2026-12-07T16:17:00Z  25.0%  1.0 MiB  2.0 KiB/s  -        -          -",
                "min                   25.0%  1.0 MiB  2.0 KiB/s  -        -          -",
                "avg                   25.0%  1.0 MiB  2.0 KiB/s  -        -          -",
                "max                   25.0%  1.0 MiB  2.0 KiB/s  -        -          -",
            ]
        );
        let doc = facts(&points);
        assert_eq!(doc["points"][0]["cpu_percent"], Value::Null);
        assert_eq!(doc["points"][1]["cpu_percent"], 25.0);
        assert_eq!(doc["points"][1]["net_in_bytes_per_s"], 2048.0);
        assert_eq!(doc["points"][1]["mem_limit_bytes"], 536870912.0);
        assert_eq!(doc["summary"]["cpu_percent"]["max"], 25.0);
        assert_eq!(doc["summary"]["disk_read_bytes_per_s"], Value::Null);
        let s = sparklines(&points, 4);
        assert!(
            s.starts_with("cpu          █    min 25.0%  avg 25.0%  max 25.0%"),
            "{s}"
        );
        assert!(s.contains("disk read         no data"), "{s}");
    }
}
