//! Installing, updating and removing the watcher: at the end of a `deploy`, after its
//! one read call told which watcher is installed (its marker, [`super::marker`]). An
//! unchanged watcher costs nothing more; a new or changed one one call (its channels on
//! stdin); a `[monitor]` section gone one call that removes it. `destroy` has nothing to
//! do: the watcher lives in the guest's root filesystem and goes with it.

use std::time::Duration;

use super::Wanted;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::guest::Guest;
use crate::output::{sanitize, tail};
use crate::progress::Reporter;

/// `$1` install|remove, `$2` the folder, `$3` the unit; install: `$4` marker, `$5`
/// watcher, `$6` settings, `$7` unit file, stdin the channels.
const SCRIPT: &str = crate::scripts::script!("monitor-apply.sh");

const TIMEOUT: Duration = Duration::from_secs(120);

/// What a deploy did to the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Done {
    Installed,
    Updated,
    Unchanged,
    Removed,
}

/// The watcher `cfg` wants (its channel URLs read now), or `None` without `[monitor]`.
pub(crate) fn wanted(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Wanted>> {
    let Some(m) = &cfg.monitor else {
        return Ok(None);
    };
    let urls = super::read_urls(cfg, m, env)?;
    Ok(Some(Wanted::new(cfg, m, &urls)))
}

/// The systemd unit of `project`'s watcher: a long-running service, restarted when it
/// ends, started at boot.
pub(crate) fn unit_file(project: &str) -> String {
    format!(
        "[Unit]\nDescription=pxdeploy monitor of {project}\nAfter=docker.service\n\n[Service]\nType=simple\nExecStart=/bin/sh {dir}/watch.sh run\nRestart=always\nRestartSec=10\nNice=10\n\n[Install]\nWantedBy=multi-user.target\n",
        dir = super::dir(project)
    )
}

/// Brings the guest's watcher to what is wanted; `installed` is the marker the deploy's
/// read call found. `None`: nothing wanted and nothing there.
pub(crate) fn sync(
    guest: Guest<'_>,
    project: &str,
    wanted: Option<&Wanted>,
    installed: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<Option<Done>> {
    match (wanted, installed) {
        (None, None) => Ok(None),
        (Some(w), Some(h)) if h == w.hash => Ok(Some(Done::Unchanged)),
        (Some(w), _) => {
            let done = match installed {
                Some(_) => Done::Updated,
                None => Done::Installed,
            };
            let what = match done {
                Done::Updated => "Updating the watcher",
                _ => "Installing the watcher",
            };
            let (noun, id) = (guest.kind().noun(), guest.id());
            reporter.step(&format!("{what} in {noun} {id}"), || install(guest, w))?;
            Ok(Some(done))
        }
        (None, Some(_)) => {
            reporter.step(
                &format!(
                    "Removing the watcher from {} {}",
                    guest.kind().noun(),
                    guest.id()
                ),
                || remove(guest, project),
            )?;
            Ok(Some(Done::Removed))
        }
    }
}

/// Writes the watcher, its settings and channels, and (re)starts its unit.
fn install(guest: Guest<'_>, w: &Wanted) -> Result<()> {
    let node = guest.host().node()?;
    let (dir, unit) = (super::dir(&w.project), super::unit(&w.project));
    let argv = [
        "sh",
        "-c",
        SCRIPT,
        "sh",
        "install",
        &dir,
        &unit,
        &w.hash,
        super::WATCHER,
        &w.settings(node.as_deref()),
        &unit_file(&w.project),
    ];
    let line = guest.exec_line(&argv);
    let mut stdin = w.channels.expose().as_bytes();
    // In the guest: a VM's own session (the node's would install it on the node).
    let out = guest
        .inside_host()?
        .change_with_stdin(&line, &mut stdin, TIMEOUT)?;
    checked(guest, "install the watcher in", out)
}

/// Stops, disables and deletes the watcher of `project`.
pub(crate) fn remove(guest: Guest<'_>, project: &str) -> Result<()> {
    let (dir, unit) = (super::dir(project), super::unit(project));
    let argv = ["sh", "-c", SCRIPT, "sh", "remove", &dir, &unit];
    let out = guest
        .inside_host()?
        .change(&guest.exec_line(&argv), TIMEOUT)?;
    checked(guest, "remove the watcher from", out)
}

/// The script's failure as an error that names what failed (its long command line is not
/// shown), its stderr and what to do.
fn checked(guest: Guest<'_>, what: &str, out: crate::remote::Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    let id = guest.id();
    let stderr = out.stderr_str();
    let err =
        Error::remote(format!("could not {what} {} {id}", guest.kind().noun())).cause(format!(
            "{} {}: {}",
            super::ran(guest),
            out.status,
            sanitize(&tail(&stderr, 5))
        ));
    Err(match out.status.code {
        65 => err.hint(
            "a service in the guest may have planted the link: look at it before deploying again",
        ),
        69 => err.hint(
            "the watcher needs systemd in the guest; remove [monitor] for a guest without it",
        ),
        _ => match guest.not_run(&stderr) {
            Some(_) => err.hint("start the guest with `pxdeploy start`, then deploy again"),
            None => {
                err.hint("`pxdeploy deploy -vv` shows the call; the rest of the deploy is done")
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// Runs the real install script against `dir` (no systemctl needed: it stops before).
    fn install(dir: &std::path::Path) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new("sh")
            .args(["-c", super::SCRIPT, "sh", "install"])
            .arg(dir)
            .args([
                "pxdeploy-monitor-t.service",
                "hash",
                "echo w",
                "x=1",
                "[Unit]",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The script may refuse (and exit) before it reads its stdin.
        let _ = stdin.write_all(b"webhook https://h/SECRET\n");
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    #[test]
    fn a_link_planted_on_the_way_or_at_a_file_is_refused_and_nothing_is_written_through_it() {
        let tmp = tempfile::tempdir().unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        // The watcher's folder is a link.
        let dir = tmp.path().join("monitor");
        std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
        let out = install(&dir.join("app"));
        assert_eq!(out.status.code(), Some(65), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("is a symbolic link"));
        // The channels file is a link.
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("stolen"), real.join("channels")).unwrap();
        let out = install(&real);
        assert_eq!(out.status.code(), Some(65), "{out:?}");
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing written there"
        );
    }
}
