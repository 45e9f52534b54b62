//! `vzdump`: the backup command line and what its output says (archive, pruned, failure).

use crate::remote::quote::join;

/// The notes every pxdeploy backup carries (`{{guestname}}` is expanded by vzdump).
pub(crate) const NOTES_TEMPLATE: &str = "{{guestname}} pxdeploy";

/// What a backup is made with: the `[backup]` section (`config::Backup` converts into it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Options<'a> {
    pub storage: &'a str,
    /// `snapshot`, `suspend` or `stop`.
    pub mode: &'a str,
    pub compress: &'a str,
    pub keep_last: u32,
}

/// `vzdump <vmid> --storage S --mode M --compress C --prune-backups keep-last=N --notes-template '{{guestname}} pxdeploy'`
pub(crate) fn backup<'a>(vmid: u32, options: impl Into<Options<'a>>) -> String {
    let cfg = options.into();
    join(&[
        "vzdump",
        &vmid.to_string(),
        "--storage",
        cfg.storage,
        "--mode",
        cfg.mode,
        "--compress",
        cfg.compress,
        "--prune-backups",
        &format!("keep-last={}", cfg.keep_last),
        "--notes-template",
        NOTES_TEMPLATE,
    ])
}

/// What a vzdump run reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// The path of `creating vzdump archive '<path>'` (none on a Proxmox Backup Server).
    pub archive_path: Option<String>,
    /// The archive's volume id: `<storage>:backup/<file>`, or on a Proxmox Backup Server
    /// storage `<storage>:backup/ct/<vmid>/<UTC time>Z`.
    pub archive: Option<String>,
    /// Volume ids of `removing backup '<volid>'` (a Proxmox Backup Server prunes without
    /// naming them).
    pub pruned: Vec<String>,
    /// N of `pruned N backup(s)`.
    pub pruned_count: Option<u32>,
    /// The reason of `ERROR: Backup of VM <vmid> failed - <reason>`.
    pub failure: Option<String>,
    /// `WARN:` lines.
    pub warnings: Vec<String>,
}

/// Reads vzdump's stdout (its task output); `storage` names the archive's volume id.
pub(crate) fn parse_output(stdout: &str, storage: &str) -> Report {
    let mut r = Report::default();
    for line in stdout.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("INFO: creating vzdump archive '") {
            let path = rest.strip_suffix('\'').unwrap_or(rest);
            let file = path.rsplit('/').next().unwrap_or(path);
            r.archive = Some(format!("{storage}:backup/{file}"));
            r.archive_path = Some(path.to_string());
        } else if let Some(rest) =
            line.strip_prefix("INFO: creating Proxmox Backup Server archive '")
        {
            // the snapshot's name on the server, `ct/<vmid>/<time>Z` (VZDump.pm:926-934)
            let name = rest.strip_suffix('\'').unwrap_or(rest);
            r.archive = Some(format!("{storage}:backup/{name}"));
        } else if let Some(rest) = line.strip_prefix("INFO: pruned ") {
            r.pruned_count = rest
                .split_once(" backup(s)")
                .and_then(|(n, _)| n.parse().ok());
        } else if let Some(rest) = line.strip_prefix("INFO: removing backup '") {
            r.pruned
                .push(rest.strip_suffix('\'').unwrap_or(rest).to_string());
        } else if let Some(rest) = line.strip_prefix("ERROR: Backup of VM ") {
            if let Some((_, reason)) = rest.split_once(" failed - ") {
                r.failure = Some(reason.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("WARN:") {
            r.warnings.push(rest.trim().to_string());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line() {
        let cfg = Options {
            storage: "local",
            mode: "snapshot",
            compress: "zstd",
            keep_last: 7,
        };
        assert_eq!(
            backup(210, cfg),
            "vzdump 210 --storage local --mode snapshot --compress zstd --prune-backups keep-last=7 --notes-template '{{guestname}} pxdeploy'"
        );
        let cfg = Options {
            storage: "nfs backup",
            mode: "stop",
            compress: "gzip",
            keep_last: 1,
        };
        assert_eq!(
            backup(210, cfg),
            "vzdump 210 --storage 'nfs backup' --mode stop --compress gzip --prune-backups keep-last=1 --notes-template '{{guestname}} pxdeploy'"
        );
    }

    const SUCCESS: &str = r#"INFO: starting new backup job: vzdump 100 --storage local --mode snapshot --compress zstd
INFO: Starting Backup of VM 100 (lxc)
INFO: Backup started at 2026-01-11 14:47:17
INFO: status = running
INFO: CT Name: web01
INFO: including mount point rootfs ('/') in backup
INFO: backup mode: snapshot
INFO: ionice priority: 7
INFO: create storage snapshot 'vzdump'
  Logical volume "snap_vm-100-disk-0_vzdump" created.
INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-100-2026_01_11-14_47_17.tar.zst'
INFO: Total bytes written: 1683906560 (1.6GiB, 175MiB/s)
INFO: archive file size: 512MB
INFO: adding notes to backup
INFO: prune older backups with retention: keep-last=3
INFO: removing backup 'local:backup/vzdump-lxc-100-2026_01_08-02_00_01.tar.zst'
INFO: pruned 1 backup(s) not covered by keep-retention policy
INFO: cleanup temporary 'vzdump' snapshot
  Logical volume "snap_vm-100-disk-0_vzdump" successfully removed.
INFO: Finished Backup of VM 100 (00:00:12)
INFO: Backup finished at 2026-01-11 14:47:29
INFO: Backup job finished successfully
"#;

    #[test]
    fn parses_a_successful_run() {
        let r = parse_output(SUCCESS, "local");
        assert_eq!(
            r.archive.as_deref(),
            Some("local:backup/vzdump-lxc-100-2026_01_11-14_47_17.tar.zst")
        );
        assert_eq!(
            r.archive_path.as_deref(),
            Some("/var/lib/vz/dump/vzdump-lxc-100-2026_01_11-14_47_17.tar.zst")
        );
        assert_eq!(
            r.pruned,
            vec!["local:backup/vzdump-lxc-100-2026_01_08-02_00_01.tar.zst"]
        );
        assert_eq!(r.failure, None);
        assert_eq!(r.pruned_count, Some(1));
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn parses_a_failure() {
        let out = "INFO: starting new backup job: vzdump 999 --storage local\nERROR: Backup of VM 999 failed - unable to find VM '999'\nINFO: Failed at 2026-01-11 14:47:17\nINFO: Backup job finished with errors\n";
        let r = parse_output(out, "local");
        assert_eq!(r.failure.as_deref(), Some("unable to find VM '999'"));
        assert_eq!(r.archive, None);
        let locked = parse_output(
            "ERROR: Backup of VM 100 failed - CT is locked (backup)\n",
            "local",
        );
        assert_eq!(locked.failure.as_deref(), Some("CT is locked (backup)"));
    }

    #[test]
    fn notification_errors_are_not_backup_failures() {
        let out = format!("{SUCCESS}ERROR: could not notify via target `mail-to-root`: x\n");
        assert_eq!(parse_output(&out, "local").failure, None);
    }
}
