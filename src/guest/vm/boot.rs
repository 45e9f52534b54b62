//! What a VM's first boot reports through the guest agent: `cloud-init status --wait
//! --format json` (`status` `done`, or `error` with `errors`; exit 2 = recoverable errors,
//! "degraded", from cloud-init 23.4) and the tail of `/var/log/cloud-init-output.log`.

use serde::Deserialize;

use crate::proxmox::qm;

/// How long `cloud-init status --wait` may take (packages, Docker's install script).
pub(crate) const CLOUD_INIT_TIMEOUT_SECS: u64 = 1800;

/// `qm guest exec <vmid> --timeout … -- cloud-init status --wait --format json`
pub(crate) fn status_line(vmid: u32) -> String {
    qm::guest_exec(
        vmid,
        CLOUD_INIT_TIMEOUT_SECS,
        &["cloud-init", "status", "--wait", "--format", "json"],
    )
}

/// `qm guest exec <vmid> --timeout 30 -- tail -n 30 /var/log/cloud-init-output.log`
pub(crate) fn log_tail_line(vmid: u32) -> String {
    qm::guest_exec(
        vmid,
        30,
        &["tail", "-n", "30", "/var/log/cloud-init-output.log"],
    )
}

/// How cloud-init ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloudInit {
    Done,
    /// Exit 2: done with recoverable errors (what they were).
    Degraded(Vec<String>),
    /// Exit 1 or `status: error`: what went wrong.
    Failed(Vec<String>),
}

#[derive(Deserialize)]
struct StatusJson {
    #[serde(default)]
    status: String,
    #[serde(default)]
    errors: Vec<String>,
    #[serde(default)]
    recoverable_errors: serde_json::Value,
}

/// Reads the program's exit code and its JSON.
pub(crate) fn parse_status(exitcode: i32, stdout: &str) -> CloudInit {
    let json: Option<StatusJson> = serde_json::from_str(stdout.trim()).ok();
    let errors = json.as_ref().map(|j| j.errors.clone()).unwrap_or_default();
    let status = json.as_ref().map(|j| j.status.as_str()).unwrap_or("");
    match (exitcode, status) {
        (1, _) | (_, "error") => CloudInit::Failed(errors),
        (2, _) => CloudInit::Degraded(recoverable(json.as_ref())),
        (0, _) => CloudInit::Done,
        (code, _) => CloudInit::Failed(
            std::iter::once(format!("`cloud-init status` exited {code}"))
                .chain(errors)
                .collect(),
        ),
    }
}

/// `recoverable_errors`: `{"WARNING": ["…"], …}` as lines.
fn recoverable(json: Option<&StatusJson>) -> Vec<String> {
    let Some(serde_json::Value::Object(map)) = json.map(|j| &j.recoverable_errors) else {
        return Vec::new();
    };
    map.iter()
        .flat_map(|(level, v)| {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str())
                .map(move |m| format!("{level}: {m}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            status_line(220),
            "qm guest exec 220 --timeout 1800 -- cloud-init status --wait --format json"
        );
        assert_eq!(
            log_tail_line(220),
            "qm guest exec 220 --timeout 30 -- tail -n 30 /var/log/cloud-init-output.log"
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(
            parse_status(
                0,
                r#"{"status": "done", "errors": [], "extended_status": "done"}"#
            ),
            CloudInit::Done
        );
        assert_eq!(
            parse_status(
                1,
                r#"{"status": "error", "errors": ["('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted commands'))"]}"#
            ),
            CloudInit::Failed(vec![
                "('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted commands'))".into()
            ])
        );
        assert_eq!(
            parse_status(
                2,
                r#"{"status": "done", "extended_status": "degraded done", "recoverable_errors": {"WARNING": ["x"]}}"#
            ),
            CloudInit::Degraded(vec!["WARNING: x".into()])
        );
        // 22.4.2 has no exit 2, and says error in the JSON.
        assert_eq!(
            parse_status(0, r#"{"status": "error", "errors": ["e"]}"#),
            CloudInit::Failed(vec!["e".into()])
        );
        assert!(matches!(parse_status(127, ""), CloudInit::Failed(_)));
    }
}
