//! Starting a simulated host: [`SimBuilder`]'s options, then `sim/launch.py up`.

use std::path::PathBuf;
use std::process::Command;

use super::{launch_py, need_tools, python, SimHost, INSTALL_HINT, LAUNCH_TIMEOUT};
use crate::support::process::run_bounded;

/// Options for [`SimHost::builder()`].
#[must_use]
pub struct SimBuilder {
    node: Option<String>,
    compose_version: Option<String>,
    template_cached: bool,
    sshd_extra: Vec<String>,
    no_sim: bool,
    host_keys: Vec<String>,
    cluster: Option<(String, Option<PathBuf>, Option<String>)>,
}

impl SimBuilder {
    /// A member of the simulated cluster `name` (sim/README.md, "A cluster of simulated
    /// nodes"): the first member creates it; `join` names the first member (shared
    /// /etc/pve, its client key and port), `listen` this member's loopback address (its
    /// `ip` in `/cluster/status`).
    pub fn cluster(mut self, name: &str, join: Option<&SimHost>, listen: Option<&str>) -> Self {
        self.cluster = Some((
            name.into(),
            join.map(|h| h.dir().to_path_buf()),
            listen.map(str::to_string),
        ));
        self
    }

    /// Proxmox node name (default `pve`).
    pub fn node(mut self, n: &str) -> Self {
        self.node = Some(n.into());
        self
    }

    /// Compose version installed inside containers (default 2.40.3; 2.20.3 for the JSON-array format).
    pub fn compose_version(mut self, v: &str) -> Self {
        self.compose_version = Some(v.into());
        self
    }

    /// The Debian 12 template is already in the `local` storage (no `pveam download`).
    pub fn template_cached(mut self, yes: bool) -> Self {
        self.template_cached = yes;
        self
    }

    /// An extra sshd_config line (`"MaxSessions 1"`); it wins over the defaults.
    pub fn sshd_extra(mut self, line: &str) -> Self {
        self.sshd_extra.push(line.into());
        self
    }

    /// The types of sshd's host keys (`"ed25519"`, `"ecdsa"`, `"rsa"`; default ed25519 only).
    /// [`SimHost::known_hosts`] has a line for each.
    pub fn host_keys(mut self, types: &[&str]) -> Self {
        self.host_keys = types.iter().map(|t| t.to_string()).collect();
        self
    }

    /// sshd only, without initialising the simulated node.
    pub fn without_sim(mut self) -> Self {
        self.no_sim = true;
        self
    }

    #[track_caller]
    pub fn start(self) -> SimHost {
        need_tools();
        let mut cmd = Command::new(python());
        // The watchdog tears the host down if this test binary dies without dropping it.
        cmd.arg(launch_py())
            .arg("up")
            .arg(format!("--owner-pid={}", std::process::id()));
        if let Some(n) = &self.node {
            cmd.args(["--node", n]);
        }
        if let Some(v) = &self.compose_version {
            cmd.args(["--compose-version", v]);
        }
        if self.template_cached {
            cmd.arg("--template-cached");
        }
        for e in &self.sshd_extra {
            cmd.arg(format!("--sshd-extra={e}"));
        }
        if self.no_sim {
            cmd.arg("--no-sim");
        }
        for t in &self.host_keys {
            cmd.arg(format!("--host-key={t}"));
        }
        if let Some((name, join, listen)) = &self.cluster {
            cmd.args(["--cluster", name]);
            if let Some(j) = join {
                cmd.arg("--join").arg(j);
            }
            if let Some(l) = listen {
                cmd.args(["--listen", l]);
            }
        }
        let run = run_bounded(cmd, "sim/launch.py up".into(), None, LAUNCH_TIMEOUT);
        if run.status != 0 {
            panic!(
                "the simulated Proxmox host did not start\n{}\n{INSTALL_HINT}",
                run.dump()
            );
        }
        let v: serde_json::Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("sim/launch.py up printed no JSON ({e})\n{}", run.dump()));
        let s = |k: &str| -> String {
            v[k].as_str()
                .unwrap_or_else(|| panic!("launch.py JSON lacks {k}: {v}"))
                .to_string()
        };
        SimHost {
            dir: s("dir").into(),
            host: s("host"),
            user: s("user"),
            port: v["port"].as_u64().expect("port") as u16,
            identity_file: s("identity_file").into(),
            known_hosts: s("known_hosts").into(),
            state: s("state").into(),
            sshd_pid: v["sshd_pid"].as_u64().expect("sshd_pid") as u32,
            sim: v["sim"].as_bool().unwrap_or(false),
            host_keys: if self.host_keys.is_empty() {
                vec!["ed25519".into()]
            } else {
                self.host_keys.clone()
            },
        }
    }
}

impl SimHost {
    /// Defaults: node `pve`, Compose 2.40.3, template not cached.
    #[track_caller]
    pub fn start() -> SimHost {
        SimHost::builder().start()
    }

    /// The defaults (node `pve`, Compose 2.40.3) with the template already cached: the node
    /// most tests deploy to (a test file shares one).
    #[track_caller]
    pub fn start_cached() -> SimHost {
        SimHost::builder().template_cached(true).start()
    }

    pub fn builder() -> SimBuilder {
        SimBuilder {
            node: None,
            compose_version: None,
            template_cached: false,
            sshd_extra: Vec::new(),
            no_sim: false,
            host_keys: Vec::new(),
            cluster: None,
        }
    }
}
