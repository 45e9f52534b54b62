//! Snapshots and restore: the `pct snapshot/listsnapshot/rollback/delsnapshot/restore`
//! command lines, the parser of `pct listsnapshot`'s tree, which storages can snapshot a
//! container, the names pxdeploy gives its snapshots and which of them a prune deletes.

use std::time::SystemTime;

use crate::remote::quote::join;

/// Every snapshot pxdeploy takes is named `pxdeploy_<UTC stamp>`; only these are ever deleted.
pub(crate) const PREFIX: &str = "pxdeploy_";

/// Storage types whose container volumes can be snapshotted (zfspool, lvmthin, rbd, btrfs);
/// `dir`, `nfs`, `cifs` and thick `lvm` cannot.
pub(crate) const SNAPSHOT_TYPES: &[&str] = &["zfspool", "lvmthin", "rbd", "btrfs"];

/// `pct snapshot <vmid> <name>`
pub(crate) fn snapshot(vmid: u32, name: &str) -> String {
    join(&["pct", "snapshot", &vmid.to_string(), name])
}

/// `pct listsnapshot <vmid>`
pub(crate) fn list(vmid: u32) -> String {
    format!("pct listsnapshot {vmid}")
}

/// `pct rollback <vmid> <name>`: kills a running container and leaves it stopped.
pub(crate) fn rollback(vmid: u32, name: &str) -> String {
    join(&["pct", "rollback", &vmid.to_string(), name])
}

/// `pct delsnapshot <vmid> <name>`
pub(crate) fn delete(vmid: u32, name: &str) -> String {
    join(&["pct", "delsnapshot", &vmid.to_string(), name])
}

/// `pct restore <vmid> <volid> --force 1 --storage <storage>` (the container must be stopped;
/// without `--storage` Proxmox would use `local`, not the container's storage).
pub(crate) fn restore(vmid: u32, volid: &str, storage: &str) -> String {
    join(&[
        "pct",
        "restore",
        &vmid.to_string(),
        volid,
        "--force",
        "1",
        "--storage",
        storage,
    ])
}

/// `pxdeploy_20261129T191501Z` for that instant (UTC).
pub(crate) fn name_at(t: SystemTime) -> String {
    let stamp = crate::timestamp::rfc3339(t); // 2026-11-29T19:15:01Z
    let compact: String = stamp.chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("{PREFIX}{compact}")
}

/// A name not in `taken`: `base`, else `base-2`, `base-3`, … (two deploys in one second).
pub(crate) fn unique_name(base: &str, taken: &[Snapshot]) -> String {
    let used = |n: &str| taken.iter().any(|s| s.name == n);
    if !used(base) {
        return base.to_string();
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !used(n))
        .unwrap_or_else(|| base.to_string())
}

/// One line of `pct listsnapshot` (not `current`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Snapshot {
    pub name: String,
    /// `YYYY-MM-DD HH:MM:SS`, the node's local time.
    pub time: Option<String>,
    /// The first line of the description; `None` for `no-description`.
    pub description: Option<String>,
}

impl Snapshot {
    pub(crate) fn is_ours(&self) -> bool {
        self.name.starts_with(PREFIX)
    }
}

/// Parses the tree `` `-> name  2026-01-11 14:47:17     description `` (one more leading space
/// per level); the `current` line is left out.
pub(crate) fn parse_list(stdout: &str) -> Vec<Snapshot> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("`->")?.trim_start();
            let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            if name.is_empty() || name == "current" {
                return None;
            }
            let rest = rest.trim_start();
            let (time, rest) = match rest.get(..19) {
                Some(t) if looks_like_time(t) => (Some(t.to_string()), &rest[19..]),
                _ => (None, rest),
            };
            let descr = rest.trim();
            Some(Snapshot {
                name: name.to_string(),
                time,
                description: (!descr.is_empty() && descr != "no-description")
                    .then(|| descr.to_string()),
            })
        })
        .collect()
}

fn looks_like_time(t: &str) -> bool {
    t.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b' ',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    })
}

/// pxdeploy's snapshots beyond the newest `keep`, oldest first (names sort by time).
/// Snapshots not named `pxdeploy_*` are never in the list.
pub(crate) fn to_prune(snapshots: &[Snapshot], keep: u32) -> Vec<String> {
    let mut ours: Vec<&str> = snapshots
        .iter()
        .filter(|s| s.is_ours())
        .map(|s| s.name.as_str())
        .collect();
    ours.sort_unstable();
    let excess = ours.len().saturating_sub(keep as usize);
    ours[..excess].iter().map(|s| s.to_string()).collect()
}

/// The mount points of a `pct config` text: (key, volume) for `rootfs` and `mpN`.
pub(crate) fn mount_points(config_text: &str) -> Vec<(String, String)> {
    config_text
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            let key = key.trim();
            let is_mp = key == "rootfs"
                || key
                    .strip_prefix("mp")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !is_mp {
                return None;
            }
            let first = value.trim().split(',').next().unwrap_or("");
            let volume = first.strip_prefix("volume=").unwrap_or(first);
            Some((key.to_string(), volume.to_string()))
        })
        .collect()
}

/// Why `pct snapshot` would answer `snapshot feature is not available`, if it would:
/// a mount point that is a bind mount, or on a storage whose type cannot snapshot.
/// `kind_of` gives a storage's type (`pvesm status`), `None` when unknown.
pub(crate) fn blocker(
    mounts: &[(String, String)],
    kind_of: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    mounts.iter().find_map(|(key, volume)| {
        let Some((storage, _)) = volume.split_once(':').filter(|_| !volume.starts_with('/')) else {
            return Some(format!(
                "{key} is a bind mount (`{volume}`), which Proxmox cannot snapshot"
            ));
        };
        match kind_of(storage) {
            Some(kind) if SNAPSHOT_TYPES.contains(&kind.as_str()) => None,
            Some(kind) => Some(format!(
                "{key} is on storage `{storage}` ({kind}), which cannot snapshot a container"
            )),
            None => Some(format!(
                "{key} is on storage `{storage}`, which is not on this node"
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn command_lines() {
        assert_eq!(
            snapshot(210, "pxdeploy_20261129T191501Z"),
            "pct snapshot 210 pxdeploy_20261129T191501Z"
        );
        assert_eq!(list(210), "pct listsnapshot 210");
        assert_eq!(rollback(210, "before"), "pct rollback 210 before");
        assert_eq!(delete(210, "before"), "pct delsnapshot 210 before");
        assert_eq!(
            restore(
                210,
                "local:backup/vzdump-lxc-210-2026_01_11-14_47_17.tar.zst",
                "local-lvm"
            ),
            "pct restore 210 local:backup/vzdump-lxc-210-2026_01_11-14_47_17.tar.zst --force 1 --storage local-lvm"
        );
        // a name from the command line never becomes shell syntax
        assert_eq!(rollback(210, "a;b"), "pct rollback 210 'a;b'");
    }

    #[test]
    fn names_are_valid_proxmox_ids_and_sort_by_time() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_979_701); // 2026-11-29T19:15:01Z
        let n = name_at(t);
        assert_eq!(n, "pxdeploy_20261129T191501Z");
        assert!(n.len() <= 40);
        assert!(name_at(t + Duration::from_secs(1)) > n);
        let taken = parse_list(&format!(
            "`-> {n:<26} 2026-11-29 19:15:01     no-description\n"
        ));
        assert_eq!(unique_name(&n, &taken), format!("{n}-2"));
        assert_eq!(unique_name("other", &taken), "other");
    }

    /// The reference's exact tree (two snapshots, the second with a description).
    const TREE: &str = "`-> before-upgrade              2026-01-11 14:47:17     no-description\n `-> after-upgrade              2026-01-12 09:00:00     post upgrade\n  `-> current                                           You are here!\n";

    #[test]
    fn parses_the_tree() {
        assert_eq!(
            parse_list(TREE),
            vec![
                Snapshot {
                    name: "before-upgrade".into(),
                    time: Some("2026-01-11 14:47:17".into()),
                    description: None
                },
                Snapshot {
                    name: "after-upgrade".into(),
                    time: Some("2026-01-12 09:00:00".into()),
                    description: Some("post upgrade".into())
                },
            ]
        );
        let none = "`-> current                                             You are here!\n";
        assert!(parse_list(none).is_empty());
    }

    #[test]
    fn prunes_only_ours_oldest_first() {
        let s = |n: &str| Snapshot {
            name: n.into(),
            time: None,
            description: None,
        };
        let all = vec![
            s("before-upgrade"),
            s("pxdeploy_20261129T191503Z"),
            s("pxdeploy_20261129T191501Z"),
            s("manual"),
            s("pxdeploy_20261129T191502Z"),
        ];
        assert_eq!(
            to_prune(&all, 1),
            vec!["pxdeploy_20261129T191501Z", "pxdeploy_20261129T191502Z"]
        );
        assert!(to_prune(&all, 3).is_empty());
        assert!(to_prune(&all, 5).is_empty());
    }

    #[test]
    fn which_storages_can_snapshot() {
        let config = "arch: amd64\nhostname: web\nmp0: /srv/data,mp=/data\nmp1: local-zfs:subvol-210-disk-1,mp=/x,size=8G\nrootfs: local-lvm:vm-210-disk-0,size=8G\n\n[before]\nrootfs: local:210/vm-210-disk-0.raw,size=8G\n";
        let mounts = mount_points(config);
        assert_eq!(
            mounts,
            vec![
                ("mp0".to_string(), "/srv/data".to_string()),
                ("mp1".to_string(), "local-zfs:subvol-210-disk-1".to_string()),
                ("rootfs".to_string(), "local-lvm:vm-210-disk-0".to_string()),
            ]
        );
        let kinds = |s: &str| match s {
            "local" => Some("dir".to_string()),
            "local-lvm" => Some("lvmthin".to_string()),
            "local-zfs" => Some("zfspool".to_string()),
            _ => None,
        };
        assert_eq!(
            blocker(&mounts, &kinds).as_deref(),
            Some("mp0 is a bind mount (`/srv/data`), which Proxmox cannot snapshot")
        );
        assert_eq!(blocker(&mounts[1..], &kinds), None);
        let on_dir = mount_points("rootfs: local:210/vm-210-disk-0.raw,size=8G\n");
        assert_eq!(
            blocker(&on_dir, &kinds).as_deref(),
            Some("rootfs is on storage `local` (dir), which cannot snapshot a container")
        );
    }
}
