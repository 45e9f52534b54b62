//! The node's verdict on calendar events (pve-common f665029eac78 src/PVE/CalendarEvent.pm,
//! proxmox-rs 214dbdf9a5a8 proxmox-time) through `backup_job::bad_schedule`,
//! `calendar::stuck_at` and `calendar::reading`.

use crate::proxmox::backup_job::bad_schedule;
use crate::proxmox::calendar::{reading, stuck_at};

/// `pvesh create /cluster/backup` refusing a schedule.
// pve-common src/PVE/JSONSchema.pm:1631 (`invalid format - $@`); src/PVE/CalendarEvent.pm:32
// (`invalid calendar event '$text' - $err`); proxmox-time src/parse_helpers.rs
// parse_complete_line (`unable to parse {} at '{}' - {:?}`, the Debug form `Nom(Eof)` of
// all_consuming's error); pve-common src/PVE/Exception.pm:101-126 (the 400 layout)
const REFUSED: &str = "400 Parameter verification failed.\n\
schedule: invalid format - invalid calendar event 'sat 12:60' - unable to parse calendar event at '12:60' - Nom(Eof)\n\
pvesh create <api_path> [OPTIONS] [FORMAT_OPTIONS]\n";

#[test]
fn the_reason_and_where_the_node_stopped_reading() {
    let reason = bad_schedule(REFUSED).unwrap();
    assert!(reason.starts_with("invalid format - invalid calendar event 'sat 12:60' - "));
    assert_eq!(stuck_at(&reason), Some("12:60"));
    // proxmox-time calendar_event.rs: no weekday, date or time read: its own context
    let ctx = "invalid format - invalid calendar event '12:60' - unable to parse calendar event at '12:60' - Context(\"date or time specification\")";
    assert_eq!(stuck_at(ctx), Some("12:60"));
    // week_days.rs parse_weekday: `parse_error(text, "weekday")`, at the word itself
    let day = "invalid format - invalid calendar event 'daily 02:00' - unable to parse calendar event at 'daily' - Context(\"weekday\")";
    assert_eq!(stuck_at(day), Some("daily"));
    // pve-common src/PVE/CalendarEvent.pm:45-47: an empty event, no position
    assert_eq!(
        stuck_at("invalid calendar event ' ' - unable to parse calendar event - event is empty"),
        None
    );
}

#[test]
fn what_the_node_reads_as_minutes() {
    // proxmox-time calendar_event.rs parse_time_spec: `opt(terminated(hour list < 24, ":"))`
    // fails on 25 and backtracks; `25` is the minute, `00` the second.
    assert_eq!(
        reading("25:00").map(|r| r.words()).as_deref(),
        Some("every hour at minute 25")
    );
    // parse_date_time_comp_list(0, 24) takes `*/6` as the hour list: read as written
    assert_eq!(reading("*/6:00"), None);
    // pve-docs calendar-events.adoc: `mon..fri 22` is minute 22 (no `:`, no hour)
    assert_eq!(
        reading("mon..fri 22").map(|r| r.words()).as_deref(),
        Some("every hour at minute 22")
    );
    assert_eq!(reading("sat 03:00 UTC"), None);
}
