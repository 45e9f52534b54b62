//! `pct`: the simple command builders (list, status, config, start/stop/shutdown/reboot,
//! destroy, exec, the raw `lxc.*` line), the parser of `pct status`; the one reader of
//! `pct`'s refusals is `refusal.rs`. `pct create` is in `create.rs`; the parser of `pct config` and
//! the drift between a container and the config are in `config.rs`; snapshots and restore in
//! `snapshot.rs` (named `pct::snapshot::X`). Everything is re-exported
//! here, so callers name it `pct::X`.

mod config;
mod create;
mod refusal;
pub(crate) mod snapshot;

pub(crate) use self::config::{drift, parse_config, Drift, PctConfig};
pub(crate) use self::create::{create, CreateSpec};
// `pub`: `config` (a `pub` module, for the integration tests) re-exports it.
pub use self::create::IpConfig;
pub(crate) use self::refusal::{said, Said};

use crate::remote::quote::join;

/// The raw line that turns AppArmor confinement off for a privileged container.
pub(crate) const APPARMOR_UNCONFINED: &str = "lxc.apparmor.profile: unconfined";

/// `pct list`
pub(crate) fn list() -> String {
    "pct list".to_string()
}

/// `pct status <vmid>`
pub(crate) fn status(vmid: u32) -> String {
    format!("pct status {vmid}")
}

/// `pct config <vmid>`
pub(crate) fn config(vmid: u32) -> String {
    format!("pct config {vmid}")
}

/// `pct start <vmid>`
pub(crate) fn start(vmid: u32) -> String {
    format!("pct start {vmid}")
}

/// `pct stop <vmid>`: immediate, no grace period.
pub(crate) fn stop(vmid: u32) -> String {
    format!("pct stop {vmid}")
}

/// `pct shutdown <vmid> --timeout <secs>`: graceful; fails with `container did not stop`.
pub(crate) fn shutdown(vmid: u32, timeout_secs: u64) -> String {
    format!("pct shutdown {vmid} --timeout {timeout_secs}")
}

/// `pct reboot <vmid> --timeout <secs>`
pub(crate) fn reboot(vmid: u32, timeout_secs: u64) -> String {
    format!("pct reboot {vmid} --timeout {timeout_secs}")
}

/// `pct destroy <vmid> --purge 1`
pub(crate) fn destroy(vmid: u32) -> String {
    format!("pct destroy {vmid} --purge 1")
}

/// `pct exec <vmid> -- <argv…>`: argv arrives verbatim inside the container.
pub(crate) fn exec<S: AsRef<str>>(vmid: u32, argv: &[S]) -> String {
    format!("pct exec {vmid} -- {}", join(argv))
}

/// `pct enter <vmid>`: the container's shell (from its passwd, else /bin/sh), reading
/// stdin; interactive when the channel has a PTY.
pub(crate) fn enter(vmid: u32) -> String {
    format!("pct enter {vmid}")
}

/// `pct exec <vmid> -- sh -c <script>`: the script is parsed by `sh` inside the container
/// (two shells deep: the host's login shell removes one layer of quoting).
pub(crate) fn exec_sh(vmid: u32, script: &str) -> String {
    exec(vmid, &["sh", "-c", script])
}

/// The container's config file on the host (`/etc/pve/lxc` → `nodes/<node>/lxc`).
pub(crate) fn conf_path(vmid: u32) -> String {
    format!("/etc/pve/lxc/{vmid}.conf")
}

/// A host command that inserts a raw `lxc.*` line into the container's config file, before
/// the first `[section]` line (snapshot or pending section), or at the end if there is none.
/// Nothing happens when the main section has the line already.
pub(crate) fn add_raw_line(vmid: u32, line: &str) -> String {
    join(&["sh", "-c", ADD_RAW_LINE, "sh", &conf_path(vmid), line])
}

/// [`add_raw_line`]'s script: `$1` the config file, `$2` the line.
const ADD_RAW_LINE: &str = crate::scripts::script!("pct-add-raw-line.sh");

/// `ip -4 -o addr show dev eth0` inside the container: its IPv4 address, once it has one.
pub(crate) fn ipv4_probe(vmid: u32) -> String {
    exec(vmid, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
}

/// The first address of `ip -4 -o addr show` output (`2: eth0    inet 10.0.0.5/24 brd …`),
/// without its prefix length.
pub(crate) fn parse_ipv4(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == "inet")?;
        let cidr = words.next()?;
        Some(cidr.split('/').next().unwrap_or(cidr).to_string())
    })
}

/// What `pct status` says about a container that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CtState {
    Running,
    Stopped,
}

impl CtState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CtState::Running => "running",
            CtState::Stopped => "stopped",
        }
    }
}

/// Parses `status: running` / `status: stopped` (also from `--verbose` output).
pub(crate) fn parse_status(stdout: &str) -> Option<CtState> {
    stdout
        .lines()
        .find_map(|line| match line.trim().strip_prefix("status:")?.trim() {
            "running" => Some(CtState::Running),
            "stopped" => Some(CtState::Stopped),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands() {
        assert_eq!(status(210), "pct status 210");
        assert_eq!(config(210), "pct config 210");
        assert_eq!(start(210), "pct start 210");
        assert_eq!(stop(210), "pct stop 210");
        assert_eq!(shutdown(210, 60), "pct shutdown 210 --timeout 60");
        assert_eq!(reboot(210, 60), "pct reboot 210 --timeout 60");
        assert_eq!(destroy(210), "pct destroy 210 --purge 1");
    }

    #[test]
    fn exec_variants() {
        assert_eq!(
            exec(210, &["docker", "compose", "version"]),
            "pct exec 210 -- docker compose version"
        );
        assert_eq!(
            exec_sh(210, "apt-get update && apt-get install -y curl"),
            "pct exec 210 -- sh -c 'apt-get update && apt-get install -y curl'"
        );
        assert_eq!(
            exec_sh(210, "echo it's $HOME"),
            "pct exec 210 -- sh -c 'echo it'\\''s $HOME'"
        );
        assert_eq!(
            ipv4_probe(210),
            "pct exec 210 -- ip -4 -o addr show dev eth0"
        );
    }

    /// Two real shells (the host's, then `sh -c` inside) give back the script's argument verbatim.
    #[test]
    fn exec_sh_survives_two_shells() {
        let hostile = "it's \"q\" $(touch /tmp/pxdeploy-pct-pwned); `id` \n x";
        let script = join(&["printf", "%s", hostile]);
        let line = exec_sh(210, &script);
        let after_host_shell = line.strip_prefix("pct exec 210 -- ").unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(after_host_shell)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), hostile);
        assert!(!std::path::Path::new("/tmp/pxdeploy-pct-pwned").exists());
    }

    #[test]
    fn raw_line_goes_before_the_first_section() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("210.conf");
        std::fs::write(
            &conf,
            "arch: amd64\nhostname: myapp\n\n[pve:pending]\nmemory: 1024\n\n[snap1]\nhostname: old\n",
        )
        .unwrap();
        let cmd = add_raw_line(210, APPARMOR_UNCONFINED);
        assert!(
            cmd.starts_with("sh -c 'set -e; conf=$1; line=$2\n"),
            "{cmd}"
        );
        let local = cmd.replace("/etc/pve/lxc/210.conf", conf.to_str().unwrap());
        for _ in 0..2 {
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(&local)
                .status()
                .unwrap();
            assert!(st.success());
        }
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "arch: amd64\nhostname: myapp\n\nlxc.apparmor.profile: unconfined\n[pve:pending]\nmemory: 1024\n\n[snap1]\nhostname: old\n"
        );
        std::fs::write(&conf, "arch: amd64\n").unwrap();
        assert!(std::process::Command::new("sh")
            .arg("-c")
            .arg(&local)
            .status()
            .unwrap()
            .success());
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "arch: amd64\nlxc.apparmor.profile: unconfined\n"
        );
    }

    #[test]
    fn status_texts() {
        assert_eq!(parse_status("status: running\n"), Some(CtState::Running));
        assert_eq!(parse_status("status: stopped\n"), Some(CtState::Stopped));
        assert_eq!(
            parse_status("cpus: 2\ndisk: 0\nname: web01\nstatus: stopped\nswap: 0\n"),
            Some(CtState::Stopped)
        );
        assert_eq!(parse_status("status: unknown\n"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn ipv4_from_ip_addr() {
        let out = "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global dynamic eth0\\       valid_lft 86379sec preferred_lft 86379sec\n";
        assert_eq!(parse_ipv4(out), Some("10.0.0.5".into()));
        assert_eq!(parse_ipv4(""), None);
    }
}
