//! Steps 10 to 12 of a deploy (docs/deploy.md): `docker compose up`, unless nothing changed
//! since the last successful deploy and every service still runs healthy; the health wait;
//! then the finish that records the release and the fingerprint.
//!
//! "Nothing changed" is a fingerprint: SHA-256 of the pushed tree's digest, the new `.env`,
//! the project and compose file, and pxdeploy's version. It is written beside `.env`
//! (0600) only after the services were found healthy, and removed right before every `up`,
//! so a failed or interrupted deploy never leaves one that would skip the next `up`.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::inspect::{marker_path, Inspection};
use crate::compose::{self, Project};
use crate::config::Config;
use crate::envfile::Redacted;
use crate::error::{Error, Result};
use crate::guest::{Guest, Kind};
use crate::health::{self, ServiceHealth, Tracker};
use crate::lock::held::{self, Held};
use crate::progress::Reporter;
use crate::remote::host::{ensure_success, Prepared, GATE};
use crate::remote::quote::join;

const UP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const MARK_TIMEOUT: Duration = Duration::from_secs(60);
/// Finishing may prune many releases and objects.
const FINISH_TIMEOUT: Duration = Duration::from_secs(6 * 60);

/// The fingerprint of a deploy's inputs.
pub(crate) fn fingerprint(project: &Project, tree: &str, env: &Redacted<String>) -> String {
    let mut h = Sha256::new();
    for part in [
        concat!("pxdeploy ", env!("CARGO_PKG_VERSION")),
        &project.name,
        &project.file,
        tree,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for part in project
        .more_files
        .iter()
        .chain([&String::new()])
        .chain(&project.profiles)
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(env.expose().as_bytes());
    format!("sha256:{:x}", h.finalize())
}

/// The services as they are, when the last deploy had the same fingerprint and every
/// service of the compose file (and of `[health] services`) runs, healthy where it has a
/// healthcheck. `None`: run `up`.
pub(crate) fn unchanged(
    inspection: &Inspection,
    fingerprint: &str,
    cfg: &Config,
) -> Option<Vec<ServiceHealth>> {
    if inspection.marker.as_deref() != Some(fingerprint) {
        return None;
    }
    // The tree must be that deploy's too: not another release (an unfinished switch reports
    // its target as current).
    let store = &inspection.store;
    if let Some(current) = &store.current {
        if store.release(current).map(|r| r.fingerprint.as_str()) != Some(fingerprint) {
            return None;
        }
    }
    let entries = inspection.services.as_ref().ok()?;
    let wanted = cfg.health_services();
    let mut all = cfg.compose_services.clone();
    all.extend(
        wanted
            .iter()
            .filter(|s| !all.contains(s))
            .cloned()
            .collect::<Vec<_>>(),
    );
    if !Tracker::new(&all, false)
        .with_model(&cfg.compose)
        .observe(entries)
        .all_ready()
    {
        return None;
    }
    Some(
        Tracker::new(&wanted, false)
            .with_model(&cfg.compose)
            .observe(entries)
            .health(),
    )
}

/// `$1` = the marker, then the command: refuses a symbolic link at the marker or on its
/// way (exit 65: a service that can write into the app folder could point the marker
/// anywhere), removes the marker, runs the command.
pub(crate) const UP_SCRIPT: &str = crate::scripts::script!("up.sh");

/// `pct exec <vmid> -- sh -c '<UP_SCRIPT>' sh <marker> docker compose -p <name> -f <file>
/// up -d --build --remove-orphans`
pub(crate) fn up_command(project: &Project) -> String {
    let marker = marker_path(project);
    let mut argv = vec!["sh", "-c", UP_SCRIPT, "sh", &marker];
    let up = project.up_argv();
    argv.extend(up.iter().map(String::as_str));
    project.inside.exec(&argv)
}

/// Writes stdin to `$1` durably: a temporary file beside it (made afresh: whatever was there
/// is removed and `set -C` refuses anything put there meanwhile), flushed (`sync FILE`, in
/// coreutils and BusyBox), renamed over it, then its folder flushed. No link on the way.
pub(crate) const MARK_SCRIPT: &str = crate::scripts::script!("mark.sh");

/// `pct exec <vmid> -- sh -c '<MARK_SCRIPT>' sh <marker>`: the fingerprint goes over stdin,
/// so it is never on a command line, in a log or in a `--dry-run` plan (it is derived from
/// `.env`).
pub(crate) fn mark_command(project: &Project) -> String {
    let marker = marker_path(project);
    project
        .inside
        .exec(&["sh", "-c", MARK_SCRIPT, "sh", &marker])
}

/// The end of a healthy deploy in one call: the release store's finish (results, pruning:
/// [`store::finish_argv`]), then, only if that succeeded, [`mark_command`]'s script. With
/// `held` (the run's lock; none under `--dry-run`) the host first checks that the lock is
/// still this run's ([`held::CHECK`]: exit 7 otherwise, nothing recorded).
///
/// [`store::finish_argv`]: crate::release::store::finish_argv
pub(crate) fn finish_and_mark_command(
    project: &Project,
    keep: Option<&[String]>,
    results: &[(&str, &str)],
    held: Option<&Held>,
) -> String {
    let finish = join(&crate::release::store::finish_argv(
        &project.remote_dir,
        keep,
        results,
    ));
    let mark = join(&["sh", "-c", MARK_SCRIPT, "sh", &marker_path(project)]);
    let script = format!("{finish} </dev/null && exec {mark}");
    match held {
        Some(held) => held.guard(GATE, &project.inside.exec_sh(&script)),
        None => project.inside.exec_sh(&format!("{GATE}{script}")),
    }
}

/// [`finish_and_mark`], its channel opened now (`Host::prepare`): the deploy does it when
/// the health wait starts, so the `pct exec` has started by the time the services are
/// healthy. Dropped without [`finish_and_mark`] (an unhealthy deploy) it records nothing.
pub(crate) fn prepare_finish(
    guest: Guest<'_>,
    project: &Project,
    keep: Option<&[String]>,
    results: &[(&str, &str)],
    held: Option<&Held>,
) -> Result<Prepared> {
    // A VM's store is behind another session than the lock's: its check is a call of its
    // own on the node, just before ([`finish_and_mark`]).
    let (host, held) = match guest.kind() {
        Kind::Container => (guest.host(), held),
        Kind::Vm => (guest.inside_host()?, None),
    };
    Ok(host.prepare(finish_and_mark_command(project, keep, results, held)))
}

/// Records the results of a healthy deploy and remembers that this fingerprint is up and
/// healthy, in one `pct exec` (the fingerprint over stdin), on its [`prepare_finish`]ed
/// channel.
pub(crate) fn finish_and_mark(
    guest: Guest<'_>,
    prepared: Prepared,
    fingerprint: &str,
    held: Option<&Held>,
) -> Result<()> {
    let vmid = guest.id();
    let locked = crate::lock::Guest {
        noun: guest.kind().noun(),
        vmid,
    };
    if let (Kind::Vm, Some(held)) = (guest.kind(), held) {
        let node = guest.host();
        let check = held.guard("", "true");
        let out = node.change(&check, FINISH_TIMEOUT)?;
        if out.status.code == held::LOST_EXIT {
            return Err(held::lost(locked, &node.alias, &out.stderr_str()));
        }
        ensure_success(&check, out)?;
    }
    let host = guest.inside_host()?;
    let line = format!("{fingerprint}\n");
    let command = prepared.command().to_string();
    let out = host.run_prepared(prepared, &mut line.as_bytes(), FINISH_TIMEOUT)?;
    if out.status.code == held::LOST_EXIT && out.stderr_str().contains("pxdeploy: the deploy lock")
    {
        return Err(held::lost(locked, &guest.host().alias, &out.stderr_str()));
    }
    let refused = out.status.code == crate::release::store::UNSAFE_EXIT;
    ensure_success(&command, out).map_err(|e| match refused {
        true => e.hint(format!(
            "remove that link inside the {} (pxdeploy never follows one), then try again",
            guest.kind().noun()
        )),
        false => e,
    })?;
    Ok(())
}

/// Remembers that this fingerprint is up and healthy.
pub(crate) fn mark(guest: Guest<'_>, project: &Project, fingerprint: &str) -> Result<()> {
    let host = guest.inside_host()?;
    let command = mark_command(project);
    let line = format!("{fingerprint}\n");
    let out = host.change_with_stdin(&command, &mut line.as_bytes(), MARK_TIMEOUT)?;
    ensure_success(&command, out)?;
    Ok(())
}

/// `docker compose up -d --build --remove-orphans`. A dependency that Compose found
/// unhealthy is a health failure (exit 6) with that service's logs; anything else exit 5.
pub(crate) fn compose_up(
    guest: Guest<'_>,
    project: &Project,
    cfg: &Config,
    reporter: &dyn Reporter,
) -> Result<()> {
    reporter.step(
        &format!(
            "Starting the services (`docker compose up` in {} {})",
            project.inside.noun(),
            project.inside.id()
        ),
        || up(guest, project, cfg),
    )
}

fn up(guest: Guest<'_>, project: &Project, cfg: &Config) -> Result<()> {
    let host = guest.inside_host()?;
    let command = up_command(project);
    let out = host.change(&command, UP_TIMEOUT)?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = out.stderr_str();
    let failed = match compose::unhealthy_dependency(&stderr) {
        Some(container) => {
            let service =
                compose::service_of_container(&project.name, &container).unwrap_or(container);
            let why = "is unhealthy: `docker compose up` gave up waiting for it".to_string();
            Some((service, why))
        }
        None => compose::up_errors::incomplete_dependency(&stderr).map(|(service, code)| {
            let why = format!(
                "did not complete successfully (exit {code}): `docker compose up` stopped there"
            );
            (service, why)
        }),
    };
    if let Some((service, why)) = failed {
        let mut names = cfg.health.services.clone().unwrap_or_default();
        if !names.contains(&service) {
            names.push(service.clone());
        }
        let snapshot = health::snapshot(guest, project, &names).unwrap_or_default();
        return Err(health::explain(
            host,
            project,
            &snapshot,
            std::slice::from_ref(&service),
            format!("service `{service}` {why}"),
        ));
    }
    let tail = crate::output::tail_of(&stderr, &out.stdout_str(), 20);
    if let Some(known) = crate::breakage::recognise(&stderr) {
        return Err(Error::remote(format!(
            "`docker compose up` failed in {} {}: Docker cannot start containers there",
            project.inside.noun(),
            project.inside.id()
        ))
        .cause(known.what(project.inside.id()))
        .cause(format!("`{}` {}:\n{}", project.up(), out.status, tail))
        .hint(known.ways_out(project.inside.id())));
    }
    Err(Error::remote(format!("`docker compose up` failed in {} {}", project.inside.noun(), project.inside.id()))
        .cause(format!("`{}` {}:\n{}", project.up(), out.status, tail))
        .hint("fix the compose file or the build, then deploy again; `pxdeploy logs` shows the services' output"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::PsEntry;

    fn project() -> Project {
        Project::new(
            crate::guest::Inside::Container(210),
            "app",
            "/opt/app",
            "docker-compose.yml",
        )
    }

    fn cfg() -> Config {
        let mut c: Config = toml::from_str(
            "[proxmox]\nhost = \"h\"\n[container]\nvmid = 210\nhostname = \"app\"\n[app]\nname = \"app\"\n",
        )
        .unwrap();
        c.compose_services = vec!["db".into(), "web".into()];
        c
    }

    fn ps(state_web: &str, health_web: &str) -> Vec<PsEntry> {
        let e = |service: &str, state: &str, health: &str| PsEntry {
            id: service.into(),
            name: format!("app-{service}-1"),
            service: service.into(),
            state: state.into(),
            health: health.into(),
            ..Default::default()
        };
        vec![
            e("db", "running", "healthy"),
            e("web", state_web, health_web),
        ]
    }

    #[test]
    fn fingerprint_follows_every_input() {
        let env = Redacted::new("A=1\n".to_string());
        let fp = fingerprint(&project(), "sha256:t", &env);
        assert_eq!(fp, fingerprint(&project(), "sha256:t", &env));
        assert!(fp.starts_with("sha256:") && fp.len() == 71, "{fp}");
        assert_ne!(fp, fingerprint(&project(), "sha256:u", &env));
        assert_ne!(
            fp,
            fingerprint(&project(), "sha256:t", &Redacted::new("A=2\n".into()))
        );
        let other = Project::new(
            crate::guest::Inside::Container(210),
            "app",
            "/opt/app",
            "compose.prod.yml",
        );
        assert_ne!(fp, fingerprint(&other, "sha256:t", &env));
    }

    #[test]
    fn skips_up_only_when_the_fingerprint_matches_and_all_services_run() {
        let cfg = cfg();
        let at = |marker: Option<&str>, services| Inspection {
            marker: marker.map(str::to_string),
            services,
            ..Inspection::default()
        };
        let healthy = at(Some("fp"), Ok(ps("running", "")));
        let got = unchanged(&healthy, "fp", &cfg).expect("unchanged");
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|s| s.ok));
        assert!(unchanged(&healthy, "other", &cfg).is_none());
        assert!(unchanged(&at(None, Ok(ps("running", ""))), "fp", &cfg).is_none());
        for (state, health) in [
            ("exited", ""),
            ("restarting", ""),
            ("running", "starting"),
            ("running", "unhealthy"),
        ] {
            let i = at(Some("fp"), Ok(ps(state, health)));
            assert!(unchanged(&i, "fp", &cfg).is_none(), "{state} {health}");
        }
        // The store's current release is another one (a switch to it was cut short).
        let mut elsewhere = at(Some("fp"), Ok(ps("running", "")));
        let release = |fp: &str| crate::release::Release {
            id: "20261129T191501Z-3fa9c2d1".into(),
            result: "healthy".into(),
            deployed: String::new(),
            by: String::new(),
            version: String::new(),
            fingerprint: fp.into(),
        };
        elsewhere.store.current = Some("20261129T191501Z-3fa9c2d1".into());
        elsewhere.store.releases = vec![release("other")];
        assert!(unchanged(&elsewhere, "fp", &cfg).is_none());
        elsewhere.store.releases = vec![release("fp")];
        assert!(unchanged(&elsewhere, "fp", &cfg).is_some());
        let gone = at(Some("fp"), Ok(ps("running", "")[..1].to_vec()));
        assert!(unchanged(&gone, "fp", &cfg).is_none(), "a missing service");
        assert!(unchanged(&at(Some("fp"), Err("no daemon".into())), "fp", &cfg).is_none());
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            up_command(&project()),
            format!(
                "pct exec 210 -- sh -c {} sh /opt/app/.pxdeploy-deployed docker compose -p app -f /opt/app/docker-compose.yml up -d --build --remove-orphans",
                crate::remote::quote::quote(UP_SCRIPT)
            )
        );
        assert_eq!(
            mark_command(&project()),
            format!(
                "pct exec 210 -- sh -c {} sh /opt/app/.pxdeploy-deployed",
                crate::remote::quote::quote(MARK_SCRIPT)
            )
        );
    }

    /// The fingerprint reaches the disk before it replaces the old one, and the rename
    /// after it; it is written whole (never a half-written marker) and private.
    #[test]
    fn mark_script_flushes_the_file_before_the_rename_and_the_folder_after() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join(".pxdeploy-deployed");
        std::fs::write(&marker, "old\n").unwrap();
        let shim = crate::test_support::sync_shim(&marker);
        let mut child = std::process::Command::new("sh")
            .args(["-c", MARK_SCRIPT, "sh"])
            .arg(&marker)
            .env("PATH", &shim.path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"new\n").unwrap();
        assert!(child.wait().unwrap().success());
        let log = shim.log();
        let m = marker.display();
        assert_eq!(
            log,
            format!("-- {m}.tmp | old\n-- {}/ | new\n", dir.path().display()),
            "{log}"
        );
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "new\n");
        let mode = std::fs::metadata(&marker).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file left"
        );
    }
}

#[cfg(test)]
#[path = "activate_links_tests.rs"]
mod links;
