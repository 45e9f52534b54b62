//! `[firewall]` on the node: the container's `/etc/pve/firewall/<vmid>.fw` (the file Proxmox's
//! API and GUI write) and `firewall=1` on its `net0`, both only when they differ from
//! `pxdeploy.toml` (a difference found in an existing file is reported as drift). Also the
//! datacenter switch, read from `/etc/pve/firewall/cluster.fw`, for `check`.

use std::time::Duration;

mod semantic;

use crate::config::Config;
use crate::error::Result;
use crate::guest::{Guest, Op};
use crate::output::Output;
use crate::progress::{done, Reporter};
use crate::remote::host::{ensure_success, Host};
use crate::remote::quote::join;

const TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const CLUSTER_FW: &str = "/etc/pve/firewall/cluster.fw";

/// `/etc/pve/firewall/<vmid>.fw`
pub(crate) fn path(vmid: u32) -> String {
    format!("/etc/pve/firewall/{vmid}.fw")
}

/// Prints the file when it exists (exit 0), nothing when it does not (exit 3).
fn read_command(path: &str) -> String {
    join(&[
        "sh",
        "-c",
        "test -e \"$1\" || exit 3; exec cat -- \"$1\"",
        "sh",
        path,
    ])
}

/// Replaces the file from stdin (a temporary file renamed over it, as PVE's own writer does).
fn write_command(path: &str) -> String {
    join(&[
        "sh",
        "-c",
        "mkdir -p -- \"${1%/*}\" && cat > \"$1.tmp\" && mv -f -- \"$1.tmp\" \"$1\"",
        "sh",
        path,
    ])
}

/// What changed, for the deploy's summary and JSON.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Applied {
    pub file_written: bool,
    /// Lines of the file found on the node that pxdeploy.toml does not have (`-`) and the
    /// reverse (`+`): drift, empty for a new file.
    pub drift: Vec<String>,
    pub interface_switched_on: bool,
}

/// Brings the node in line with `[firewall]`; nothing when the table is absent.
pub(crate) fn apply(
    host: &Host,
    cfg: &Config,
    reporter: &dyn Reporter,
    out: &Output,
) -> Result<Applied> {
    let Some(fw) = &cfg.firewall else {
        return Ok(Applied::default());
    };
    let vmid = cfg.vmid();
    let named = format!("{} {vmid}", cfg.kind().noun());
    let path = path(vmid);
    let wanted = fw.file();
    reporter.step_with(
        &format!("Firewall of {named}"),
        |a: &Applied| match (a.file_written, a.interface_switched_on) {
            (false, false) => done("unchanged"),
            _ => done(format!(
                "{path} written{}",
                if a.interface_switched_on {
                    "; firewall=1 on net0"
                } else {
                    ""
                }
            )),
        },
        || {
            let mut applied = Applied::default();
            let current = host.probe(&read_command(&path))?;
            let current = current.status.success().then(|| current.stdout_str());
            // Compared by meaning: a file Proxmox's GUI rewrote in its own layout is no drift.
            let now = current.as_deref().map(semantic::parse);
            if now.as_ref() != Some(&semantic::parse(&wanted)) {
                if let Some(old) = &current {
                    applied.drift = drift(old, &wanted);
                    out.warn(drift_warning(&named, &applied.drift, &path));
                }
                if host.dry_run() {
                    out.info(format!("dry run: would write {path}:\n{wanted}"));
                }
                let command = write_command(&path);
                let result = host.change_with_stdin(&command, &mut wanted.as_bytes(), TIMEOUT)?;
                ensure_success(&command, result)?;
                applied.file_written = true;
            }
            if fw.enable {
                let guest = Guest::of(host, cfg);
                let config = guest.config()?;
                if let Some(net) = config
                    .net0()
                    .filter(|n| n.all.get("firewall").map(String::as_str) != Some("1"))
                {
                    let mut all = net.all.clone();
                    all.insert("firewall".into(), "1".into());
                    let name = all.remove("name").unwrap_or_else(|| "eth0".into());
                    let mut value = format!("name={name}");
                    for (k, v) in &all {
                        value.push_str(&format!(",{k}={v}"));
                    }
                    let command = guest.line(Op::Set {
                        key: "net0",
                        value: &value,
                    });
                    host.change_ok(&command, TIMEOUT)?;
                    applied.interface_switched_on = true;
                }
            }
            Ok(applied)
        },
    )
}

/// What `old` (the file on the node) says that `new` does not (`-`), and the reverse (`+`):
/// options, rules and other sections compared by meaning, never by layout.
/// The warning of a firewall file that is not what pxdeploy.toml says (it is rewritten).
fn drift_warning(guest: &str, drift: &[String], path: &str) -> String {
    format!(
        "the firewall of {guest} differs from pxdeploy.toml ({}): rewriting {path}",
        drift.join("; ")
    )
}

pub(crate) fn drift(old: &str, new: &str) -> Vec<String> {
    semantic::drift(&semantic::parse(old), &semantic::parse(new))
}

/// Whether `cluster.fw` switches the datacenter firewall on (`[OPTIONS] enable: 1`).
pub(crate) fn datacenter_enabled(cluster_fw: &str) -> bool {
    let mut in_options = false;
    for line in cluster_fw.lines().map(str::trim) {
        if line.starts_with('[') {
            in_options = line.eq_ignore_ascii_case("[options]");
        } else if in_options {
            if let Some((k, v)) = line.split_once(':') {
                if k.trim() == "enable" {
                    return v.trim() == "1";
                }
            }
        }
    }
    false
}

/// A warning for `check` when `[firewall]` is on but the datacenter firewall is off.
pub(crate) fn check_datacenter(host: &Host, cfg: &Config) -> Result<Option<String>> {
    if !cfg.firewall.as_ref().is_some_and(|f| f.enable) {
        return Ok(None);
    }
    let out = host.probe(&read_command(CLUSTER_FW))?;
    let text = if out.status.success() {
        out.stdout_str()
    } else {
        String::new()
    };
    Ok((!datacenter_enabled(&text)).then(|| {
        format!("the datacenter firewall is off ({CLUSTER_FW} has no `enable: 1` under [OPTIONS]): the rules of [firewall] do nothing until it is on (`pvesh set /cluster/firewall/options --enable 1`; allow your own SSH first)")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_datacenter_switch_is_read_from_options() {
        assert!(datacenter_enabled("[OPTIONS]\n\nenable: 1\n\n[RULES]\n"));
        assert!(!datacenter_enabled("[OPTIONS]\n\nenable: 0\n"));
        assert!(!datacenter_enabled(""));
        assert!(!datacenter_enabled("[RULES]\nenable: 1\n"));
        assert!(datacenter_enabled("[options]\npolicy_in: DROP\nenable:1\n"));
    }

    #[test]
    fn the_drift_warning_names_the_guest_as_it_is() {
        assert_eq!(
            drift_warning("VM 220", &["policy_in: DROP → ACCEPT".into()], "/etc/pve/firewall/220.fw"),
            "the firewall of VM 220 differs from pxdeploy.toml (policy_in: DROP → ACCEPT): rewriting /etc/pve/firewall/220.fw"
        );
    }

    #[test]
    fn drift_names_the_lines_that_differ() {
        let old = "[OPTIONS]\n\nenable: 1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80 -log nolog\n\n";
        let new = "[OPTIONS]\n\nenable: 1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 443 -log nolog\n\n";
        assert_eq!(
            drift(old, new),
            [
                "-IN ACCEPT -p tcp -dport 80 -log nolog",
                "+IN ACCEPT -p tcp -dport 443 -log nolog"
            ]
        );
    }

    #[test]
    fn commands() {
        assert_eq!(
            read_command(&path(120)),
            "sh -c 'test -e \"$1\" || exit 3; exec cat -- \"$1\"' sh /etc/pve/firewall/120.fw"
        );
    }
}
