//! `pvesm`: storage status and the backups of one container on a storage.

use crate::remote::quote::quote;

/// `pvesm status`
pub(crate) fn status() -> String {
    "pvesm status".to_string()
}

/// `pvesm list <storage> --content backup --vmid <vmid>`
pub(crate) fn list_backups(storage: &str, vmid: u32) -> String {
    format!(
        "pvesm list {} --content backup --vmid {vmid}",
        quote(storage)
    )
}

/// One row of `pvesm status` (sizes in KiB, as printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Storage {
    pub name: String,
    /// `dir`, `lvmthin`, `zfspool`, `nfs`, …
    pub kind: String,
    /// `active`, `inactive`, `disabled`.
    pub status: String,
    pub total_kib: Option<u64>,
    pub used_kib: Option<u64>,
    pub available_kib: Option<u64>,
}

/// Parses the `Name Type Status Total Used Available %` table.
pub(crate) fn parse_status(stdout: &str) -> Vec<Storage> {
    stdout
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 3 || w[0] == "Name" {
                return None;
            }
            let n = |i: usize| w.get(i).and_then(|v| v.parse().ok());
            Some(Storage {
                name: w[0].to_string(),
                kind: w[1].to_string(),
                status: w[2].to_string(),
                total_kib: n(3),
                used_kib: n(4),
                available_kib: n(5),
            })
        })
        .collect()
}

/// One backup archive of `pvesm list … --content backup`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct BackupEntry {
    pub volid: String,
    /// `tar.zst`, `tar.gz`, …
    pub format: String,
    pub size: u64,
    pub vmid: Option<u32>,
    /// When the backup started, from its name: `YYYY-MM-DD HH:MM:SS` (the node's local
    /// time) for a vzdump archive, `YYYY-MM-DD HH:MM:SS UTC` for a Proxmox Backup Server
    /// snapshot.
    pub date: Option<String>,
}

/// Parses `Volid Format Type Size VMID` rows (a `~` before the size marks an estimate).
pub(crate) fn parse_list(stdout: &str) -> Vec<BackupEntry> {
    stdout
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 4 || w[0] == "Volid" {
                return None;
            }
            Some(BackupEntry {
                volid: w[0].to_string(),
                format: w[1].to_string(),
                size: w[3].trim_start_matches('~').parse().ok()?,
                vmid: w.get(4).and_then(|v| v.parse().ok()),
                date: backup_date(w[0]),
            })
        })
        .collect()
}

/// The date in a vzdump archive name: `…/vzdump-lxc-100-2026_01_11-14_47_17.tar.zst` →
/// `2026-01-11 14:47:17`; in a Proxmox Backup Server volume id
/// `pbs:backup/ct/100/2026-01-11T13:47:17Z` → `2026-01-11 13:47:17 UTC`.
pub(crate) fn backup_date(volid: &str) -> Option<String> {
    let file = volid.rsplit('/').next()?;
    if let Some(t) = pbs_time(file) {
        return Some(t);
    }
    let rest = file.strip_prefix("vzdump-")?;
    // <type>-<vmid>-YYYY_MM_DD-HH_MM_SS.<ext>
    let mut parts = rest.splitn(4, '-');
    let (_kind, _vmid, day, time) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let time = time.get(..8)?;
    let d: Vec<&str> = day.split('_').collect();
    let t: Vec<&str> = time.split('_').collect();
    let digits = |v: &[&str], lens: &[usize]| {
        v.len() == lens.len()
            && v.iter()
                .zip(lens)
                .all(|(s, n)| s.len() == *n && s.bytes().all(|b| b.is_ascii_digit()))
    };
    if !digits(&d, &[4, 2, 2]) || !digits(&t, &[2, 2, 2]) {
        return None;
    }
    Some(format!(
        "{}-{}-{} {}:{}:{}",
        d[0], d[1], d[2], t[0], t[1], t[2]
    ))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the time part of a PBS snapshot (pve-storage PBSPlugin.pm:230
/// `strftime("%FT%TZ", gmtime($btime))`) → `YYYY-MM-DD HH:MM:SS UTC`.
fn pbs_time(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let shape = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    shape.then(|| format!("{} {} UTC", &text[..10], &text[11..19]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(status(), "pvesm status");
        assert_eq!(
            list_backups("local", 210),
            "pvesm list local --content backup --vmid 210"
        );
    }

    #[test]
    fn parses_status_table() {
        let out = "Name             Type     Status           Total            Used       Available        %\n\
                   local             dir     active        98497780        11144392        82303840   11.31%\n\
                   local-lvm     lvmthin     active       335646720        21236764       314409955    6.33%\n\
                   nfs-old           nfs   disabled               0               0               0      N/A\n";
        let s = parse_status(out);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "local");
        assert_eq!(s[0].kind, "dir");
        assert_eq!(s[0].status, "active");
        assert_eq!(s[0].available_kib, Some(82303840));
        assert_eq!(s[1].name, "local-lvm");
        assert_eq!(s[1].kind, "lvmthin");
        assert_eq!(s[2].status, "disabled");
    }

    #[test]
    fn parses_backup_list() {
        let out = "Volid                                                   Format  Type           Size VMID\n\
                   local:backup/vzdump-lxc-100-2026_01_11-14_47_17.tar.zst tar.zst backup    536870912 100\n";
        assert_eq!(
            parse_list(out),
            vec![BackupEntry {
                volid: "local:backup/vzdump-lxc-100-2026_01_11-14_47_17.tar.zst".into(),
                format: "tar.zst".into(),
                size: 536870912,
                vmid: Some(100),
                date: Some("2026-01-11 14:47:17".into()),
            }]
        );
        assert_eq!(parse_list(""), vec![]);
        let approx = parse_list("pbs:backup/ct/100/2026-01-11T14:47:17Z tar backup ~1024 100\n");
        assert_eq!(approx[0].size, 1024);
        assert_eq!(approx[0].date.as_deref(), Some("2026-01-11 14:47:17 UTC"));
    }

    #[test]
    fn dates_from_archive_names() {
        assert_eq!(
            backup_date("local:backup/vzdump-lxc-210-2026_02_03-04_05_06.tar.gz").as_deref(),
            Some("2026-02-03 04:05:06")
        );
        assert_eq!(
            backup_date("/var/lib/vz/dump/vzdump-lxc-210-2026_02_03-04_05_06.tar").as_deref(),
            Some("2026-02-03 04:05:06")
        );
        assert_eq!(backup_date("local:backup/other.tar"), None);
        assert_eq!(
            backup_date("pbs:backup/ct/210/2026-02-03T04:05:06Z").as_deref(),
            Some("2026-02-03 04:05:06 UTC")
        );
        assert_eq!(backup_date("pbs:backup/ct/210/2026-02-03T04:05:06"), None);
    }
}
