//! What every command that talks to the host starts from: output, progress, the global flags,
//! the configuration and the one SSH connection.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::error::Result;
use crate::output::Output;
use crate::progress::Reporter;
use crate::remote::host::Host;
use crate::remote::ssh::Session;

pub(crate) struct Context {
    pub out: Output,
    pub reporter: Box<dyn Reporter>,
    pub global: GlobalArgs,
    /// The configuration of the target this command runs on.
    config: Config,
}

impl Context {
    /// The context of one target: its configuration is already loaded.
    pub(crate) fn new(
        global: GlobalArgs,
        out: Output,
        reporter: Box<dyn Reporter>,
        config: Config,
    ) -> Self {
        Context {
            out,
            reporter,
            global,
            config,
        }
    }

    /// The validated configuration of this target (flags > environment > file > defaults),
    /// its warnings printed.
    pub(crate) fn config(&self) -> Result<Config> {
        let config = self.config.clone();
        for warning in config.warnings() {
            self.out.warn(warning);
        }
        Ok(config)
    }

    /// Opens the one SSH connection of this run; `--dry-run` is honoured by the returned [`Host`].
    /// In a cluster the host moves to the container's node when that is another one
    /// ([`crate::cluster::route`]).
    pub(crate) fn connect(&self, config: &Config) -> Result<Host> {
        let target = crate::config::ssh::resolve(config)?;
        let session = self
            .reporter
            .step(&format!("Connecting to {}", target.route()), || {
                Session::connect(&target)
            })?;
        let locator = crate::cluster::route::Locator {
            target: target.clone(),
            vmid: config.vmid(),
        };
        Ok(
            Host::new(session, target.alias.clone(), self.global.dry_run)
                .with_router(Box::new(locator))
                .with_target(target),
        )
    }

    /// Ends a successful command: under `--dry-run` prints the commands that were not run
    /// (stdout, one per line) and adds them to the JSON document; then prints the JSON
    /// document of `facts` when `-o json`.
    pub(crate) fn succeed(&self, host: Option<&Host>, mut facts: serde_json::Value) {
        // Every document about a guest says which kind it is.
        if let serde_json::Value::Object(map) = &mut facts {
            if map.contains_key("vmid") && !map.contains_key("guest") {
                map.insert("guest".into(), self.config.kind().as_str().into());
            }
        }
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
    pub(crate) fn can_prompt(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    /// Asks a question on stderr and reads one line from stdin (without its newline).
    #[allow(clippy::print_stderr)]
    pub(crate) fn prompt(&self, question: &str) -> Result<String> {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question} ");
        let _ = err.flush();
        drop(err);
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(answer.trim_end_matches(['\n', '\r']).to_string())
    }
}
