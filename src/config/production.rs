//! Validation of the production settings (`[hooks]`, `[app] release_command`) and the
//! release command's model.

use serde::Deserialize;

use super::problem::Problem;
use super::Config;

/// `[app] release_command = { service = "api", command = "./manage.py migrate" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseCommand {
    /// A service of the compose file (its image, volumes and environment are used).
    pub service: String,
    /// Split into words like a shell would (quotes, backslashes), no expansion.
    pub command: String,
}

impl ReleaseCommand {
    /// The command's words; `None` when the quoting is unbalanced or there are none.
    pub fn words(&self) -> Option<Vec<String>> {
        shlex::split(&self.command).filter(|w| !w.is_empty())
    }
}

pub(super) fn validate(cfg: &Config, problems: &mut Vec<Problem>) {
    if let Some(fw) = &cfg.firewall {
        super::firewall::validate(fw, problems);
    }
    for key in cfg.hooks.empty() {
        problems.push(Problem::new(key, "is empty; remove it or give a command"));
    }
    if let Some(rc) = &cfg.app.release_command {
        if rc.words().is_none() {
            problems.push(Problem::new(
                "app.release_command.command",
                "is empty or its quotes do not close; give the command and its arguments as a shell would read them",
            ));
        }
        let known = cfg.compose_services.is_empty() || cfg.compose_services.contains(&rc.service);
        if !known {
            problems.push(Problem::new(
                "app.release_command.service",
                format!(
                    "`{}` is not a service of the compose file (services: {})",
                    rc.service,
                    cfg.compose_services.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(command: &str) -> ReleaseCommand {
        ReleaseCommand {
            service: "api".into(),
            command: command.into(),
        }
    }

    #[test]
    fn the_command_is_split_like_a_shell_without_expansion() {
        assert_eq!(
            rc("./manage.py migrate --database 'main db' $HOME")
                .words()
                .unwrap(),
            ["./manage.py", "migrate", "--database", "main db", "$HOME"]
        );
        assert_eq!(rc("  ").words(), None);
        assert_eq!(rc("echo 'open").words(), None);
    }
}

#[cfg(test)]
mod config_tests {
    #[test]
    fn a_release_command_names_a_service_of_the_compose_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  api:\n    image: x\n",
        )
        .unwrap();
        let text = |service: &str| {
            format!("[proxmox]\nhost = \"pve\"\n[container]\nvmid = 120\nhostname = \"app\"\n[app]\nname = \"app\"\nrelease_command = {{ service = \"{service}\", command = \"migrate\" }}\n")
        };
        let path = dir.path().join("pxdeploy.toml");
        let ok = crate::config::parse_str(&text("api"), &path, &|_| None).unwrap();
        assert_eq!(ok.app.release_command.unwrap().service, "api");
        let err = crate::config::parse_str(&text("apj"), &path, &|_| None).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.render()
                .contains("`apj` is not a service of the compose file (services: api)"),
            "{}",
            err.render()
        );
    }
}

#[cfg(test)]
mod firewall_config_tests {
    #[test]
    fn an_invalid_rule_is_a_configuration_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  api:\n    image: x\n",
        )
        .unwrap();
        let text = "[proxmox]\nhost = \"pve\"\n[container]\nvmid = 120\nhostname = \"app\"\n[app]\nname = \"app\"\n[firewall]\nenable = true\nallow = [\"tcp/80\", \"tcp/99999\", \"tcp/22 from 10.0.0.0/99\"]\n";
        let err = crate::config::parse_str(text, &dir.path().join("pxdeploy.toml"), &|_| None)
            .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let text = err.render();
        assert!(
            text.contains("firewall.allow[1]") && text.contains("port `99999`"),
            "{text}"
        );
        assert!(
            text.contains("firewall.allow[2]") && text.contains("10.0.0.0/99"),
            "{text}"
        );
        assert!(!text.contains("allow[0]"), "{text}");
    }
}
