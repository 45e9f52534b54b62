//! What the simulated host logged: the calls of its simulated tools (`STATE/calls.log`) and
//! sshd's log (connections, logins, sessions).

use super::SimHost;

/// One call of a simulated Proxmox tool, from `STATE/calls.log`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub time: f64,
    pub argv: Vec<String>,
    pub exit: i32,
    /// The SSH connection it came through (`SSH_CLIENT`'s address and port; empty for a
    /// call made on the host itself): one per pxdeploy run.
    pub ssh: String,
}

impl Call {
    /// The program (`pct`, `pveam`, …).
    pub fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }

    /// `argv` joined with spaces, for `contains` checks and messages.
    pub fn line(&self) -> String {
        self.argv.join(" ")
    }

    /// Does argv start with these words (e.g. `["pct", "create"]`)?
    pub fn starts_with(&self, prefix: &[&str]) -> bool {
        self.argv.len() >= prefix.len() && self.argv.iter().zip(prefix).all(|(a, b)| a == b)
    }
}

impl SimHost {
    /// Every call of a simulated tool so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.state.join("calls.log")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("calls.log line is not JSON ({e}): {l}"));
                Call {
                    time: v["time"].as_f64().unwrap_or(0.0),
                    argv: v["argv"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|x| x.as_str().unwrap_or_default().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                    exit: v["exit"].as_i64().unwrap_or(-1) as i32,
                    ssh: v["ssh"].as_str().unwrap_or_default().to_string(),
                }
            })
            .collect()
    }

    /// Just the argv of every call.
    pub fn call_argvs(&self) -> Vec<Vec<String>> {
        self.calls().into_iter().map(|c| c.argv).collect()
    }

    /// Calls whose argv starts with `prefix`, e.g. `&["pct", "create"]`.
    pub fn calls_matching(&self, prefix: &[&str]) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    }

    /// Calls that concern container `vmid` (its id is one of their arguments), oldest first.
    pub fn calls_of(&self, vmid: u32) -> Vec<Call> {
        let id = vmid.to_string();
        self.calls()
            .into_iter()
            .filter(|c| c.argv.contains(&id))
            .collect()
    }

    /// sshd's log (LogLevel VERBOSE).
    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// TCP connections sshd accepted so far (`Connection from …` lines), whether or not they
    /// authenticated. Connections made by [`SimHost::ssh`] count too.
    pub fn connection_count(&self) -> usize {
        self.sshd_log()
            .lines()
            .filter(|l| l.starts_with("Connection from "))
            .count()
    }

    /// Successful logins so far (`Accepted publickey for …` lines).
    pub fn auth_count(&self) -> usize {
        self.sshd_log()
            .lines()
            .filter(|l| l.starts_with("Accepted publickey for "))
            .count()
    }

    /// Sessions (channels running a command or subsystem) so far (`Starting session:` lines).
    pub fn session_count(&self) -> usize {
        self.sshd_log()
            .lines()
            .filter(|l| l.starts_with("Starting session: "))
            .count()
    }
}
