//! `[app] compose_file` (one or several) and `[app] profiles`: every file exists, and the
//! files (with what they include or extend) are read into the compose model.

use std::path::Path;

use super::problem::Problem;
use super::rules::compose_services;
use super::Config;

/// Fills `compose_services` (the services active with the profiles) and `compose`.
pub(super) fn compose_files(cfg: &mut Config, source: &Path, problems: &mut Vec<Problem>) {
    if cfg.app.compose_file.all().is_empty()
        || cfg
            .app
            .compose_file
            .all()
            .iter()
            .any(|f| f.trim().is_empty())
    {
        problems.push(Problem::new("app.compose_file", "empty"));
        return;
    }
    for p in &cfg.app.profiles {
        if p.is_empty()
            || p.starts_with('-')
            || p.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            problems.push(Problem::new(
                "app.profiles",
                format!("{p:?} is not a profile name"),
            ));
        }
    }
    for compose in cfg.compose_paths() {
        if !compose.is_file() {
            if cfg.source_optional {
                return;
            }
            problems.push(
                Problem::new(
                    "app.compose_file",
                    format!(
                        "{} does not exist (app.compose_file is relative to app.source)",
                        compose.display()
                    ),
                )
                .hint("set `compose_file` under [app] to your compose file's name"),
            );
            return;
        }
    }
    let compose = cfg.compose_path();
    match crate::compose::model::Model::read(&cfg.compose_paths(), source) {
        Ok(model) if !model.services.is_empty() => {
            cfg.compose_services = model.active(&cfg.app.profiles);
            cfg.compose = model;
        }
        // The plain reader names the line of a syntax error, and says what a file without
        // services lacks.
        Ok(_) | Err(_) if compose_services(&compose).is_err() => {
            if let Err(why) = compose_services(&compose) {
                problems.push(Problem::new("app.compose_file", why));
            }
        }
        Ok(_) => problems.push(Problem::new(
            "app.compose_file",
            format!("{} has no `services:`", compose.display()),
        )),
        Err(why) => problems.push(Problem::new("app.compose_file", why)),
    }
}
