//! Getting a cloud image onto a node with `download-url` (pve-storage `Status.pm`
//! `download_url`), always with a checksum: re-runs are idempotent (`OK, got correct file
//! already`), and a wrong file is refused. `pvesh` never reads the task's result, so a
//! failed download can exit 0: the step reads the task's status (`exitstatus`) from its UPID.

use serde::Deserialize;

use crate::remote::quote::join;

/// `pvesm list <storage> --content import`: the images already on the storage.
pub(crate) fn list_images(storage: &str) -> String {
    join(&["pvesm", "list", storage, "--content", "import"])
}

/// Is `volid` (`local:import/debian-12-genericcloud-amd64.qcow2`) in `pvesm list`'s table?
pub(crate) fn listed(stdout: &str, volid: &str) -> bool {
    stdout
        .lines()
        .any(|l| l.split_whitespace().next() == Some(volid))
}

/// One node command: fetch the published checksum list `sums_url`, take the checksum of
/// `listed_as` (the file name the list uses: `<sum>  <name>` or `<sum> *<name>`), and pass
/// it to `download-url` in the same step; no checksum found: exit 3, nothing downloaded.
pub(crate) fn with_checksum_list(
    node: &str,
    storage: &str,
    url: &str,
    filename: &str,
    sums_url: &str,
    listed_as: &str,
    algorithm: &str,
) -> String {
    let script = "sum=$(curl -fsSL -- \"$1\" | awk -v f=\"$2\" '$2 == f || $2 == \"*\" f { print $1; exit }') || exit 2; \
[ -n \"$sum\" ] || { echo \"pxdeploy: no checksum for $2 in $1\" >&2; exit 3; }; \
shift 2; exec \"$@\" --checksum \"$sum\"";
    let path = download_path(node, storage);
    let argv = [
        "sh",
        "-c",
        script,
        "sh",
        sums_url,
        listed_as,
        "pvesh",
        "create",
        &path,
        "--url",
        url,
        "--filename",
        filename,
        "--content",
        "import",
        "--checksum-algorithm",
        algorithm,
    ];
    join(&argv)
}

/// `download-url` with a checksum the config gives (`image = { url, sha512 }`).
pub(crate) fn with_checksum(
    node: &str,
    storage: &str,
    url: &str,
    filename: &str,
    algorithm: &str,
    checksum: &str,
) -> String {
    join(&[
        "pvesh",
        "create",
        &download_path(node, storage),
        "--url",
        url,
        "--filename",
        filename,
        "--content",
        "import",
        "--checksum-algorithm",
        algorithm,
        "--checksum",
        checksum,
    ])
}

fn download_path(node: &str, storage: &str) -> String {
    format!("/nodes/{node}/storage/{storage}/download-url")
}

/// The task's UPID in what `pvesh create …` printed (its last `UPID:` line).
pub(crate) fn upid(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with("UPID:") && l.ends_with(':'))
        .map(str::to_string)
}

/// `pvesh get /nodes/<node>/tasks/<upid>/status --output-format json`
pub(crate) fn task_status(node: &str, upid: &str) -> String {
    join(&[
        "pvesh",
        "get",
        &format!("/nodes/{node}/tasks/{upid}/status"),
        "--output-format",
        "json",
    ])
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Task {
    Running,
    Ok,
    /// `exitstatus` (the error, or `WARNINGS: n`).
    Failed(String),
}

#[derive(Deserialize)]
struct TaskJson {
    status: String,
    #[serde(default)]
    exitstatus: Option<String>,
}

/// Reads the task status JSON: `stopped` with `exitstatus` `OK` (or `WARNINGS: n`) is done.
pub(crate) fn parse_task(json: &str) -> Option<Task> {
    let t: TaskJson = serde_json::from_str(json.trim()).ok()?;
    Some(match (t.status.as_str(), t.exitstatus.as_deref()) {
        ("running", _) => Task::Running,
        (_, Some("OK")) => Task::Ok,
        (_, Some(w)) if w.starts_with("WARNINGS") => Task::Ok,
        (_, Some(e)) => Task::Failed(e.to_string()),
        (_, None) => Task::Failed("the task has no exit status".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines() {
        assert_eq!(list_images("local"), "pvesm list local --content import");
        assert_eq!(
            with_checksum("pve", "local", "https://x/y.qcow2", "y.qcow2", "sha256", "ab12"),
            "pvesh create /nodes/pve/storage/local/download-url --url https://x/y.qcow2 --filename y.qcow2 --content import --checksum-algorithm sha256 --checksum ab12"
        );
        assert_eq!(
            task_status("pve", "UPID:pve:0000A1B2:00C3D4E5:67890ABC:download:import:root@pam:"),
            "pvesh get /nodes/pve/tasks/UPID:pve:0000A1B2:00C3D4E5:67890ABC:download:import:root@pam:/status --output-format json"
        );
    }

    /// The checksum list is read on the node and its line for the file goes to
    /// `download-url` in the same step (run here with a stand-in `curl` and `pvesh`).
    #[test]
    fn the_checksum_comes_from_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path();
        std::fs::write(
            bin.join("curl"),
            "#!/bin/sh\nprintf '%s\\n' 'aaa  debian-12-genericcloud-arm64.qcow2' 'bbb *debian-12-genericcloud-amd64.qcow2'\n",
        )
        .unwrap();
        std::fs::write(bin.join("pvesh"), "#!/bin/sh\necho \"$@\"\n").unwrap();
        for f in ["curl", "pvesh"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let run = |listed_as: &str| {
            let line = with_checksum_list(
                "pve",
                "local",
                "https://cloud.debian.org/x/debian-12-genericcloud-amd64.qcow2",
                "debian-12-genericcloud-amd64.qcow2",
                "https://cloud.debian.org/x/SHA512SUMS",
                listed_as,
                "sha512",
            );
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&line)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .output()
                .unwrap()
        };
        let out = run("debian-12-genericcloud-amd64.qcow2");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "create /nodes/pve/storage/local/download-url --url https://cloud.debian.org/x/debian-12-genericcloud-amd64.qcow2 --filename debian-12-genericcloud-amd64.qcow2 --content import --checksum-algorithm sha512 --checksum bbb\n"
        );
        let out = run("nope.qcow2");
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn upid_and_task_status() {
        let out = "downloading https://x to /var/lib/vz/import/y.qcow2\ncalculating checksum...OK, checksum verified\nUPID:pve:0000A1B2:00C3D4E5:67890ABC:download:y.qcow2:root@pam:\n";
        assert_eq!(
            upid(out).as_deref(),
            Some("UPID:pve:0000A1B2:00C3D4E5:67890ABC:download:y.qcow2:root@pam:")
        );
        assert_eq!(upid("nothing\n"), None);
        assert_eq!(
            parse_task(r#"{"status":"stopped","exitstatus":"OK","type":"download"}"#),
            Some(Task::Ok)
        );
        assert_eq!(
            parse_task(
                r#"{"status":"stopped","exitstatus":"checksum mismatch: got 'a' != expect 'b', aborting"}"#
            ),
            Some(Task::Failed(
                "checksum mismatch: got 'a' != expect 'b', aborting".into()
            ))
        );
        assert_eq!(parse_task(r#"{"status":"running"}"#), Some(Task::Running));
        assert_eq!(parse_task("x"), None);
        assert!(listed(
            "Volid Format Type Size VMID\nlocal:import/y.qcow2 qcow2 import 123 \n",
            "local:import/y.qcow2"
        ));
        assert!(!listed("Volid Format\n", "local:import/y.qcow2"));
    }
}
