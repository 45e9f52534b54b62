//! The scheduled backup job `pxdeploy-<vmid>` of `/cluster/backup` (pve-manager
//! PVE/API2/Backup.pm; docs/backups-and-exec.md): the `pvesh create|set|delete` command lines, the job as `pvesh get
//! /cluster/backup --output-format json` shows it, and what differs from the wanted one.

use serde_json::Value;

use super::vzdump::{self, NOTES_TEMPLATE};
use crate::remote::quote::join;

/// `pvesh get /cluster/backup --output-format json`: every job, each with `next-run`.
pub(crate) const LIST: &str = "pvesh get /cluster/backup --output-format json";

/// The id of the container's job (a `pve-configid`: letters, digits, `-`, at most 50).
pub(crate) fn id(vmid: u32) -> String {
    format!("pxdeploy-{vmid}")
}

/// The job's settings as `pvesh` options, in the order they are passed: what pxdeploy
/// manages (anything else set on the job by hand is left alone).
pub(crate) fn wanted<'a>(
    vmid: u32,
    schedule: &str,
    options: impl Into<vzdump::Options<'a>>,
) -> Vec<(&'static str, String)> {
    let cfg = options.into();
    vec![
        ("schedule", schedule.to_string()),
        ("vmid", vmid.to_string()),
        ("storage", cfg.storage.to_string()),
        ("mode", cfg.mode.to_string()),
        ("compress", cfg.compress.to_string()),
        ("prune-backups", format!("keep-last={}", cfg.keep_last)),
        ("notes-template", NOTES_TEMPLATE.to_string()),
        ("enabled", "1".to_string()),
    ]
}

fn options(settings: &[(&str, String)]) -> Vec<String> {
    settings
        .iter()
        .flat_map(|(k, v)| [format!("--{k}"), v.clone()])
        .collect()
}

/// `pvesh create /cluster/backup --id pxdeploy-<vmid> --schedule … --vmid … …`
pub(crate) fn create(vmid: u32, settings: &[(&str, String)]) -> String {
    let id = id(vmid);
    let mut argv = vec!["pvesh", "create", "/cluster/backup", "--id", &id];
    let opts = options(settings);
    argv.extend(opts.iter().map(String::as_str));
    join(&argv)
}

/// `pvesh set /cluster/backup/pxdeploy-<vmid> --<key> <value> …` (only what changed).
pub(crate) fn set(vmid: u32, settings: &[(&str, String)]) -> String {
    let path = format!("/cluster/backup/{}", id(vmid));
    let mut argv = vec!["pvesh", "set", &path];
    let opts = options(settings);
    argv.extend(opts.iter().map(String::as_str));
    join(&argv)
}

/// `pvesh delete /cluster/backup/pxdeploy-<vmid>`
pub(crate) fn delete(vmid: u32) -> String {
    join(&["pvesh", "delete", &format!("/cluster/backup/{}", id(vmid))])
}

/// One job of the list, its values as the `pvesh` options spell them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    pub id: String,
    /// (key, value) sorted by key; `prune-backups` as `keep-last=N[,…]` (keys sorted).
    pub settings: Vec<(String, String)>,
    /// When the scheduler would run it next (epoch seconds); a real node gives a disabled
    /// job one too.
    pub next_run: Option<i64>,
}

impl Job {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The job `id` from the JSON list; `Err` when the output is not a JSON list.
pub(crate) fn find(json: &str, id: &str) -> Result<Option<Job>, String> {
    let list: Vec<Value> = serde_json::from_str(json.trim())
        .map_err(|e| format!("`{LIST}` did not print a JSON list: {e}"))?;
    Ok(list
        .iter()
        .find(|j| j.get("id").and_then(Value::as_str) == Some(id))
        .map(|j| parse_job(id, j)))
}

fn parse_job(id: &str, j: &Value) -> Job {
    let mut settings: Vec<(String, String)> = j
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !matches!(k.as_str(), "id" | "type" | "next-run"))
        .map(|(k, v)| (k.clone(), text(v)))
        .collect();
    settings.sort();
    Job {
        id: id.to_string(),
        settings,
        next_run: j.get("next-run").and_then(Value::as_i64),
    }
}

/// A JSON value as its option text: `prune-backups` objects as `k=v,…` with sorted keys.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(map) => {
            let mut parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect();
            parts.sort();
            parts.join(",")
        }
        other => other.to_string(),
    }
}

/// One setting that differs: (key, what the job has, what is wanted).
pub(crate) type Change = (&'static str, Option<String>, String);

/// The wanted settings the job does not have (as it has them).
pub(crate) fn changes(job: &Job, wanted: &[(&'static str, String)]) -> Vec<Change> {
    wanted
        .iter()
        .filter(|(k, v)| job.get(k) != Some(v.as_str()))
        .map(|(k, v)| (*k, job.get(k).map(str::to_string), v.clone()))
        .collect()
}

/// The reason of a rejected calendar event in `pvesh`'s stderr (`schedule: invalid format -
/// invalid calendar event '…' - …`), if that is why it failed.
pub(crate) fn bad_schedule(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("schedule: "))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(keep_last: u32) -> vzdump::Options<'static> {
        vzdump::Options {
            storage: "local",
            mode: "snapshot",
            compress: "zstd",
            keep_last,
        }
    }

    #[test]
    fn command_lines_quote_every_value() {
        let w = wanted(210, "sat 03:00", cfg(7));
        assert_eq!(
            create(210, &w),
            "pvesh create /cluster/backup --id pxdeploy-210 --schedule 'sat 03:00' --vmid 210 --storage local --mode snapshot --compress zstd --prune-backups keep-last=7 --notes-template '{{guestname}} pxdeploy' --enabled 1"
        );
        assert_eq!(
            set(210, &[("prune-backups", "keep-last=3".into())]),
            "pvesh set /cluster/backup/pxdeploy-210 --prune-backups keep-last=3"
        );
        assert_eq!(delete(210), "pvesh delete /cluster/backup/pxdeploy-210");
    }

    const LISTED: &str = r#"[{"all":1,"enabled":1,"id":"cd5e47ba-81f1-4878-ac1d-aa685e22f6b1","next-run":1796004000,"prune-backups":{"keep-daily":"7","keep-monthly":"3"},"schedule":"hourly","storage":"x","type":"vzdump"},{"compress":"zstd","enabled":1,"id":"pxdeploy-210","mode":"snapshot","next-run":1796004000,"notes-template":"{{guestname}} pxdeploy","prune-backups":{"keep-last":"7"},"schedule":"02:00","storage":"local","type":"vzdump","vmid":"210"}]"#;

    #[test]
    fn finds_the_job_and_what_differs() {
        let job = find(LISTED, "pxdeploy-210").unwrap().unwrap();
        assert_eq!(job.next_run, Some(1796004000));
        assert_eq!(job.get("prune-backups"), Some("keep-last=7"));
        assert_eq!(job.get("enabled"), Some("1"));
        assert!(changes(&job, &wanted(210, "02:00", cfg(7))).is_empty());
        assert_eq!(
            changes(&job, &wanted(210, "02:00", cfg(3))),
            [(
                "prune-backups",
                Some("keep-last=7".into()),
                "keep-last=3".into()
            )]
        );
        let other = find(LISTED, "cd5e47ba-81f1-4878-ac1d-aa685e22f6b1")
            .unwrap()
            .unwrap();
        assert_eq!(
            other.get("prune-backups"),
            Some("keep-daily=7,keep-monthly=3")
        );
        assert_eq!(find("[]", "pxdeploy-210").unwrap(), None);
        assert!(find("", "pxdeploy-210").is_err());
    }

    #[test]
    fn the_reason_of_a_bad_calendar_event() {
        let stderr = "400 Parameter verification failed.\nschedule: invalid format - invalid calendar event 'sat 12:60' - unable to parse calendar event at '12:60' - Nom(Eof)\npvesh create <api_path> [OPTIONS] [FORMAT_OPTIONS]\n";
        let reason = bad_schedule(stderr).unwrap();
        assert_eq!(
            reason,
            "invalid format - invalid calendar event 'sat 12:60' - unable to parse calendar event at '12:60' - Nom(Eof)"
        );
        assert_eq!(bad_schedule("Job 'pxdeploy-210' already exists\n"), None);
    }
}
