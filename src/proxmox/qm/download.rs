//! Getting a VM image onto the node, checksum verified: `pvesh create
//! /nodes/<node>/storage/<s>/download-url … --checksum … --checksum-algorithm …`, the
//! checksum either given (`[vm] image = { url, sha512 }`) or read by the node from the
//! distribution's checksum list (the catalogue) in the same step
//! (`src/scripts/image-download.sh`), and the task status that says whether it worked
//! (`pvesh` exits 0 even when the download task failed: reference §1.1).

use crate::remote::quote::join;

/// The node-side script (see its header for parameters, output and exit codes).
pub(crate) const DOWNLOAD: &str = crate::scripts::script!("image-download.sh");

/// What the node downloads, and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DownloadSpec {
    pub url: String,
    /// `sha256` or `sha512`.
    pub algorithm: &'static str,
    /// The checksum, when the config gives it.
    pub checksum: Option<String>,
    /// Else: the checksum list's URL and the image's file name in it.
    pub checksum_list: Option<(String, String)>,
    /// The stored file's name without its extension (the script appends `-<16 hex>`).
    pub stem: String,
    /// `qcow2`, `raw`, `vmdk` (Proxmox reads the format from it).
    pub extension: String,
}

/// The line that downloads `spec` to `storage` (content `import`, or `iso` on PVE < 8.2,
/// where the file is named `.img` and `qm create` needs its `pvesm path`, not its volume
/// id) of `node`; its output is read by [`parse`].
pub(crate) fn line(spec: &DownloadSpec, node: &str, storage: &str, content: &str) -> String {
    let (list, listed) = spec
        .checksum_list
        .as_ref()
        .map_or(("", ""), |(l, n)| (l.as_str(), n.as_str()));
    join(&[
        "sh",
        "-c",
        DOWNLOAD,
        "sh",
        node,
        storage,
        content,
        &spec.url,
        spec.algorithm,
        spec.checksum.as_deref().unwrap_or(""),
        list,
        listed,
        &spec.stem,
        &spec.extension,
    ])
}

/// What the download printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Downloaded {
    /// `<storage>:import/<file>`: what `qm create … import-from=` takes.
    pub volid: String,
    /// The download task, `UPID:…` (empty if `pvesh` printed none).
    pub upid: String,
    /// The task's status when the script read it.
    pub status: Option<TaskStatus>,
}

/// `pvesh get /nodes/<node>/tasks/<upid>/status --output-format json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct TaskStatus {
    /// `running` or `stopped`.
    pub status: String,
    /// `OK`, or the error (`checksum mismatch: got '…' != expect '…', aborting`); only
    /// when stopped.
    pub exitstatus: Option<String>,
}

impl TaskStatus {
    pub(crate) fn running(&self) -> bool {
        self.status == "running"
    }

    /// The task's error, when it stopped without `OK`.
    pub(crate) fn failure(&self) -> Option<&str> {
        match self.exitstatus.as_deref() {
            _ if self.running() => None,
            Some("OK") => None,
            Some(other) => Some(other),
            None => Some("the task stopped without an exit status"),
        }
    }
}

/// The script's `volid=`, `upid=` and `status=` lines; `Err` names what is missing.
pub(crate) fn parse(stdout: &str) -> Result<Downloaded, String> {
    let value = |key: &str| {
        stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    let volid = value("volid=").ok_or("the download printed no volume id")?;
    let upid = value("upid=").unwrap_or_default();
    let status = value("status=").and_then(|json| parse_task_status(&json));
    Ok(Downloaded {
        volid,
        upid,
        status,
    })
}

/// The JSON of a task's status.
pub(crate) fn parse_task_status(json: &str) -> Option<TaskStatus> {
    serde_json::from_str(json.trim()).ok()
}

/// Reads a task's status again (while [`TaskStatus::running`]).
pub(crate) fn task_status(node: &str, upid: &str) -> String {
    join(&[
        "pvesh",
        "get",
        &format!("/nodes/{node}/tasks/{upid}/status"),
        "--output-format",
        "json",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian() -> DownloadSpec {
        DownloadSpec {
            url: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2".into(),
            algorithm: "sha512",
            checksum: None,
            checksum_list: Some((
                "https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS".into(),
                "debian-12-genericcloud-amd64.qcow2".into(),
            )),
            stem: "debian-12-genericcloud-amd64".into(),
            extension: "qcow2".into(),
        }
    }

    #[test]
    fn the_values_are_positional_parameters() {
        let text = line(&debian(), "pve1", "local", "import");
        let tail = " sh pve1 local import https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2 sha512 '' https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS debian-12-genericcloud-amd64.qcow2 debian-12-genericcloud-amd64 qcow2";
        assert!(text.starts_with("sh -c 'set -e\n"), "{text}");
        assert!(text.ends_with(tail), "{text}");
        let hostile = DownloadSpec {
            url: "https://x/$(reboot)'.qcow2".into(),
            ..debian()
        };
        let text = line(&hostile, "pve1", "local", "import");
        assert!(
            text.contains(" 'https://x/$(reboot)'\\''.qcow2' "),
            "{text}"
        );
    }

    #[test]
    fn reads_the_volid_and_the_task_status() {
        let out = "downloading https://…\nvolid=local:import/debian-12-genericcloud-amd64-0123456789abcdef.qcow2\nupid=UPID:pve1:00001234:00005678:65A1B2C3:download:debian-12.qcow2:root@pam:\nstatus={\"exitstatus\":\"OK\",\"id\":\"debian-12.qcow2\",\"node\":\"pve1\",\"pid\":4660,\"starttime\":1705095875,\"status\":\"stopped\",\"type\":\"download\",\"upid\":\"UPID:…\",\"user\":\"root@pam\"}\n";
        let d = parse(out).unwrap();
        assert_eq!(
            d.volid,
            "local:import/debian-12-genericcloud-amd64-0123456789abcdef.qcow2"
        );
        assert!(d.upid.starts_with("UPID:pve1:"));
        let status = d.status.unwrap();
        assert_eq!(status.failure(), None);
        assert!(!status.running());
    }

    #[test]
    fn a_failed_task_says_why() {
        let s = parse_task_status("{\"status\":\"stopped\",\"exitstatus\":\"checksum mismatch: got 'aa' != expect 'bb', aborting\"}").unwrap();
        assert_eq!(
            s.failure(),
            Some("checksum mismatch: got 'aa' != expect 'bb', aborting")
        );
        let running = parse_task_status("{\"status\":\"running\"}").unwrap();
        assert!(running.running() && running.failure().is_none());
        let odd = parse_task_status("{\"status\":\"stopped\"}").unwrap();
        assert!(odd.failure().is_some());
        assert!(parse("upid=x\n").is_err());
        assert_eq!(
            task_status("pve1", "UPID:pve1:1:2:3:download:x:root@pam:"),
            "pvesh get /nodes/pve1/tasks/UPID:pve1:1:2:3:download:x:root@pam:/status --output-format json"
        );
    }

    /// The script itself, with `curl` and `pvesh` stand-ins on its PATH: it picks the
    /// image's line of the list (Ubuntu's `*file` too), names the file by the checksum,
    /// passes the checksum to `download-url` and prints what [`parse`] reads.
    #[test]
    fn the_script_picks_the_listed_checksum_and_passes_it_on() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path();
        let log = bin.join("log");
        let sha = "ab".repeat(32);
        std::fs::write(
            bin.join("curl"),
            format!("#!/bin/sh\necho \"curl $*\" >> '{}'\nprintf '%s *other.img\\n%s *noble-server-cloudimg-amd64.img\\n' {} {}\n", log.display(), "cd".repeat(32), sha),
        )
        .unwrap();
        std::fs::write(
            bin.join("pvesh"),
            format!("#!/bin/sh\necho \"pvesh $*\" >> '{}'\nif [ \"$1\" = create ]; then echo 'calculating checksum...OK, checksum verified'; echo 'UPID:pve1:0000AB12:0000CD34:65A1B2C3:download:x.qcow2:root@pam:'; else echo '{{\"status\":\"stopped\",\"exitstatus\":\"OK\"}}'; fi\n", log.display()),
        )
        .unwrap();
        for f in ["curl", "pvesh"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let spec = DownloadSpec {
            url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
                .into(),
            algorithm: "sha256",
            checksum: None,
            checksum_list: Some((
                "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS".into(),
                "noble-server-cloudimg-amd64.img".into(),
            )),
            stem: "ubuntu-24.04-server-cloudimg-amd64".into(),
            extension: "qcow2".into(),
        };
        let run = |spec: &DownloadSpec| {
            std::process::Command::new("sh")
                .args(["-c", &line(spec, "pve1", "local", "import")])
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .output()
                .unwrap()
        };
        let out = run(&spec);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d = parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(
            d.volid,
            "local:import/ubuntu-24.04-server-cloudimg-amd64-abababababababab.qcow2"
        );
        assert_eq!(
            d.upid,
            "UPID:pve1:0000AB12:0000CD34:65A1B2C3:download:x.qcow2:root@pam:"
        );
        assert_eq!(d.status.unwrap().failure(), None);
        let calls = std::fs::read_to_string(&log).unwrap();
        assert!(calls.contains(&format!(
            "pvesh create /nodes/pve1/storage/local/download-url --url https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img --filename ubuntu-24.04-server-cloudimg-amd64-abababababababab.qcow2 --content import --checksum {sha} --checksum-algorithm sha256"
        )), "{calls}");
        assert!(calls.contains("pvesh get /nodes/pve1/tasks/UPID:pve1:0000AB12:0000CD34:65A1B2C3:download:x.qcow2:root@pam:/status --output-format json"), "{calls}");

        // A list without the image: exit 3, nothing downloaded.
        std::fs::remove_file(&log).unwrap();
        let missing = DownloadSpec {
            checksum_list: Some(("https://x/SHA256SUMS".into(), "absent.img".into())),
            ..spec.clone()
        };
        let out = run(&missing);
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stderr).contains("does not list absent.img"));
        assert!(!std::fs::read_to_string(&log).unwrap().contains("pvesh"));

        // A given checksum of the wrong length: exit 4; a good one skips the list.
        let given = |c: &str| DownloadSpec {
            checksum: Some(c.into()),
            checksum_list: None,
            ..spec.clone()
        };
        assert_eq!(run(&given("abc")).status.code(), Some(4));
        std::fs::remove_file(&log).unwrap();
        let out = run(&given(&"EF".repeat(32)));
        assert!(out.status.success());
        let calls = std::fs::read_to_string(&log).unwrap();
        assert!(!calls.contains("curl"), "{calls}");
        assert!(
            calls.contains(&format!("--checksum {}", "ef".repeat(32))),
            "{calls}"
        );
    }
}
