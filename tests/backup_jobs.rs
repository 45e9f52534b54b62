//! Issue 14, scheduled backups: `backup --schedule` / `--unschedule` / `--list` manage the
//! Proxmox backup job `pxdeploy-<vmid>` with `pvesh` on `/cluster/backup`, against the
//! simulated node's `/etc/pve/jobs.cfg` (no container needed: the job only names it); the
//! node reads calendar events with proxmox-time's grammar (`25:00` is minute 25 of every hour),
//! and pxdeploy says so in words.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::{pxdeploy, unique_vmid, Run, SimHost};

/// The node of this file, its jobs.cfg holding [`GUI_JOB`].
fn node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(|| {
        let sim = SimHost::builder().start();
        let path = jobs_cfg(&sim);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, GUI_JOB).unwrap();
        sim
    })
}

fn px(app: &Path, args: &[&str]) -> Run {
    pxdeploy().current_dir(app).args(args).run()
}

fn app(sim: &SimHost, vmid: u32, backup_toml: &str) -> tempfile::TempDir {
    let app = crate::support::small_app();
    sim.write_config(
        app.path(),
        &format!("[container]\nvmid = {vmid}\n[backup]\n{backup_toml}"),
    );
    app
}

fn jobs_cfg(sim: &SimHost) -> PathBuf {
    sim.state_dir().join("etc/pve/jobs.cfg")
}

/// The `vzdump: <id>` section of jobs.cfg, with its empty line.
fn section(sim: &SimHost, id: &str) -> Option<String> {
    let text = std::fs::read_to_string(jobs_cfg(sim)).unwrap_or_default();
    let start = text.find(&format!("vzdump: {id}\n"))?;
    let end = text[start..]
        .find("\n\n")
        .map_or(text.len(), |e| start + e + 2);
    Some(text[start..end].to_string())
}

/// A job written by the GUI (docs/backups-and-exec.md) that pxdeploy must leave alone.
const GUI_JOB: &str = "vzdump: backup-07cdf241-8b56\n\tschedule 2:00\n\tall 1\n\tenabled 1\n\tfleecing 0\n\tmode snapshot\n\tnotes-template {{guestname}}\n\tprune-backups keep-daily=7\n\tstorage local\n\n";

#[test]
fn schedule_creates_updates_lists_and_removes_the_job() {
    let sim = node();
    let vmid = unique_vmid(0);
    let id = format!("pxdeploy-{vmid}");
    let a = app(sim, vmid, "schedule = \"02:00\"\nkeep_last = 7\n");

    // --dry-run: the pvesh command line, no job.
    let r = px(a.path(), &["--dry-run", "backup", "--schedule"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&format!(
            "pvesh create /cluster/backup --id {id} --schedule 02:00 --vmid {vmid} --storage local --mode snapshot --compress zstd --prune-backups keep-last=7"
        )),
        "{}",
        r.dump()
    );
    assert_eq!(section(sim, &id), None, "--dry-run created the job");

    // Created, in Proxmox's layout byte for byte: schedule first, the rest sorted.
    let r = px(a.path(), &["backup", "--schedule"]);
    r.assert_code(0)
        .assert_stderr_contains(&format!("backup job {id} created"));
    assert!(r.stdout.contains("next run 20"), "{}", r.dump());
    let created = format!(
        "vzdump: {id}\n\tschedule 02:00\n\tcompress zstd\n\tenabled 1\n\tmode snapshot\n\tnotes-template {{{{guestname}}}} pxdeploy\n\tprune-backups keep-last=7\n\tstorage local\n\tvmid {vmid}\n\n"
    );
    assert_eq!(section(sim, &id).as_deref(), Some(created.as_str()));
    assert_eq!(
        section(sim, "backup-07cdf241-8b56").as_deref(),
        Some(GUI_JOB)
    );

    // The same settings again: nothing is sent (other tests share the node: only this job's
    // calls count).
    let before = sim.calls().len();
    let r = px(a.path(), &["backup", "--schedule", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(r.json()["action"], "unchanged", "{}", r.dump());
    let sent: Vec<String> = sim.calls()[before..]
        .iter()
        .map(|c| c.line())
        .filter(|l| l.starts_with("pvesh create") || l.starts_with("pvesh set"))
        .filter(|l| l.contains(&id))
        .collect();
    assert!(sent.is_empty(), "an unchanged job was changed: {sent:?}");
    assert_eq!(section(sim, &id).as_deref(), Some(created.as_str()));

    // Retention changed: only that key is set.
    let a = app(sim, vmid, "schedule = \"02:00\"\nkeep_last = 3\n");
    let r = px(a.path(), &["backup", "--schedule"]);
    r.assert_code(0)
        .assert_stderr_contains(&format!("backup job {id} updated"))
        .assert_stderr_contains("prune-backups: keep-last=7 -> keep-last=3");
    assert_eq!(
        sim.calls_matching(&["pvesh", "set", &format!("/cluster/backup/{id}")])
            .last()
            .map(|c| c.line()),
        Some(format!(
            "pvesh set /cluster/backup/{id} --prune-backups keep-last=3"
        ))
    );
    assert_eq!(
        section(sim, &id),
        Some(created.replace("keep-last=7", "keep-last=3"))
    );

    // --list: the job and its next run, after the (empty) archive list.
    let r = px(a.path(), &["backup", "--list"]);
    r.assert_code(0);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("backup job {id}:")))
        .unwrap_or_else(|| panic!("no job line\n{}", r.dump()));
    assert!(
        line.contains("schedule \"02:00\", next run 20")
            && line.contains("storage local, mode snapshot, keep-last=3"),
        "{line}"
    );
    let doc = px(a.path(), &["backup", "--list", "-o", "json"]).json();
    assert_eq!(doc["job"]["id"], id.as_str());
    assert_eq!(doc["job"]["schedule"], "02:00");
    let next = doc["job"]["next_run"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        next.len() == 20 && next.ends_with(":00:00Z"),
        "next_run {next:?}"
    );

    // Removed; removing again is fine.
    px(a.path(), &["backup", "--unschedule"])
        .assert_code(0)
        .assert_stderr_contains(&format!("backup job {id} removed"));
    assert_eq!(section(sim, &id), None);
    assert_eq!(
        section(sim, "backup-07cdf241-8b56").as_deref(),
        Some(GUI_JOB)
    );
    px(a.path(), &["backup", "--unschedule"])
        .assert_code(0)
        .assert_stderr_contains("nothing to remove");
    let r = px(a.path(), &["backup", "--list"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&format!("backup job {id}: none")),
        "{}",
        r.dump()
    );
}

#[test]
fn an_invalid_calendar_event_is_a_configuration_error_with_proxmoxs_reason() {
    let sim = node();
    let vmid = unique_vmid(1);
    // proxmox-time reads `sat 12:60` up to `12:60`, then finds text left over (`Nom(Eof)`).
    let a = app(sim, vmid, "schedule = \"sat 12:60\"\n");
    let r = px(a.path(), &["backup", "--schedule"]);
    r.assert_code(3)
        .assert_stderr_contains("invalid calendar event 'sat 12:60' - unable to parse calendar event at '12:60' - Nom(Eof)")
        .assert_stderr_contains("[backup] schedule in pxdeploy.toml")
        .assert_stderr_contains("Proxmox could not read the schedule from `12:60` on");
    assert_eq!(section(sim, &format!("pxdeploy-{vmid}")), None);

    // From the command line, on an existing job: the job keeps its schedule.
    px(a.path(), &["backup", "--schedule", "sat 03:00"]).assert_code(0);
    let r = px(a.path(), &["backup", "--schedule", "mon..xyz"]);
    r.assert_code(3)
        .assert_stderr_contains("invalid calendar event 'mon..xyz'")
        .assert_stderr_contains("--schedule");
    assert!(section(sim, &format!("pxdeploy-{vmid}"))
        .unwrap()
        .contains("\tschedule sat 03:00\n"));

    // No schedule anywhere: said before connecting.
    let a = app(sim, vmid, "keep_last = 2\n");
    let r = px(a.path(), &["backup", "--schedule"]);
    r.assert_code(3).assert_stderr_contains("[backup] schedule");
}

#[test]
fn an_hour_the_node_reads_as_minutes_is_said_in_words_next_to_the_next_run() {
    let sim = node();
    let vmid = unique_vmid(2);
    let id = format!("pxdeploy-{vmid}");
    let a = app(sim, vmid, "schedule = \"25:00\"\n");
    let r = px(a.path(), &["backup", "--schedule"]);
    r.assert_code(0)
        .assert_stderr_contains(&format!("backup job {id} created"))
        .assert_stderr_contains(
            "Proxmox reads `25:00` as minute 25 of every hour, not as a time of day",
        );
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("backup job {id}:")))
        .unwrap_or_else(|| panic!("no job line\n{}", r.dump()));
    assert!(
        line.contains("schedule \"25:00\" (runs every hour at minute 25), next run 20")
            && line.contains(":25:00Z"),
        "{line}"
    );
    // --list says it too.
    let r = px(a.path(), &["backup", "--list"]);
    r.assert_code(0)
        .assert_stdout_contains("(runs every hour at minute 25)");
    px(a.path(), &["backup", "--unschedule"]).assert_code(0);
}

/// The simulator's calendar parser (sim/pvesim/calendar.py, a port of proxmox-time) against
/// the real examples in sim/calendar_check.py: no node needed.
#[test]
fn the_simulated_calendar_parser_reads_proxmox_times_examples() {
    let script = crate::support::repo_root().join("sim/calendar_check.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ok ") && text.contains(" 0 failures"),
        "{text}"
    );
}
