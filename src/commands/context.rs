//! What every command that talks to the host starts from: output, progress, the global flags,
//! the configuration and the one SSH connection.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::progress::{self, Reporter};
use crate::remote::host::Host;
use crate::remote::ssh::Session;
use crate::remote::SshTarget;

pub struct Context {
    pub out: Output,
    pub reporter: Box<dyn Reporter>,
    pub global: GlobalArgs,
}

impl Context {
    pub fn new(global: GlobalArgs, out: Output) -> Self {
        Context {
            reporter: progress::reporter(&out),
            out,
            global,
        }
    }

    /// The validated configuration (flags > environment > file > defaults).
    pub fn config(&self) -> Result<Config> {
        // Stand-in until `config::load(&self.global)` lands from the config branch.
        let path = self
            .global
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("pxdeploy.toml"));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::config(format!("cannot read {}", path.display())).cause(e.to_string())
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            Error::config(format!("invalid configuration in {}", path.display()))
                .cause(e.to_string())
        })?;
        config.path = path;
        Ok(config)
    }

    /// Opens the one SSH connection of this run; `--dry-run` is honoured by the returned [`Host`].
    pub fn connect(&self, config: &Config) -> Result<Host> {
        let target = ssh_target(config);
        self.reporter
            .start(&format!("Connecting to {}", target.alias));
        let session =
            Session::connect(&target).inspect_err(|e| self.reporter.failed(&e.message))?;
        self.reporter.done("");
        Ok(Host::new(session, target.alias, self.global.dry_run))
    }

    /// Ends a successful command: under `--dry-run` prints the commands that were not run
    /// (stdout, one per line) and adds them to the JSON document; then prints the JSON
    /// document of `facts` when `-o json`.
    pub fn succeed(&self, host: Option<&Host>, mut facts: serde_json::Value) {
        if let Some(host) = host.filter(|h| h.dry_run()) {
            let planned = host.planned();
            if planned.is_empty() {
                self.out
                    .info(format!("dry run: nothing would change on {}", host.alias));
            } else {
                self.out.info(format!(
                    "dry run: nothing was changed; these commands would run on {}:",
                    host.alias
                ));
            }
            for command in &planned {
                self.out.data(command);
            }
            if let serde_json::Value::Object(map) = &mut facts {
                map.insert("dry_run".into(), true.into());
                map.insert("planned".into(), planned.into());
            }
        }
        self.out.success_json(facts);
    }

    /// True when stdin is a terminal a person can answer a question on.
    pub fn can_prompt(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    /// Asks a question on stderr and reads one line from stdin (without its newline).
    #[allow(clippy::print_stderr)]
    pub fn prompt(&self, question: &str) -> Result<String> {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question} ");
        let _ = err.flush();
        drop(err);
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(answer.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// Stand-in until the SSH branch provides the resolver (`~/.ssh/config`, environment).
fn ssh_target(config: &Config) -> SshTarget {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let p = &config.proxmox;
    let explicit = p.identity_file.is_some();
    let identity_files = match &p.identity_file {
        Some(f) => vec![f.clone()],
        None => ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|k| home.join(".ssh").join(k))
            .collect(),
    };
    SshTarget {
        alias: p.host.clone(),
        hostname: p.host.clone(),
        port: p.port.unwrap_or(22),
        user: p.user.clone().unwrap_or_else(|| "root".into()),
        identity_files,
        explicit_identity: explicit,
        known_hosts: p
            .known_hosts
            .clone()
            .unwrap_or_else(|| home.join(".ssh").join("known_hosts")),
        host_key_check: p.host_key_check,
        connect_timeout: std::time::Duration::from_secs(p.connect_timeout_secs),
    }
}
