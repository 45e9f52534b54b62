//! The QEMU guest agent's answers through `qm`: `qm guest exec`'s JSON (`exited`,
//! `exitcode`, `out-data`, `err-data`; `qm` itself exits 0 whatever the program did),
//! `network-get-interfaces` (the address of the interface with net0's MAC), and the
//! refusals that mean "the agent does not answer yet".

use serde::Deserialize;

/// What a program run with `qm guest exec` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exec {
    pub exitcode: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Why a `qm guest exec` answer is not a finished program's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotDone {
    /// `{"pid": N}`: the timeout was reached, the program still runs.
    StillRunning(u64),
    /// Not the JSON `qm guest exec` prints.
    Unreadable(String),
}

#[derive(Deserialize)]
struct ExecJson {
    #[serde(default)]
    exited: Option<u8>,
    #[serde(default)]
    exitcode: Option<i32>,
    #[serde(default, rename = "out-data")]
    out: Option<String>,
    #[serde(default, rename = "err-data")]
    err: Option<String>,
    #[serde(default)]
    pid: Option<u64>,
}

/// Parses `qm guest exec`'s stdout: only `exited == 1` is a result; its `exitcode` is the
/// program's (a missing one, after a signal, reads as -1).
pub(crate) fn parse_exec(stdout: &str) -> Result<Exec, NotDone> {
    let json: ExecJson =
        serde_json::from_str(stdout.trim()).map_err(|e| NotDone::Unreadable(format!("{e}")))?;
    if json.exited != Some(1) {
        return Err(match json.pid {
            Some(pid) => NotDone::StillRunning(pid),
            None => NotDone::Unreadable("no `exited: 1` and no `pid`".into()),
        });
    }
    Ok(Exec {
        exitcode: json.exitcode.unwrap_or(-1),
        stdout: json.out.unwrap_or_default(),
        stderr: json.err.unwrap_or_default(),
    })
}

#[derive(Deserialize)]
struct Interface {
    #[serde(default, rename = "hardware-address")]
    mac: Option<String>,
    #[serde(default, rename = "ip-addresses")]
    addresses: Vec<IpAddress>,
}

#[derive(Deserialize)]
struct IpAddress {
    #[serde(rename = "ip-address")]
    ip: String,
    #[serde(default, rename = "ip-address-type")]
    kind: String,
}

/// The first IPv4 address of the interface whose MAC is `mac` (compared without regard to
/// case) in `network-get-interfaces`' JSON (a list, or `{"result": [...]}` through
/// `pvesh`). `None`: no such interface, or no IPv4 address on it yet.
pub(crate) fn address_of(json: &str, mac: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let list = match value {
        serde_json::Value::Object(mut map) => map.remove("result")?,
        other => other,
    };
    let interfaces: Vec<Interface> = serde_json::from_value(list).ok()?;
    interfaces
        .into_iter()
        .filter(|i| {
            i.mac
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        })
        .flat_map(|i| i.addresses)
        .find(|a| a.kind == "ipv4" && a.ip.parse::<std::net::Ipv4Addr>().is_ok())
        .map(|a| a.ip)
}

/// Does this stderr say the agent cannot answer (yet): not configured, the VM not running,
/// or the agent not started inside?
pub(crate) fn not_answering(stderr: &str) -> bool {
    stderr.contains("QEMU guest agent is not running")
        || stderr.contains("No QEMU guest agent configured")
        || stderr.contains("got timeout")
        || stderr
            .lines()
            .any(|l| l.trim().starts_with("VM ") && l.trim().ends_with(" is not running"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_results() {
        let done = r#"{
   "err-data" : "warn\n",
   "exitcode" : 1,
   "exited" : 1,
   "out-data" : "{\"status\": \"error\"}\n"
}"#;
        assert_eq!(
            parse_exec(done),
            Ok(Exec {
                exitcode: 1,
                stdout: "{\"status\": \"error\"}\n".into(),
                stderr: "warn\n".into()
            })
        );
        assert_eq!(
            parse_exec(r#"{"exitcode": 0, "exited": 1}"#).map(|e| e.exitcode),
            Ok(0)
        );
        assert_eq!(
            parse_exec(r#"{"pid": 4711}"#),
            Err(NotDone::StillRunning(4711))
        );
        assert_eq!(
            parse_exec(r#"{"exited": 0, "pid": 4711}"#),
            Err(NotDone::StillRunning(4711))
        );
        assert!(matches!(parse_exec("timeout"), Err(NotDone::Unreadable(_))));
        // Killed by a signal: exited, no exit code.
        assert_eq!(
            parse_exec(r#"{"exited": 1, "signal": 9}"#).map(|e| e.exitcode),
            Ok(-1)
        );
    }

    #[test]
    fn address_by_mac_any_case() {
        let json = r#"[
  {"name":"lo","hardware-address":"00:00:00:00:00:00","ip-addresses":[{"ip-address":"127.0.0.1","ip-address-type":"ipv4","prefix":8}]},
  {"name":"docker0","hardware-address":"02:42:ac:11:00:01","ip-addresses":[{"ip-address":"172.17.0.1","ip-address-type":"ipv4","prefix":16}]},
  {"name":"eth0","hardware-address":"bc:24:11:0a:1b:2c","ip-addresses":[
     {"ip-address":"fe80::1","ip-address-type":"ipv6","prefix":64},
     {"ip-address":"10.0.0.5","ip-address-type":"ipv4","prefix":24}]}
]"#;
        assert_eq!(
            address_of(json, "BC:24:11:0A:1B:2C").as_deref(),
            Some("10.0.0.5")
        );
        let wrapped = format!("{{\"result\": {json}}}");
        assert_eq!(
            address_of(&wrapped, "bc:24:11:0a:1b:2c").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(address_of(json, "BC:24:11:00:00:00"), None);
        let no_ip = r#"[{"name":"eth0","hardware-address":"bc:24:11:0a:1b:2c"}]"#;
        assert_eq!(address_of(no_ip, "BC:24:11:0A:1B:2C"), None);
        assert_eq!(address_of("garbage", "x"), None);
    }

    #[test]
    fn agent_not_answering() {
        assert!(not_answering("QEMU guest agent is not running\n"));
        assert!(not_answering("No QEMU guest agent configured\n"));
        assert!(not_answering("VM 220 is not running\n"));
        assert!(!not_answering("unknown command 'x'\n"));
    }
}
