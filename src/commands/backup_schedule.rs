//! `pxdeploy backup --schedule [CALENDAR]` / `--unschedule`, and the job line of
//! `backup --list`: the Proxmox backup job `pxdeploy-<vmid>` (`/cluster/backup`), run by
//! Proxmox's own scheduler with the `[backup]` settings.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

use super::context::Context;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::{display_path, sanitize};
use crate::proxmox::backup_job::{self, Job};
use crate::proxmox::calendar;
use crate::remote::host::{Host, PROBE_TIMEOUT};

/// `backup --schedule [CALENDAR]`: creates the job, or sets what differs; nothing when
/// it is as wanted.
pub(super) fn schedule(ctx: &Context, calendar: Option<&str>) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let schedule = match calendar.or(config.backup.schedule.as_deref()) {
        Some(s) => s.to_string(),
        None => return Err(Error::config("no backup schedule given")
            .cause(format!(
                "neither `--schedule CALENDAR` nor `[backup] schedule` in {}",
                display_path(&config.path)
            ))
            .hint(
                "add `schedule = \"02:00\"` to [backup], or run `pxdeploy backup --schedule 02:00`",
            )),
    };
    let source = match calendar {
        Some(_) => "--schedule".to_string(),
        None => format!("[backup] schedule in {}", display_path(&config.path)),
    };
    let host = ctx.connect(&config)?;
    let wanted = backup_job::wanted(vmid, &schedule, &config.backup);
    let id = backup_job::id(vmid);
    let existing = ctx
        .reporter
        .step("Reading the backup jobs", || current(&host, &id))?;
    let (action, changes): (&str, Vec<Value>) = match &existing {
        None => {
            let command = backup_job::create(vmid, &wanted);
            ctx.reporter
                .step(&format!("Creating backup job {id}"), || {
                    run(&host, &command, &schedule, &source)
                })?;
            ("created", Vec::new())
        }
        Some(job) => {
            let changes = backup_job::changes(job, &wanted);
            if changes.is_empty() {
                ("unchanged", Vec::new())
            } else {
                let set: Vec<(&str, String)> =
                    changes.iter().map(|(k, _, v)| (*k, v.clone())).collect();
                let command = backup_job::set(vmid, &set);
                ctx.reporter
                    .step(&format!("Updating backup job {id}"), || {
                        run(&host, &command, &schedule, &source)
                    })?;
                let listed = changes
                    .iter()
                    .map(|(k, old, new)| json!({"key": k, "old": old, "new": new}))
                    .collect();
                ("updated", listed)
            }
        }
    };
    for c in &changes {
        ctx.out.info(format!(
            "  {}: {} -> {}",
            c["key"].as_str().unwrap_or(""),
            sanitize(c["old"].as_str().unwrap_or("(unset)")),
            sanitize(c["new"].as_str().unwrap_or(""))
        ));
    }
    // The job as Proxmox has it now, with its next run (not under --dry-run: nothing changed).
    let job = if action == "unchanged" || host.dry_run() {
        existing
    } else {
        current(&host, &id)?
    };
    let next = job.as_ref().and_then(|j| j.next_run);
    ctx.out.info(match action {
        "unchanged" => format!("backup job {id} is up to date: nothing changed"),
        _ if host.dry_run() => format!("backup job {id} would be {action}"),
        _ => format!("backup job {id} {action}"),
    });
    if !host.dry_run() {
        ctx.out.data(describe(&id, job.as_ref(), &config));
        // the node accepted it: say so when it reads minutes where the text shows an hour
        if let Some(reading) = calendar::reading(&schedule) {
            ctx.out.warn(reading.warning());
        }
    }
    ctx.succeed(
        Some(&host),
        json!({
            "vmid": vmid,
            "job": id,
            "schedule": schedule,
            "action": action,
            "changes": changes,
            "next_run": next.map(utc),
            "storage": config.backup.storage,
            "keep_last": config.backup.keep_last,
        }),
    );
    Ok(())
}

/// `backup --unschedule`: removes the job; no job is success too.
pub(super) fn unschedule(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let vmid = config.vmid();
    let id = backup_job::id(vmid);
    let host = ctx.connect(&config)?;
    let existing = ctx
        .reporter
        .step("Reading the backup jobs", || current(&host, &id))?;
    let removed = existing.is_some();
    if removed {
        let command = backup_job::delete(vmid);
        ctx.reporter
            .step(&format!("Removing backup job {id}"), || {
                host.change_ok(&command, PROBE_TIMEOUT)
            })?;
        if !host.dry_run() {
            ctx.out.info(format!("backup job {id} removed"));
        }
    } else {
        ctx.out.info(format!(
            "no backup job {id} on {}: nothing to remove",
            host.alias
        ));
    }
    ctx.succeed(
        Some(&host),
        json!({ "vmid": vmid, "job": id, "removed": removed }),
    );
    Ok(())
}

/// The job of this container as `pvesh` lists it (with its next run).
pub(super) fn current(host: &Host, id: &str) -> Result<Option<Job>> {
    let out = host.probe_ok(backup_job::LIST)?;
    backup_job::find(&out.stdout_str(), id)
        .map_err(|why| Error::remote("could not read the backup jobs").cause(why))
}

/// `disabled`, or when the job runs next. A real node gives a disabled job a `next-run`
/// too (pve-manager `PVE/API2/Backup.pm` 224-230): it is not shown, the job does not run.
fn next_run(job: &Job) -> String {
    match job.next_run {
        _ if job.get("enabled") == Some("0") => "disabled".to_string(),
        Some(t) => format!("next run {}", utc(t)),
        None => "next run unknown".to_string(),
    }
}

/// The job line of `backup --list` and `--schedule`.
pub(super) fn describe(id: &str, job: Option<&Job>, config: &Config) -> String {
    let Some(job) = job else {
        return format!(
            "backup job {id}: none (`pxdeploy backup --schedule` creates it{})",
            config
                .backup
                .schedule
                .as_deref()
                .map(|s| format!(" for {s:?}"))
                .unwrap_or_default()
        );
    };
    let get = |k: &str| sanitize(job.get(k).unwrap_or("-"));
    let reading = job
        .get("schedule")
        .and_then(calendar::reading)
        .map(|r| format!(" (runs {})", r.words()))
        .unwrap_or_default();
    let next = next_run(job);
    format!(
        "backup job {id}: schedule {:?}{reading}, {next}, storage {}, mode {}, {}",
        get("schedule"),
        get("storage"),
        get("mode"),
        get("prune-backups")
    )
}

/// The JSON facts of the job for `backup --list`.
pub(super) fn facts(job: Option<&Job>) -> Value {
    match job {
        None => Value::Null,
        Some(j) => {
            let mut map: serde_json::Map<String, Value> = j
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            map.insert("id".into(), j.id.clone().into());
            map.insert("next_run".into(), j.next_run.map(utc).into());
            Value::Object(map)
        }
    }
}

/// Runs a create/set; a calendar event Proxmox rejects is a configuration error (exit 3)
/// with Proxmox's reason.
fn run(host: &Host, command: &str, schedule: &str, source: &str) -> Result<()> {
    let out = host.change(command, PROBE_TIMEOUT)?;
    if out.status.success() {
        return Ok(());
    }
    if let Some(reason) = backup_job::bad_schedule(&out.stderr_str()) {
        let at = match calendar::stuck_at(&reason) {
            Some(at) if !at.is_empty() => format!(
                "Proxmox could not read the schedule from `{}` on; ",
                sanitize(at)
            ),
            _ => String::new(),
        };
        return Err(
            Error::config(format!("Proxmox rejected the backup schedule {schedule:?}"))
                .cause(format!("{source}: {}", sanitize(&reason)))
                .hint(format!("{at}a Proxmox calendar event: `02:00`, `sat 03:00`, `mon..fri 22:30`, `*/6:00`, `daily`")),
        );
    }
    crate::remote::host::ensure_success(command, out).map(drop)
}

/// Epoch seconds as `2026-12-01T02:00:00Z`.
fn utc(secs: i64) -> String {
    crate::timestamp::rfc3339(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

#[cfg(test)]
mod next_run_tests {
    use super::*;

    #[test]
    fn a_disabled_job_is_disabled_though_proxmox_gives_it_a_next_run() {
        let job = |enabled: &str, next_run| Job {
            id: "pxdeploy-210".into(),
            settings: vec![("enabled".into(), enabled.into())],
            next_run,
        };
        assert_eq!(next_run(&job("0", Some(1_796_004_000))), "disabled");
        assert!(next_run(&job("1", Some(1_796_004_000))).starts_with("next run 20"));
        assert_eq!(next_run(&job("1", None)), "next run unknown");
    }
}
