//! Reading the `[env.secrets]` entries that come from outside the file (`from_env`,
//! `from_file`, `command`), on every deploy, before connecting. A value never leaves
//! [`Redacted`]; errors name the entry and how its source failed, never the value (a
//! command's stdout is never shown; its stderr only when the value is not in it).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, Secret};
use crate::envfile::{unrepresentable, Redacted};
use crate::error::{Error, Result};

/// How long a `command` source may run.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a failing command's stderr that an error shows.
const STDERR_SHOWN: usize = 2000;

/// Every sourced entry of `cfg`, read now: name → value. `env` answers for environment
/// variables (the process environment outside tests).
pub(crate) fn read(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, Redacted<String>>> {
    let dir = cfg.path.parent().unwrap_or(Path::new("."));
    let mut values = BTreeMap::new();
    for (name, secret) in &cfg.env.secrets {
        if matches!(secret, Secret::Generate(_)) {
            continue;
        }
        let label = &format!("[env.secrets] {name}");
        let value = read_one(label, secret, dir, env)?;
        if let Some(why) = unrepresentable(value.expose()) {
            return Err(entry_error(
                label,
                format!(
                    "the value from {} cannot be written to .env: {why}",
                    secret.describe()
                ),
            ));
        }
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// The value of one sourced secret, not empty; errors start with `label` (`[env.secrets]
/// DB`, `[monitor] webhook`) and never show the value.
pub(crate) fn read_one(
    label: &str,
    secret: &Secret,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Redacted<String>> {
    let value = match secret {
        Secret::Generate(_) => return Err(entry_error(label, "is not read from a source".into())),
        Secret::FromEnv(var) => from_env(label, var, env)?,
        Secret::FromFile(path) => from_file(label, dir, path)?,
        Secret::Command(command) => from_command(label, command, dir, COMMAND_TIMEOUT)?,
    };
    if value.expose().is_empty() {
        return Err(
            entry_error(label, format!("{} gave an empty value", secret.describe()))
                .hint("a secret cannot be empty; check its source"),
        );
    }
    Ok(value)
}

fn entry_error(label: &str, message: String) -> Error {
    Error::config(format!("{label}: {message}"))
}

fn from_env(
    name: &str,
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Redacted<String>> {
    env(var).map(Redacted::new).ok_or_else(|| {
        entry_error(name, format!("the environment variable {var} is not set")).hint(format!(
            "export {var} before running pxdeploy (in CI: a masked secret variable)"
        ))
    })
}

/// The file `relative` (to `dir`, the config file's folder).
fn from_file(name: &str, dir: &Path, relative: &Path) -> Result<Redacted<String>> {
    let path = &dir.join(relative);
    let bytes = std::fs::read(path).map_err(|e| {
        // A secret pasted where its file's path belongs names no file: such a path is
        // never shown, only one that exists.
        if path.symlink_metadata().is_err() {
            let folder = crate::output::display_path(dir);
            return entry_error(
                name,
                "its `from_file` path names no file (the path is not shown: it may be the secret itself)".into(),
            )
            .hint(format!(
                "`from_file` takes the path of a file holding the secret, relative to the folder of pxdeploy.toml (`{folder}`)"
            ));
        }
        entry_error(
            name,
            format!("the file {} cannot be read ({})", path.display(), e.kind()),
        )
        .hint("`from_file` paths are relative to the folder of pxdeploy.toml")
    })?;
    let mut text = String::from_utf8(bytes).map_err(|_| {
        entry_error(
            name,
            format!("the file {} is not UTF-8 text", path.display()),
        )
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Redacted::new(text))
}

fn from_command(
    name: &str,
    command: &str,
    dir: &Path,
    timeout: Duration,
) -> Result<Redacted<String>> {
    let done = crate::local::run(command, dir, &[], Some(timeout)).map_err(|e| {
        entry_error(name, "its command could not be started".to_string()).cause(e.to_string())
    })?;
    let stdout = Redacted::new(String::from_utf8_lossy(&done.stdout).trim().to_string());
    if done.success() {
        if std::str::from_utf8(&done.stdout).is_err() {
            return Err(entry_error(
                name,
                "its command printed something that is not UTF-8 text".into(),
            ));
        }
        return Ok(stdout);
    }
    let mut err = entry_error(
        name,
        format!(
            "its command {} (its output is not shown)",
            done.ending(Some(timeout))
        ),
    );
    let stderr = String::from_utf8_lossy(&done.stderr).trim().to_string();
    let value = stdout.expose();
    let leaks = !value.is_empty() && stderr.contains(value.as_str());
    if leaks {
        err = err.cause("its stderr is hidden: it holds what the command printed on stdout");
    } else if !stderr.is_empty() {
        let shown: String = stderr.chars().take(STDERR_SHOWN).collect();
        err = err.cause(format!("its stderr: {shown}"));
    }
    Err(err.hint("run the command yourself to see why it fails; the command is in pxdeploy.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config in `dir` with the given `[env.secrets]` lines.
    fn cfg(dir: &Path, secrets: &str) -> Config {
        std::fs::write(
            dir.join("docker-compose.yml"),
            "services:\n  web:\n    image: x\n",
        )
        .unwrap();
        let text = format!(
            "[proxmox]\nhost = \"pve\"\n[container]\nvmid = 120\nhostname = \"app\"\n[app]\nname = \"app\"\n[env.secrets]\n{secrets}"
        );
        crate::config::parse_str(&text, &dir.join("pxdeploy.toml"), &|_| None).unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn each_source_gives_its_value_and_generated_entries_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("s")).unwrap();
        std::fs::write(dir.path().join("s/db"), "file value\n\n").unwrap();
        let c = cfg(
            dir.path(),
            "A = { from_env = \"PW\" }\nB = { from_file = \"s/db\" }\nC = { command = \"printf '  cmd value\\\\n'; pwd >&2\" }\nD = 32\n",
        );
        let env = |v: &str| (v == "PW").then(|| "env value".to_string());
        let got = read(&c, &env).unwrap();
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose().as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("A", "env value"),
                ("B", "file value\n"),
                ("C", "cmd value")
            ],
            "one trailing newline dropped from a file, a command's output trimmed"
        );
    }

    #[test]
    fn a_command_runs_in_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("here"), "x").unwrap();
        let c = cfg(dir.path(), "A = { command = \"cat here\" }\n");
        assert_eq!(read(&c, &no_env).unwrap()["A"].expose(), "x");
    }

    #[track_caller]
    fn refused(secrets: &str, says: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), secrets);
        let err = read(&c, &no_env).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let text = err.render();
        assert!(
            text.contains("[env.secrets] DB") && text.contains(says),
            "{text}"
        );
        text
    }

    #[test]
    fn missing_sources_are_configuration_errors_naming_the_entry() {
        refused(
            "DB = { from_env = \"NOPE\" }",
            "the environment variable NOPE is not set",
        );
        let text = refused(
            "DB = { from_file = \"hunter2-not-a-file\" }",
            "its `from_file` path names no file",
        );
        assert!(!text.contains("hunter2"), "{text}");
        // Unreadable (a folder: even root cannot read one as a file).
        refused("DB = { from_file = \".\" }", "cannot be read");
        refused("DB = { command = \"true\" }", "gave an empty value");
    }

    #[test]
    fn a_failing_command_shows_its_status_and_stderr_but_never_its_stdout() {
        let text = refused(
            "DB = { command = \"echo hunter2; echo 'not signed in' >&2; exit 4\" }",
            "exited with status 4",
        );
        assert!(text.contains("not signed in"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let text = refused(
            "DB = { command = \"echo hunter2; echo 'got hunter2' >&2; exit 1\" }",
            "stderr is hidden",
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    /// The documented bound (docs/production.md, "Secrets from outside the file": 30 s); the mechanism is tested below with a short one.
    #[test]
    fn commands_get_thirty_seconds() {
        assert_eq!(COMMAND_TIMEOUT, Duration::from_secs(30));
    }

    #[test]
    fn a_hanging_command_is_stopped() {
        let err = from_command(
            "DB",
            "echo hunter2; sleep 60",
            Path::new("/"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        let text = err.render();
        assert!(text.contains("did not finish within 1 s"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
