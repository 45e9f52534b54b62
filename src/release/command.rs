//! `[app] release_command`: after the new release's files are in place and its images are
//! built, and before `up` ([`super::activate`]), `docker compose run --rm -T <service> <command…>`
//! (migrations and the like). When the build or the command fails, `up` does not run: the
//! running containers keep serving, exit 5 with its output; the deploy then puts the
//! previous release's files back ([`super::rollback::after_failed_release_command`]).

use std::time::Duration;

use crate::compose::Project;
use crate::config::{Config, ReleaseCommand};
use crate::error::{Error, Result};
use crate::guest::Guest;
use crate::progress::Reporter;
use crate::remote::host::Host;

const TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Lines of each output stream a failure shows.
const LINES_SHOWN: usize = 30;

/// The project's `docker compose -p … -f … [--profile …]` followed by `args`.
fn compose_argv(project: &Project, args: &[String]) -> Vec<String> {
    let mut argv = project.up_argv();
    // up_argv ends with `up -d --build --remove-orphans`.
    argv.truncate(argv.len() - 4);
    argv.extend(args.iter().cloned());
    argv
}

/// `pct exec <vmid> -- docker compose … build`
pub(crate) fn build_command(project: &Project) -> String {
    exec(project, &compose_argv(project, &["build".to_string()]))
}

/// `pct exec <vmid> -- docker compose … run --rm -T <service> <words…>`
pub(crate) fn run_command(project: &Project, rc: &ReleaseCommand, words: &[String]) -> String {
    let mut args: Vec<String> = ["run", "--rm", "-T", rc.service.as_str()]
        .map(str::to_string)
        .to_vec();
    args.extend(words.iter().cloned());
    exec(project, &compose_argv(project, &args))
}

fn exec(project: &Project, argv: &[String]) -> String {
    project.inside.exec(argv)
}

/// Builds the images, then runs the release command, when one is configured.
pub(crate) fn run(
    guest: Guest<'_>,
    project: &Project,
    cfg: &Config,
    reporter: &dyn Reporter,
) -> Result<()> {
    let host = guest.inside_host()?;
    let Some(rc) = &cfg.app.release_command else {
        return Ok(());
    };
    let words = rc.words().ok_or_else(|| {
        Error::config("app.release_command.command is empty or its quotes do not close")
    })?;
    reporter.step(
        &format!(
            "Building the images in {} {}",
            project.inside.noun(),
            project.inside.id()
        ),
        || step(host, &build_command(project), "building the images failed"),
    )?;
    reporter.step(
        &format!("Running the release command in service {}", rc.service),
        || {
            step(
                host,
                &run_command(project, rc, &words),
                &format!(
                    "the release command `{}` failed in service {}",
                    rc.command, rc.service
                ),
            )
        },
    )
}

fn step(host: &Host, command: &str, what: &str) -> Result<()> {
    let out = host.change(command, TIMEOUT)?;
    if out.status.success() {
        return Ok(());
    }
    let mut shown = String::new();
    for text in [out.stdout_str(), out.stderr_str()] {
        let lines: Vec<&str> = text.trim_end().lines().collect();
        let from = lines.len().saturating_sub(LINES_SHOWN);
        for line in &lines[from..] {
            shown.push_str(&crate::output::sanitize(line));
            shown.push('\n');
        }
    }
    Err(Error::remote(format!(
        "{what} ({}): `docker compose up` did not run, the running release keeps serving",
        out.status
    ))
    .cause(format!("its output:\n{}", shown.trim_end()))
    .hint("fix the command or what it reports, then deploy again"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        let project = Project::new(
            crate::guest::Inside::Container(120),
            "shop",
            "/opt/shop",
            "docker-compose.yml",
        );
        let rc = ReleaseCommand {
            service: "api".into(),
            command: "./manage.py migrate 'main db'".into(),
        };
        assert_eq!(
            build_command(&project),
            "pct exec 120 -- docker compose -p shop -f /opt/shop/docker-compose.yml build"
        );
        assert_eq!(
            run_command(&project, &rc, &rc.words().unwrap()),
            "pct exec 120 -- docker compose -p shop -f /opt/shop/docker-compose.yml run --rm -T api ./manage.py migrate 'main db'"
        );
    }
}
