//! Inside the guest, in one call: the Compose listing `status` always read, then one
//! `docker stats --no-stream` of the project's running containers and one `docker inspect`
//! of all of them (restart counts), and for a VM `df -B1 -P /` (Proxmox has no disk use
//! of a VM). Each part after a marker line ([`super::MARK`]).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{echo_mark, ServiceFigures};

/// `docker stats` format: one JSON object per container.
pub(crate) const STATS_FORMAT: &str = "{{json .}}";
/// `docker inspect` format: full id, name, restart count, Compose service.
pub(crate) const INSPECT_FORMAT: &str =
    "{{.Id}} {{.Name}} {{.RestartCount}} {{index .Config.Labels \"com.docker.compose.service\"}}";

/// The script (`sh -c`) of the read; its arguments: project, the two formats, `1` for
/// `df`, then the argv of `docker compose ps`. `docker stats --no-stream` takes a second
/// or more (it waits for a second sample to compute CPU): it runs meanwhile into a
/// `mktemp` file (in the foreground when there is none).
const SCRIPT: &str = "p=$1 sf=$2 inf=$3 df=$4; shift 4
ids=$(docker ps -q --filter \"label=com.docker.compose.project=$p\" 2>/dev/null)
stats() { [ -z \"$ids\" ] || docker stats --no-stream --format \"$sf\" $ids; }
t=$(mktemp 2>/dev/null) && { stats >\"$t\" 2>/dev/null & }
ECHO_PS; \"$@\"; echo \"MARK ps-exit $?\"
ECHO_INSPECT; all=$(docker ps -aq --filter \"label=com.docker.compose.project=$p\" 2>/dev/null)
[ -z \"$all\" ] || docker inspect --format \"$inf\" $all
[ \"$df\" != 1 ] || { ECHO_DF; df -B1 -P /; }
ECHO_STATS
if [ -n \"$t\" ]; then wait; cat \"$t\"; rm -f \"$t\"; else stats; fi
true";

/// The argv (in the guest) of the read of project `project` whose `ps` argv is `ps`.
pub(crate) fn read_argv<'a>(project: &'a str, ps: &[&'a str], df: bool) -> Vec<String> {
    let script = SCRIPT
        .replace("ECHO_PS", &echo_mark("ps"))
        .replace("ECHO_STATS", &echo_mark("stats"))
        .replace("ECHO_INSPECT", &echo_mark("inspect"))
        .replace("ECHO_DF", &echo_mark("df"))
        .replace("MARK", super::MARK);
    let mut argv: Vec<String> = vec!["sh".into(), "-c".into(), script, "sh".into()];
    argv.extend(
        [
            project,
            STATS_FORMAT,
            INSPECT_FORMAT,
            if df { "1" } else { "0" },
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    argv.extend(ps.iter().map(|s| s.to_string()));
    argv
}

/// One line of `docker stats --format '{{json .}}'`: the container's name and short id,
/// CPU % (of one core) and memory used; `None` for a figure Docker shows as `--`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stats {
    pub id: String,
    pub name: String,
    pub cpu_percent: Option<f64>,
    pub mem_used_bytes: Option<u64>,
}

pub(crate) fn parse_stats(text: &str) -> Vec<Stats> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .map(|v| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Stats {
                id: s("ID"),
                name: s("Name"),
                cpu_percent: s("CPUPerc").trim_end_matches('%').parse().ok(),
                mem_used_bytes: s("MemUsage").split(" / ").next().and_then(parse_size),
            }
        })
        .collect()
}

/// A size as Docker prints it (go-units: `0B`, `1.5MiB`, `2.3GiB`, `512kB`, `1.2MB`).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let at = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(at);
    let number: f64 = number.trim().parse().ok()?;
    let factor: f64 = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    Some((number * factor).round() as u64)
}

/// One line of `docker inspect --format INSPECT_FORMAT`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Inspected {
    pub id: String,
    pub name: String,
    pub restart_count: u64,
    pub service: String,
}

pub(crate) fn parse_inspect(text: &str) -> Vec<Inspected> {
    text.lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            Some(Inspected {
                id: w.next()?.to_string(),
                name: w.next()?.trim_start_matches('/').to_string(),
                restart_count: w.next()?.parse().ok()?,
                service: w.next()?.to_string(),
            })
        })
        .collect()
}

/// The figures of each service: its containers' CPU and memory summed (a service with
/// none running has neither), their restart counts summed.
pub(crate) fn per_service(
    stats: &[Stats],
    inspected: &[Inspected],
) -> BTreeMap<String, ServiceFigures> {
    let mut out: BTreeMap<String, ServiceFigures> = BTreeMap::new();
    for c in inspected {
        let f = out.entry(c.service.clone()).or_default();
        f.restart_count = Some(f.restart_count.unwrap_or(0) + c.restart_count);
        // by name; by (short) id only when Docker gave no name
        let Some(s) = stats.iter().find(|s| match s.name.as_str() {
            "" | "--" => !s.id.is_empty() && c.id.starts_with(&s.id),
            name => name == c.name,
        }) else {
            continue;
        };
        if let Some(cpu) = s.cpu_percent {
            f.cpu_percent = Some(f.cpu_percent.unwrap_or(0.0) + cpu);
        }
        if let Some(mem) = s.mem_used_bytes {
            f.mem_used_bytes = Some(f.mem_used_bytes.unwrap_or(0) + mem);
        }
    }
    out
}

/// `(used, size)` in bytes of `df -B1 -P /`.
pub(crate) fn parse_df(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.trim_end().ends_with(" /"))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    // Filesystem 1-blocks Used Available Capacity Mounted-on
    let size = w.get(w.len().checked_sub(5)?)?.parse().ok()?;
    let used = w.get(w.len() - 4)?.parse().ok()?;
    Some((used, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docker 20.10's `docker stats --no-stream --format '{{json .}}'`: `ID` truncated to 12.
    const STATS: &str = r#"{"BlockIO":"0B / 0B","CPUPerc":"98.73%","Container":"1f2e3d4c5b6a","ID":"1f2e3d4c5b6a","MemPerc":"0.02%","MemUsage":"1.52MiB / 7.63GiB","Name":"app-worker-1","NetIO":"0B / 0B","PIDs":"2"}
{"BlockIO":"0B / 0B","CPUPerc":"0.00%","Container":"aa11bb22cc33","ID":"aa11bb22cc33","MemPerc":"0.01%","MemUsage":"300KiB / 7.63GiB","Name":"app-web-1","NetIO":"0B / 0B","PIDs":"1"}
{"BlockIO":"--","CPUPerc":"--","Container":"ffee","ID":"ffee","MemPerc":"--","MemUsage":"-- / --","Name":"--","NetIO":"--","PIDs":"--"}
"#;

    const INSPECT: &str =
        "1f2e3d4c5b6a7980aabbccddeeff00112233445566778899aabbccddeeff0011 /app-worker-1 3 worker
aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44 /app-web-1 0 web
aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd45 /app-web-2 1 web
0000000000000000000000000000000000000000000000000000000000000001 /app-migrate-1 0 migrate
";

    #[test]
    fn docker_stats_lines() {
        let s = parse_stats(STATS);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0],
            Stats {
                id: "1f2e3d4c5b6a".into(),
                name: "app-worker-1".into(),
                cpu_percent: Some(98.73),
                mem_used_bytes: Some(1593836),
            }
        );
        assert_eq!(s[1].mem_used_bytes, Some(307200));
        assert_eq!(s[2].cpu_percent, None);
        assert_eq!(s[2].mem_used_bytes, None);
        assert_eq!(parse_size("0B"), Some(0));
        assert_eq!(parse_size("1.2MB"), Some(1_200_000));
        assert_eq!(parse_size("2GiB"), Some(2147483648));
        assert_eq!(parse_size("--"), None);
    }

    #[test]
    fn inspect_restart_counts() {
        let i = parse_inspect(INSPECT);
        assert_eq!(i.len(), 4);
        assert_eq!(i[0].name, "app-worker-1");
        assert_eq!(i[0].restart_count, 3);
        assert_eq!(i[0].service, "worker");
        assert_eq!(parse_inspect("garbage\n"), vec![]);
    }

    #[test]
    fn figures_per_service_sum_replicas_and_leave_the_stopped_unknown() {
        let by = per_service(&parse_stats(STATS), &parse_inspect(INSPECT));
        assert_eq!(
            by["worker"],
            ServiceFigures {
                cpu_percent: Some(98.73),
                mem_used_bytes: Some(1593836),
                restart_count: Some(3)
            }
        );
        // web-2 is not running: its restarts count, it adds no CPU or memory
        assert_eq!(
            by["web"],
            ServiceFigures {
                cpu_percent: Some(0.0),
                mem_used_bytes: Some(307200),
                restart_count: Some(1)
            }
        );
        assert_eq!(
            by["migrate"],
            ServiceFigures {
                cpu_percent: None,
                mem_used_bytes: None,
                restart_count: Some(0)
            }
        );
    }

    #[test]
    fn df_of_the_root() {
        let df = "Filesystem     1-blocks    Used Available Capacity Mounted on\n/dev/sda1      8191416320 2147483648 5624446976      28% /\n";
        assert_eq!(parse_df(df), Some((2147483648, 8191416320)));
        assert_eq!(parse_df("df: /: No such file\n"), None);
    }

    #[test]
    fn the_read_passes_every_value_as_an_argument() {
        let argv = read_argv("myapp", &["docker", "compose", "-p", "myapp", "ps"], false);
        assert_eq!(argv[0..2], ["sh", "-c"]);
        assert!(argv[2].contains("echo '@@pxdeploy stats'"), "{}", argv[2]);
        assert!(
            argv[2].contains("echo \"@@pxdeploy ps-exit $?\""),
            "{}",
            argv[2]
        );
        assert_eq!(
            argv[3..],
            [
                "sh",
                "myapp",
                STATS_FORMAT,
                INSPECT_FORMAT,
                "0",
                "docker",
                "compose",
                "-p",
                "myapp",
                "ps"
            ]
        );
    }
}
