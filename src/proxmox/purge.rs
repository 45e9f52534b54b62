//! What `pct destroy <vmid> --purge 1` removes besides the container, as pve-container's
//! destroy task does it (`src/PVE/API2/LXC.pm` 907-915 at 94f558522ef6):
//!
//! - the firewall file `/etc/pve/firewall/<vmid>.fw` (`remove_vmfw_conf`, with or without
//!   `--purge`);
//! - the container in every backup job (`remove_vmid_from_backup_jobs`, pve-guest-common
//!   `src/PVE/VZDump/Plugin.pm` 180-229 at 4a8f6cbf78e1): it leaves a job's `vmid` list, and
//!   a job left with no guest is deleted (so `pxdeploy-<vmid>` goes entirely); a job of all
//!   guests (or a pool) loses it from `exclude`;
//! - its HA resource, printing `NOTE: removed CT <vmid> from HA resource configuration.`
//!
//! pxdeploy looks at the jobs before the destroy (Proxmox prints nothing about them) and
//! reads the HA note from the task's output, to say what went with the container.

use serde_json::Value;

/// The backup jobs `pct destroy --purge` changes for a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct JobsTouched {
    /// Jobs that back up only this container: deleted.
    pub deleted: Vec<String>,
    /// Jobs that lose it from their `vmid` list (other guests stay).
    pub changed: Vec<String>,
    /// Jobs of all guests (or a pool) that excluded it and no longer do.
    pub unexcluded: Vec<String>,
}

/// Splits a list as `PVE::Tools::split_list` does (commas, semicolons, white space).
fn split_list(text: &str) -> Vec<&str> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The jobs of `pvesh get /cluster/backup --output-format json` that `pct destroy --purge`
/// changes for `vmid`; `None` when the output is not a JSON list.
pub(crate) fn backup_jobs(json: &str, vmid: u32) -> Option<JobsTouched> {
    let list: Vec<Value> = serde_json::from_str(json.trim()).ok()?;
    let id = vmid.to_string();
    let mut touched = JobsTouched::default();
    for job in &list {
        if job.get("type").and_then(Value::as_str).unwrap_or("vzdump") != "vzdump" {
            continue;
        }
        let Some(name) = job.get("id").and_then(Value::as_str) else {
            continue;
        };
        let field = |k: &str| match job.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if let Some(vmids) = field("vmid") {
            let all = split_list(&vmids);
            if all.contains(&id.as_str()) {
                match all.iter().all(|v| *v == id) {
                    true => touched.deleted.push(name.to_string()),
                    false => touched.changed.push(name.to_string()),
                }
            }
        } else if let Some(exclude) = field("exclude") {
            if split_list(&exclude).contains(&id.as_str()) {
                touched.unexcluded.push(name.to_string());
            }
        }
    }
    Some(touched)
}

/// Whether the destroy task's output says it removed the container's HA resource.
pub(crate) fn ha_removed(stdout: &str, vmid: u32) -> bool {
    let note = format!("NOTE: removed CT {vmid} from HA resource configuration.");
    stdout.lines().any(|l| l.trim() == note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_of_this_container_alone_is_deleted_others_lose_it() {
        let json = r#"[{"id":"pxdeploy-210","type":"vzdump","vmid":"210","enabled":1,"schedule":"02:00","next-run":1},
            {"id":"nightly","type":"vzdump","vmid":"120,210;330","enabled":0},
            {"id":"other","type":"vzdump","vmid":"2100"},
            {"id":"everything","type":"vzdump","all":1,"exclude":"210"},
            {"id":"pool","type":"vzdump","pool":"web","exclude":"99"}]"#;
        assert_eq!(
            backup_jobs(json, 210),
            Some(JobsTouched {
                deleted: vec!["pxdeploy-210".into()],
                changed: vec!["nightly".into()],
                unexcluded: vec!["everything".into()],
            })
        );
        assert_eq!(backup_jobs("[]", 210), Some(JobsTouched::default()));
        assert_eq!(backup_jobs("no jobs", 210), None);
    }

    #[test]
    fn the_ha_note_is_read_from_the_task_output() {
        let out = "  Logical volume \"vm-210-disk-0\" successfully removed.\npurging CT 210 from related configurations..\nNOTE: removed CT 210 from HA resource configuration.\n";
        assert!(ha_removed(out, 210));
        assert!(!ha_removed(out, 21));
        assert!(!ha_removed(
            "purging CT 210 from related configurations..\n",
            210
        ));
    }
}
