//! `docker compose` command lines (run inside the guest: [`Inside`], `pct exec` for a container) and the
//! parsers of their output: `ps --format json` in every format Compose ever printed (one
//! JSON array up to 2.20, one object per line from 2.21, `null`, nothing at all), the
//! `version --short` answer, and the `up` failure that is really a health failure.

use serde::Deserialize;

use crate::guest::inside::Inside;

pub(crate) mod conflicts;
pub(crate) mod model;
pub(crate) mod up_errors;

/// One Compose project inside one container: everything a command line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Where the project's commands run: the guest's inside (builds their lines).
    pub inside: Inside,
    /// The Compose project name (`app.name`).
    pub name: String,
    /// The compose file inside the container, absolute (`remote_dir/compose_file`). Compose
    /// takes the project directory (and the `.env` it reads) from this file's folder.
    pub file: String,
    /// `app.remote_dir`: the pushed tree and its release store.
    pub remote_dir: String,
    /// Further compose files after `file` (each one more `-f`), absolute.
    pub more_files: Vec<String>,
    /// `--profile` of every command.
    pub profiles: Vec<String>,
    /// The local compose file(s) as read at config load (on a rollback: the release's own
    /// stored compose file): which services are one-shot, how many replicas each runs.
    pub model: model::Model,
}

/// `ps` of every container of the project, also stopped and one-off ones, as JSON.
const PS: [&str; 4] = ["ps", "-a", "--format", "json"];

impl Project {
    pub fn new(
        inside: Inside,
        name: impl Into<String>,
        remote_dir: &str,
        compose_file: &str,
    ) -> Self {
        Project {
            inside,
            name: name.into(),
            file: remote_path(remote_dir, compose_file),
            remote_dir: remote_dir.to_string(),
            more_files: Vec::new(),
            profiles: Vec::new(),
            model: model::Model::default(),
        }
    }

    /// With more compose files (`-f` each, after the first) relative to `remote_dir`,
    /// active profiles and the local model.
    pub fn with(
        mut self,
        remote_dir: &str,
        more_files: &[String],
        profiles: &[String],
        model: model::Model,
    ) -> Self {
        self.more_files = more_files
            .iter()
            .map(|f| remote_path(remote_dir, f))
            .collect();
        self.profiles = profiles.to_vec();
        self.model = model;
        self
    }

    /// `--profile P` for each active profile.
    fn profile_args(&self) -> Vec<&str> {
        self.profiles
            .iter()
            .flat_map(|p| ["--profile", p.as_str()])
            .collect()
    }

    /// The folder of the compose file inside the container: where `.env` lives.
    pub fn dir(&self) -> String {
        match self.file.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => self.file[..i].to_string(),
            None => ".".to_string(),
        }
    }

    /// `<in the guest> docker compose -p <name> <args…>`: Compose finds the project's
    /// containers by their labels, so this works before the first deploy (no file yet) too.
    fn by_name(&self, args: &[&str]) -> String {
        self.inside.exec(&self.by_name_argv(args))
    }

    /// The argv of [`Project::by_name`] inside the container.
    fn by_name_argv<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut argv = vec!["docker", "compose", "-p", &self.name];
        argv.extend(self.profile_args());
        argv.extend_from_slice(args);
        argv
    }

    /// Builds and (re)creates every service, removes containers of services no longer in the file.
    pub fn up(&self) -> String {
        self.inside.exec(
            &self
                .up_argv()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
    }

    /// The argv of [`Project::up`] inside the container.
    pub fn up_argv(&self) -> Vec<String> {
        let files = std::iter::once(&self.file).chain(&self.more_files);
        ["docker", "compose", "-p", &self.name]
            .into_iter()
            .chain(files.flat_map(|f| ["-f", f.as_str()]))
            .chain(self.profile_args())
            .chain(["up", "-d", "--build", "--remove-orphans"])
            .map(str::to_string)
            .collect()
    }

    /// `exec [-T] SERVICE CMD…` in the service's running container, with the deployed
    /// compose file(s): `-T` (no terminal) unless the user has one.
    pub fn exec(&self, service: &str, command: &[String], tty: bool) -> String {
        let files = std::iter::once(&self.file).chain(&self.more_files);
        let argv: Vec<&str> = ["docker", "compose", "-p", &self.name]
            .into_iter()
            .chain(files.flat_map(|f| ["-f", f.as_str()]))
            .chain(self.profile_args())
            .chain(["exec"])
            .chain((!tty).then_some("-T"))
            .chain([service])
            .chain(command.iter().map(String::as_str))
            .collect();
        self.inside.exec(&argv)
    }

    /// Every container of the project, also stopped and one-off ones, as JSON.
    pub fn ps(&self) -> String {
        self.by_name(&PS)
    }

    /// The argv of [`Project::ps`] inside the guest (for a script that runs it with others).
    pub fn ps_argv(&self) -> Vec<&str> {
        self.by_name_argv(&PS)
    }

    /// [`Project::ps`] after a line with the container's clock (`date +%s%N`): Docker
    /// events newer than that are not in the listing yet (the health wait's `watch`).
    pub fn ps_stamped(&self) -> String {
        let mut argv = vec!["sh", "-c", "date +%s%N; exec \"$@\"", "sh"];
        argv.extend(self.by_name_argv(&PS));
        self.inside.exec(&argv)
    }

    /// `logs [--tail N] [--follow] --no-color [SERVICE]`
    pub fn logs(&self, service: Option<&str>, tail: Option<u32>, follow: bool) -> String {
        let tail = tail.map(|n| n.to_string());
        let mut args = vec!["logs"];
        if let Some(n) = &tail {
            args.extend(["--tail", n]);
        }
        if follow {
            args.push("--follow");
        }
        args.push("--no-color");
        if let Some(s) = service {
            args.push(s);
        }
        self.by_name(&args)
    }
}

/// `dir/file` inside the container; an absolute `file` stays as it is.
pub(crate) fn remote_path(dir: &str, file: &str) -> String {
    if file.starts_with('/') {
        return file.to_string();
    }
    let file = file.trim_start_matches("./");
    if dir.ends_with('/') {
        format!("{dir}{file}")
    } else {
        format!("{dir}/{file}")
    }
}

/// One container as `docker compose ps --format json` describes it. Only the keys every
/// version prints are used for decisions; everything else is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct PsEntry {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Service")]
    pub service: String,
    #[serde(rename = "Project")]
    pub project: Option<String>,
    /// created, running, paused, restarting, removing, exited, dead
    #[serde(rename = "State")]
    pub state: String,
    /// "" (no healthcheck, or not running), starting, healthy, unhealthy
    #[serde(rename = "Health")]
    pub health: String,
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
    /// Display text only (`Up 5 seconds (healthy)`).
    #[serde(rename = "Status")]
    pub status: Option<String>,
    /// `k=v,k=v` (Compose >= 2.21 only): used to tell one-off `run` containers apart.
    #[serde(rename = "Labels")]
    pub labels: Option<String>,
}

impl PsEntry {
    /// How long a running container has been up, at most (exclusive), from `Status` as Docker
    /// words it when listing: `Up Less than a second` (1 s), `Up 1 second` (2 s), `Up 42
    /// seconds` (43 s), with or without a suffix like ` (healthy)`. `None` for anything else:
    /// from a minute on Docker rounds (`Up About a minute`), and other states say other things.
    pub(crate) fn up_less_than(&self) -> Option<std::time::Duration> {
        let up = self.status.as_deref()?.strip_prefix("Up ")?;
        let up = up.split_once(" (").map_or(up, |(before, _)| before).trim();
        let secs = match up {
            "Less than a second" => 0,
            "1 second" => 1,
            _ => up.strip_suffix(" seconds")?.parse::<u64>().ok()?,
        };
        Some(std::time::Duration::from_secs(secs + 1))
    }

    /// A container made by `docker compose run`, not one of the service's own.
    pub(crate) fn is_one_off(&self) -> bool {
        if let Some(labels) = &self.labels {
            if labels.contains("com.docker.compose.oneoff=True") {
                return true;
            }
        }
        // ≤ 2.20 prints no labels: one-off containers are named `<project>-<service>-run-<12 hex>`.
        let Some(rest) = self.name.rsplit_once("-run-") else {
            return false;
        };
        rest.0.ends_with(&format!("-{}", self.service))
            && rest.1.len() == 12
            && rest.1.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

/// Parses `docker compose ps --format json` by its content, whatever the Compose version:
/// nothing → no containers; `[`…`]` (≤ 2.20) or `null` (≤ 2.20, nothing matched) → array;
/// otherwise one object per line (≥ 2.21). The error text names the line, never its content
/// (which is the container's command line and labels).
pub(crate) fn parse_ps(stdout: &str) -> Result<Vec<PsEntry>, String> {
    let text = stdout.trim();
    if text.is_empty() || text == "null" {
        return Ok(Vec::new());
    }
    if text.starts_with('[') {
        return serde_json::from_str::<Option<Vec<PsEntry>>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| format!("not the JSON array Compose prints: {e}"));
    }
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = crate::output::strip_ansi(line.trim());
        if line.is_empty() {
            continue;
        }
        let entry = serde_json::from_str::<PsEntry>(&line)
            .map_err(|e| format!("line {} is not a JSON object: {e}", i + 1))?;
        entries.push(entry);
    }
    Ok(entries)
}

/// A Compose version as `docker compose version --short` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses `2.40.3`, `v2.20.3`, `5.0.0-rc.2`, the long `Docker Compose version v2.40.3`,
/// or Compose v1's `docker-compose version 1.29.2, build 5becea4c` (the word after
/// `version` when there is one, else the last word). The one reader of a Compose version:
/// `create` and `deploy` both decide with it and [`supported`].
pub(crate) fn parse_version(text: &str) -> Option<Version> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let word = match words.iter().position(|w| w.eq_ignore_ascii_case("version")) {
        Some(i) => words.get(i + 1)?,
        None => words.last()?,
    };
    let word = word.trim_end_matches(',');
    let word = word.strip_prefix('v').unwrap_or(word);
    let core = word.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some(Version {
        major,
        minor,
        patch,
    })
}

/// Compose v2 (plugin) and v5 are supported; v1 (`docker-compose` 1.x) is not.
pub(crate) fn supported(version: Version) -> bool {
    version.major == 2 || version.major >= 5
}

/// `up` gave up because a dependency's healthcheck failed
/// (`dependency failed to start: container fx-db-1 is unhealthy`): returns the container name.
pub(crate) fn unhealthy_dependency(stderr: &str) -> Option<String> {
    stderr.lines().rev().find_map(|line| {
        let line = crate::output::strip_ansi(line);
        let rest = line
            .split("dependency failed to start: container ")
            .nth(1)?;
        let name = rest
            .strip_suffix(" is unhealthy")
            .or_else(|| rest.split_once(" is unhealthy").map(|(n, _)| n))?;
        Some(name.trim().to_string())
    })
}

/// The service of a container named `<project>-<service>-<n>` (or with `_`, Compose v1 style).
pub(crate) fn service_of_container(project: &str, container: &str) -> Option<String> {
    let rest = container
        .strip_prefix(project)
        .and_then(|r| r.strip_prefix('-').or_else(|| r.strip_prefix('_')))?;
    let (service, n) = rest.rsplit_once(['-', '_'])?;
    n.parse::<u32>().ok()?;
    Some(service.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Real `docker compose ps` outputs, kept in the repository.
    fn fixture_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose")
    }

    fn project() -> Project {
        Project::new(
            Inside::Container(210),
            "myapp",
            "/opt/myapp",
            "docker-compose.prod.yml",
        )
    }

    #[test]
    fn command_lines() {
        let p = project();
        assert_eq!(
            p.up(),
            "pct exec 210 -- docker compose -p myapp -f /opt/myapp/docker-compose.prod.yml up -d --build --remove-orphans"
        );
        assert_eq!(
            p.ps(),
            "pct exec 210 -- docker compose -p myapp ps -a --format json"
        );
        assert_eq!(
            p.logs(Some("web"), Some(20), false),
            "pct exec 210 -- docker compose -p myapp logs --tail 20 --no-color web"
        );
        assert_eq!(
            p.logs(None, None, true),
            "pct exec 210 -- docker compose -p myapp logs --follow --no-color"
        );
        assert_eq!(p.dir(), "/opt/myapp");
    }

    #[test]
    fn hostile_paths_are_quoted() {
        let p = Project::new(
            Inside::Container(210),
            "app",
            "/opt/my app;$(reboot)",
            "sub/compose.yml",
        );
        assert_eq!(p.file, "/opt/my app;$(reboot)/sub/compose.yml");
        assert_eq!(p.dir(), "/opt/my app;$(reboot)/sub");
        assert!(p
            .up()
            .contains("-f '/opt/my app;$(reboot)/sub/compose.yml' up"));
        let p = Project::new(Inside::Container(210), "app", "/srv/", "./compose.yml");
        assert_eq!(p.file, "/srv/compose.yml");
    }

    fn expect_fx(entries: &[PsEntry], with_exited: bool, file: &str) {
        let get = |s: &str| entries.iter().find(|e| e.service == s);
        let api = get("api").unwrap_or_else(|| panic!("{file}: no api"));
        assert_eq!(
            (api.state.as_str(), api.health.as_str()),
            ("running", "healthy"),
            "{file}"
        );
        let db = get("db").unwrap();
        assert_eq!(
            (db.state.as_str(), db.health.as_str()),
            ("running", "starting"),
            "{file}"
        );
        let cache = get("cache").unwrap();
        assert_eq!(
            (cache.state.as_str(), cache.health.as_str()),
            ("running", "unhealthy"),
            "{file}"
        );
        let worker = get("worker").unwrap();
        assert_eq!(
            (worker.state.as_str(), worker.health.as_str()),
            ("running", ""),
            "{file}"
        );
        assert_eq!(worker.name, "fx-worker-1", "{file}");
        // `Up 5 seconds` and `Up 5 seconds (healthy)` in every version: up less than 6 s.
        let six = Some(std::time::Duration::from_secs(6));
        assert_eq!(
            (worker.up_less_than(), api.up_less_than()),
            (six, six),
            "{file}"
        );
        match get("migrate") {
            Some(m) => {
                assert!(with_exited, "{file}: migrate listed without -a");
                assert_eq!((m.state.as_str(), m.exit_code), ("exited", 3), "{file}");
                assert_eq!(m.health, "", "{file}");
            }
            None => assert!(!with_exited, "{file}: migrate missing with -a"),
        }
        assert!(entries.iter().all(|e| !e.is_one_off()), "{file}");
    }

    #[test]
    fn parses_every_captured_ps_output() {
        let dir = fixture_dir();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let with_exited = if name.starts_with("ps-a-json-") {
                true
            } else if name.starts_with("ps-json-") {
                false
            } else {
                continue;
            };
            let text = std::fs::read_to_string(&path).unwrap();
            let entries = parse_ps(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(entries.len(), if with_exited { 5 } else { 4 }, "{name}");
            expect_fx(&entries, with_exited, &name);
            if name.contains("2.20.3") {
                assert!(text.trim_start().starts_with('['), "{name}");
            } else {
                assert!(text.trim_start().starts_with('{'), "{name}");
            }
            seen += 1;
        }
        assert_eq!(
            seen,
            14,
            "expected 7 versions × (ps, ps -a) in {}",
            dir.display()
        );
    }

    #[test]
    fn empty_and_null_outputs() {
        assert_eq!(parse_ps("").unwrap(), vec![]);
        assert_eq!(parse_ps("\n").unwrap(), vec![]);
        assert_eq!(parse_ps("[]\n").unwrap(), vec![]);
        assert_eq!(parse_ps("null\n").unwrap(), vec![]);
    }

    #[test]
    fn missing_and_unknown_keys_are_fine() {
        let e = parse_ps(
            r#"{"Service":"web","State":"running","Engine":"","Publishers":null,"NewKey":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(e[0].service, "web");
        assert_eq!(e[0].health, "");
        assert_eq!(e[0].exit_code, 0);
        let e = parse_ps("\x1b[2K{\"Service\":\"a\",\"State\":\"exited\",\"ExitCode\":137}\n\n")
            .unwrap();
        assert_eq!((e[0].service.as_str(), e[0].exit_code), ("a", 137));
    }

    #[test]
    fn garbage_is_an_error_without_the_content() {
        let err = parse_ps("Error: secret-value broke\n").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("secret-value"), "{err}");
        assert!(parse_ps("[{").is_err());
    }

    #[test]
    fn uptime_from_status() {
        let up = |status: &str| {
            let e = PsEntry {
                status: Some(status.into()),
                ..Default::default()
            };
            e.up_less_than().map(|d| d.as_secs())
        };
        assert_eq!(up("Up Less than a second"), Some(1));
        assert_eq!(up("Up 1 second (health: starting)"), Some(2));
        assert_eq!(up("Up 59 seconds (Paused)"), Some(60));
        for other in [
            "Up About a minute",
            "Up 3 hours",
            "Restarting (0) 1 second ago",
            "Created",
            "",
        ] {
            assert_eq!(up(other), None, "{other}");
        }
    }

    #[test]
    fn one_off_containers() {
        let mut e = PsEntry {
            name: "app-api-run-0123456789ab".into(),
            service: "api".into(),
            ..Default::default()
        };
        assert!(e.is_one_off());
        e.name = "app-api-1".into();
        assert!(!e.is_one_off());
        e.labels = Some("com.docker.compose.oneoff=True,com.docker.compose.service=api".into());
        assert!(e.is_one_off());
    }

    #[test]
    fn versions() {
        let v = |s| parse_version(s).unwrap();
        assert_eq!(
            v("2.40.3\n"),
            Version {
                major: 2,
                minor: 40,
                patch: 3
            }
        );
        assert_eq!(
            v("v2.20.3"),
            Version {
                major: 2,
                minor: 20,
                patch: 3
            }
        );
        assert_eq!(
            v("5.0.0-rc.2"),
            Version {
                major: 5,
                minor: 0,
                patch: 0
            }
        );
        assert_eq!(
            v("Docker Compose version v2.40.3"),
            Version {
                major: 2,
                minor: 40,
                patch: 3
            }
        );
        assert_eq!(
            v("docker-compose version 1.29.2, build 5becea4c\n"),
            Version {
                major: 1,
                minor: 29,
                patch: 2
            }
        );
        assert!(supported(v("2.20.3")) && supported(v("5.5.0")));
        assert!(!supported(v("1.29.2")));
        assert_eq!(
            parse_version("docker: 'compose' is not a docker command."),
            None
        );
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn unhealthy_dependency_is_recognised() {
        let stderr = " Container dp-db-1  Started\n Container dp-db-1  Waiting\ndependency failed to start: container dp-db-1 is unhealthy\n";
        assert_eq!(unhealthy_dependency(stderr).as_deref(), Some("dp-db-1"));
        assert_eq!(
            unhealthy_dependency("Error response from daemon: No such image"),
            None
        );
        assert_eq!(service_of_container("dp", "dp-db-1").as_deref(), Some("db"));
        assert_eq!(
            service_of_container("my-app", "my-app-web-cache-12").as_deref(),
            Some("web-cache")
        );
        assert_eq!(service_of_container("dp", "other-db-1"), None);
    }
}
