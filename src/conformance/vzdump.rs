//! vzdump's task output and `pvesm`'s backup listing, as the real source prints them
//! (pve-manager 14a22df35955, pve-storage 0c56bad8b2a7), through `vzdump::parse_output`,
//! `pvesm::parse_list` and `pvesm::parse_status`.

use crate::proxmox::{pvesm, vzdump};

/// A backup to a `dir` storage.
// pve-manager PVE/VZDump.pm:1199 (`$archive_txt = 'vzdump'`), :1203
// (`creating $archive_txt archive '$task->{target}'`); pve-storage src/PVE/Storage/Plugin.pm:2128
// (`removing backup '$volid'`); PVE/VZDump.pm:1275-1276 (`pruned $pruned backup(s)${extra}`)
const DIR_RUN: &str = "\
INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-210-2026_12_07-14_23_22.tar.zst'
INFO: prune older backups with retention: keep-last=2
INFO: removing backup 'local:backup/vzdump-lxc-210-2026_12_06-02_00_01.tar.zst'
INFO: pruned 1 backup(s) not covered by keep-retention policy
INFO: Backup job finished successfully
";

/// A backup to a Proxmox Backup Server storage.
// pve-manager PVE/VZDump.pm:933 (`strftime("%FT%TZ", gmtime($task->{backup_time}))`),
// :926-934 (`ct/$vmid/$btime`), :1008 (target = the snapshot name), :1200
// (`$archive_txt = 'Proxmox Backup Server' if $self->{opts}->{pbs}`), :1203; pve-storage
// src/PVE/Storage/PBSPlugin.pm:455 (`running 'proxmox-backup-client prune' for '$backup_group'`,
// no `removing backup` line); PVE/VZDump.pm:1276
const PBS_RUN: &str = "\
INFO: creating Proxmox Backup Server archive 'ct/210/2026-12-07T14:23:22Z'
INFO: run: lxc-usernsexec -m u:0:100000:65536 -m g:0:100000:65536 -- /usr/bin/proxmox-backup-client backup --crypt-mode=none pct.conf:/var/tmp/vzdumptmp13323_210/etc/vzdump/pct.conf root.pxar:/mnt/vzsnap0 --backup-type ct --backup-id 210 --backup-time 1796653402 --repository root@pam@198.51.100.7:store1
INFO: adding notes to backup
INFO: prune older backups with retention: keep-last=2
INFO: running 'proxmox-backup-client prune' for 'ct/210'
INFO: pruned 1 backup(s) not covered by keep-retention policy
INFO: Backup job finished successfully
";

#[test]
fn a_dir_archive_its_volume_id_and_what_was_pruned() {
    let r = vzdump::parse_output(DIR_RUN, "local");
    assert_eq!(
        r.archive.as_deref(),
        Some("local:backup/vzdump-lxc-210-2026_12_07-14_23_22.tar.zst")
    );
    assert_eq!(
        r.pruned,
        ["local:backup/vzdump-lxc-210-2026_12_06-02_00_01.tar.zst"]
    );
    assert_eq!(r.pruned_count, Some(1));
}

#[test]
fn a_proxmox_backup_server_snapshot_is_the_archive() {
    let r = vzdump::parse_output(PBS_RUN, "pbs");
    // pve-storage src/PVE/Storage/PBSPlugin.pm:226-233 print_volid: `${storeid}:backup/ct/<id>/<time>`
    assert_eq!(
        r.archive.as_deref(),
        Some("pbs:backup/ct/210/2026-12-07T14:23:22Z")
    );
    assert_eq!(r.archive_path, None);
    assert!(r.pruned.is_empty());
    assert_eq!(r.pruned_count, Some(1));
    assert_eq!(r.failure, None);
    // PVE/VZDump.pm:1276 with nothing pruned: no extra words
    let none = vzdump::parse_output("INFO: pruned 0 backup(s)\n", "pbs");
    assert_eq!(none.pruned_count, Some(0));
}

#[test]
fn a_failed_backup_names_its_reason() {
    // pve-manager PVE/VZDump.pm:1340 `Backup of VM $vmid failed - $err`
    let r = vzdump::parse_output(
        "ERROR: Backup of VM 210 failed - CT is locked (backup)\n",
        "pbs",
    );
    assert_eq!(r.failure.as_deref(), Some("CT is locked (backup)"));
    assert_eq!(r.archive, None);
}

#[test]
fn pvesm_lists_a_pbs_snapshot_with_its_time() {
    // pve-storage src/PVE/CLI/pvesm.pm:218-230 (`%-${maxlenname}s %-7s %-9s %${sizemaxdigits}s`
    // then ` %d` for the VMID); PBSPlugin.pm:780 (`format => "pbs-$btype"`)
    let out = "Volid                                  Format  Type       Size VMID\n\
               pbs:backup/ct/210/2026-12-07T14:23:23Z pbs-ct  backup    10334 210\n";
    let list = pvesm::parse_list(out);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].volid, "pbs:backup/ct/210/2026-12-07T14:23:23Z");
    assert_eq!(list[0].format, "pbs-ct");
    assert_eq!(list[0].size, 10334);
    assert_eq!(list[0].vmid, Some(210));
    assert_eq!(list[0].date.as_deref(), Some("2026-12-07 14:23:23 UTC"));
}

#[test]
fn pvesm_status_shows_a_pbs_storage() {
    // pve-storage src/PVE/CLI/pvesm.pm:251-252 (the header with `(KiB)`), :257-268 (the rows);
    // PBSPlugin.pm:27-29 (`type` is `pbs`)
    let out = "Name         Type     Status     Total (KiB)      Used (KiB) Available (KiB)        %\n\
               local         dir     active        98497780         8912896        89584884    9.05%\n\
               pbs           pbs     active      1921208544       402653184      1518555360   20.96%\n";
    let s = pvesm::parse_status(out);
    assert_eq!(s.len(), 2);
    assert_eq!((s[1].name.as_str(), s[1].kind.as_str()), ("pbs", "pbs"));
    assert_eq!(s[1].status, "active");
    assert_eq!(s[1].available_kib, Some(1518555360));
}
