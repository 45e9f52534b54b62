//! What a deploy needs to know about the container before it changes anything, read in one
//! `pct exec` (every `pct` call is a process start on the node, so one call, not five):
//! the existing `.env`, the fingerprint of the last successful `docker compose up`, the
//! release store (current release, its manifest, the stored objects: `release::store`), the
//! drift of the pushed files (`release::drift`), the Compose version, and `docker compose ps`.
//!
//! The script prints length-framed sections (`<name> <bytes>` then the bytes, or
//! `<name> -` when the file does not exist; `version <status> <bytes>`), then the output of
//! `docker compose ps -a --format json`, the rest of stdout, whose exit status is the
//! call's. `ps` runs while `docker compose version` does (each is a Compose start, ~0.25 s
//! on the simulated node); its output is held in a shell variable until the version is
//! printed. Nothing is written anywhere, not even a temporary file: the `.env` it prints
//! holds secrets.

use super::{drift, parse_read, store, Store};
use crate::compose::{self, Project, PsEntry, Version};
use crate::envfile::Redacted;

/// Where the fingerprint of the last successful `up` is kept, beside `.env` (0600).
pub(crate) const MARKER_FILE: &str = ".pxdeploy-deployed";

/// `$1` = the compose file's folder, `$2` = the project name, `$3` = [`marker_path`],
/// `$4` = `remote_dir` (the release store's folder), `$5` = the drift check's mode, `$6` =
/// the watcher's marker ([`crate::monitor::marker`]: an unchanged redeploy with
/// `[monitor]` learns here, in the same call, that the watcher is up to date). Starts
/// with [`store::READ_FN`] and [`drift::function`].
const SCRIPT: &str = crate::scripts::script!("inspect.sh");

fn script() -> String {
    format!("{}{}{SCRIPT}", store::READ_FN, drift::function())
}

/// `pct exec <vmid> -- sh -c '<SCRIPT>' sh <dir> <project> <marker> <remote_dir> <mode>`;
/// `thorough`: the drift check hashes every pushed file (`deploy --force`).
pub(crate) fn command(project: &Project, thorough: bool) -> String {
    project.inside.exec(&[
        "sh",
        "-c",
        &script(),
        "sh",
        &project.dir(),
        &project.name,
        &marker_path(project),
        &project.remote_dir,
        drift::mode(thorough),
        &crate::monitor::marker(&project.name),
    ])
}

/// The fingerprint file of `project` inside the container: [`MARKER_FILE`] beside `.env`.
pub(crate) fn marker_path(project: &Project) -> String {
    compose::remote_path(&project.dir(), MARKER_FILE)
}

/// The container as the deploy found it.
#[derive(Debug)]
pub(crate) struct Inspection {
    /// The `.env` beside the compose file, as bytes; `None` when there is none yet.
    pub env: Option<Redacted<Vec<u8>>>,
    /// The fingerprint stored by the last successful `up`.
    pub marker: Option<String>,
    /// The hash of the watcher installed for this project (`[monitor]`), if any.
    pub monitor: Option<String>,
    /// The release store: current release, its manifest, the stored objects.
    pub store: Store,
    /// What the drift check saw (`None`: no check, e.g. no release yet).
    pub drift: Option<Vec<drift::Seen>>,
    /// `docker compose version --short`: the version, or what the command said instead.
    pub compose: std::result::Result<Version, String>,
    /// `docker compose ps -a --format json`, parsed; or why it could not be listed.
    pub services: std::result::Result<Vec<PsEntry>, String>,
}

impl Default for Inspection {
    /// A container with nothing in it yet (and no Compose answer).
    fn default() -> Self {
        Inspection {
            env: None,
            marker: None,
            monitor: None,
            store: Store::default(),
            drift: None,
            compose: Err("not asked".into()),
            services: Ok(Vec::new()),
        }
    }
}

/// Reads the script's stdout; `exit_ok` and `stderr` are those of the whole call (that is,
/// of `docker compose ps`). `Err` when the output is not what the script prints: the
/// caller then reports the call's stderr (e.g. `pct exec` refused to run at all).
pub(crate) fn parse(stdout: &[u8], exit_ok: bool, stderr: &str) -> Result<Inspection, String> {
    let mut rest = stdout;
    let env = section(&mut rest, "env")?.map(|b| Redacted::new(b.to_vec()));
    let marker = section(&mut rest, "marker")?
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .filter(|m| !m.is_empty());
    let monitor = section(&mut rest, "monitor")?
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .filter(|m| !m.is_empty());
    let store = parse_read(&mut rest)?;
    let drift = drift::parse(&mut rest)?;
    let (status, text) = version_section(&mut rest)?;
    let compose = match compose::parse_version(text.trim()) {
        Some(v) if status == 0 => Ok(v),
        _ => Err(crate::output::sanitize(text.trim())),
    };
    let services = if exit_ok {
        compose::parse_ps(&String::from_utf8_lossy(rest))
    } else {
        Err(crate::output::tail(stderr, 3))
    };
    Ok(Inspection {
        env,
        marker,
        monitor,
        store,
        drift,
        compose,
        services,
    })
}

/// `<name> <len>\n<len bytes>` → Some(bytes); `<name> -\n` → None.
fn section<'a>(rest: &mut &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    let (header, body) = header(rest, name)?;
    if header.trim() == "-" {
        *rest = body;
        return Ok(None);
    }
    let len: usize = header
        .trim()
        .parse()
        .map_err(|_| format!("bad `{name}` section header {header:?}"))?;
    if body.len() < len {
        return Err(format!("the `{name}` section ends early"));
    }
    *rest = &body[len..];
    Ok(Some(&body[..len]))
}

/// `version <status> <len>\n<len bytes>`
fn version_section(rest: &mut &[u8]) -> Result<(i32, String), String> {
    let (header, body) = header(rest, "version")?;
    let mut words = header.split_whitespace();
    let (Some(Ok(status)), Some(Ok(len))) = (
        words.next().map(str::parse::<i32>),
        words.next().map(str::parse::<usize>),
    ) else {
        return Err(format!("bad `version` section header {header:?}"));
    };
    if body.len() < len {
        return Err("the `version` section ends early".into());
    }
    *rest = &body[len..];
    Ok((status, String::from_utf8_lossy(&body[..len]).into_owned()))
}

/// The rest of the line after `<name> `, and what follows the line.
fn header<'a>(rest: &'a [u8], name: &str) -> Result<(String, &'a [u8]), String> {
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| format!("no `{name}` section"))?;
    let line = String::from_utf8_lossy(&rest[..nl]).into_owned();
    match line.strip_prefix(name).and_then(|l| l.strip_prefix(' ')) {
        Some(h) => Ok((h.to_string(), &rest[nl + 1..])),
        None => Err(format!("expected the `{name}` section, got {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs the real script with `sh` against a folder, with a fake `docker` on PATH.
    fn run_script(dir: &std::path::Path, docker: &str) -> (Vec<u8>, bool, String) {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let fake = bin.join("docker");
        std::fs::write(&fake, format!("#!/bin/sh\n{docker}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new("sh")
            .args(["-c", &script(), "sh"])
            .arg(dir)
            .arg("proj")
            .arg(dir.join(MARKER_FILE))
            .arg(dir)
            .arg("quick")
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        (
            out.stdout,
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    const DOCKER: &str = r#"case "$2" in
version) echo 2.40.3 ;;
-p) echo '{"ID":"a","Name":"proj-db-1","Service":"db","State":"running","Health":"healthy","ExitCode":0}' ;;
esac"#;

    #[test]
    fn reads_every_section_through_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let env = "A='x y'\nB=\"no newline at the end\"";
        std::fs::write(dir.path().join(".env"), env).unwrap();
        std::fs::write(dir.path().join(MARKER_FILE), "sha256:abc\n").unwrap();
        let (out, ok, err) = run_script(dir.path(), DOCKER);
        assert!(ok, "{err}");
        let i = parse(&out, ok, &err).unwrap();
        assert_eq!(i.env.unwrap().expose(), env.as_bytes());
        assert_eq!(i.marker.as_deref(), Some("sha256:abc"));
        assert_eq!(i.compose.unwrap().to_string(), "2.40.3");
        let ps = i.services.unwrap();
        assert_eq!(
            (ps[0].service.as_str(), ps[0].health.as_str()),
            ("db", "healthy")
        );
    }

    #[test]
    fn first_deploy_has_no_env_no_marker_and_no_services() {
        let dir = tempfile::tempdir().unwrap();
        let (out, ok, err) = run_script(
            &dir.path().join("not-yet"),
            r#"case "$2" in version) echo 2.20.3 ;; esac"#,
        );
        let i = parse(&out, ok, &err).unwrap();
        assert!(i.env.is_none() && i.marker.is_none());
        assert!(i.services.unwrap().is_empty());
    }

    #[test]
    fn no_compose_plugin_is_reported_with_its_own_words() {
        let dir = tempfile::tempdir().unwrap();
        let (out, ok, err) = run_script(
            dir.path(),
            "echo \"docker: 'compose' is not a docker command.\" >&2; exit 1",
        );
        assert!(!ok);
        let i = parse(&out, ok, &err).unwrap();
        assert_eq!(
            i.compose.unwrap_err(),
            "docker: 'compose' is not a docker command."
        );
        assert!(i.services.unwrap_err().contains("not a docker command"));
    }

    #[test]
    fn an_env_that_mentions_the_section_names_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let env = "marker -\nversion 0 5\n\n\n";
        std::fs::write(dir.path().join(".env"), env).unwrap();
        let (out, ok, err) = run_script(dir.path(), DOCKER);
        let i = parse(&out, ok, &err).unwrap();
        assert_eq!(i.env.unwrap().expose(), env.as_bytes());
        assert!(i.marker.is_none());
    }

    /// `ps` runs while `docker compose version` does: here the version only answers once
    /// `ps` has started (it gives up after 5 s), and `ps`'s status and stderr are the call's.
    #[test]
    fn version_and_ps_run_at_the_same_time_and_ps_status_is_the_calls() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("ps-started");
        let docker = format!(
            r#"case "$2" in
version) i=0; while [ ! -e '{f}' ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  if [ -e '{f}' ]; then echo 2.40.3; else echo 'ps had not started'; fi ;;
-p) touch '{f}'; echo '{{"ID":"a","Name":"proj-db-1","Service":"db","State":"running","Health":"","ExitCode":0}}'
  echo 'ps: something went wrong' >&2; exit 3 ;;
esac"#,
            f = flag.display()
        );
        let (out, ok, err) = run_script(dir.path(), &docker);
        assert!(!ok, "ps failed, so the call must fail");
        let i = parse(&out, ok, &err).unwrap();
        assert_eq!(i.compose.unwrap().to_string(), "2.40.3");
        assert!(
            i.services.unwrap_err().contains("ps: something went wrong"),
            "{err}"
        );
    }

    #[test]
    fn pct_refusing_to_run_is_not_an_inspection() {
        let e = parse(b"", false, "container '210' not running!\n").unwrap_err();
        assert!(e.contains("no `env` section"), "{e}");
    }

    #[test]
    fn command_line() {
        let p = Project::new(
            crate::guest::Inside::Container(210),
            "app",
            "/opt/app",
            "docker-compose.yml",
        );
        let c = command(&p, false);
        assert!(c.starts_with("pct exec 210 -- sh -c '"), "{c}");
        assert!(
            c.ends_with(" sh /opt/app app /opt/app/.pxdeploy-deployed /opt/app quick /var/lib/pxdeploy/monitor/app/installed"),
            "{c}"
        );
    }

    /// The watcher's marker comes back from the same call, so that an unchanged redeploy
    /// with `[monitor]` costs no call more than one without.
    #[test]
    fn reads_the_watchers_marker_in_the_same_call() {
        let dir = tempfile::tempdir().unwrap();
        let (out, ok, err) = run_script(dir.path(), DOCKER);
        assert!(parse(&out, ok, &err).unwrap().monitor.is_none());
        let marker = dir.path().join("installed");
        std::fs::write(&marker, "abc123\n").unwrap();
        let out = Command::new("sh")
            .args(["-c", &script(), "sh"])
            .arg(dir.path())
            .arg("proj")
            .arg(dir.path().join(MARKER_FILE))
            .arg(dir.path())
            .arg("quick")
            .arg(&marker)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", dir.path().join("bin").display()),
            )
            .output()
            .unwrap();
        let i = parse(&out.stdout, out.status.success(), "").unwrap();
        assert_eq!(i.monitor.as_deref(), Some("abc123"));
        assert!(i.services.is_ok());
    }
}
