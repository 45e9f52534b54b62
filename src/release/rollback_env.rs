//! The `.env` of `pxdeploy rollback`. By default today's secrets stay: the file becomes
//! today's `.env` with the release's `[env.values]` keys put back ([`restore_values`]).
//! Which keys are values is read from the configuration (a rollback always has it, even
//! without the app folder); every other key, a secret or a key added by hand, is treated
//! as a secret and keeps today's value. `--with-env` puts the release's stored `.env` back
//! as it was instead (the switch's `e` operation).
//!
//! [`restore_values`]: crate::envfile::restore_values

use std::collections::BTreeSet;
use std::time::Duration;

use crate::compose::Project;
use crate::config::Config;
use crate::envfile::{self, Redacted};
use crate::error::{Error, Result};
use crate::guest::Guest;
use crate::remote::host::ensure_success;

const READ_TIMEOUT: Duration = Duration::from_secs(60);
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// `$1` = the `.env`'s folder, `$2` = remote_dir, `$3` = release id. Prints `env <len>` and
/// today's `.env` (or `env -`), then `old <len>` and the release's stored one (or `old -`).
const READ_SCRIPT: &str = crate::scripts::script!("rollback-env-read.sh");

/// What happened to `.env`, names only.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct EnvOutcome {
    /// `"values"` (today's secrets kept) or `"release"` (`--with-env`).
    pub from: &'static str,
    /// Values put back from the release.
    pub restored: Vec<String>,
    /// Keys that keep today's value.
    pub kept: Vec<String>,
}

impl EnvOutcome {
    /// `--with-env`: the release's `.env` as it was.
    pub(crate) fn release() -> Self {
        EnvOutcome {
            from: "release",
            ..EnvOutcome::default()
        }
    }

    /// One line for people.
    pub(crate) fn summary(&self) -> String {
        if self.from == "release" {
            return "the release's .env as it was (--with-env)".into();
        }
        let restored = match self.restored.len() {
            0 => "no value differed".to_string(),
            _ => format!("values put back: {}", self.restored.join(", ")),
        };
        match self.kept.len() {
            0 => restored,
            _ => format!("{restored}; today's kept: {}", self.kept.join(", ")),
        }
    }
}

/// `pct exec <vmid> -- sh -c '<READ_SCRIPT>' sh <dir> <remote_dir> <id>`
pub(crate) fn read_command(project: &Project, id: &str) -> String {
    let dir = project.dir();
    project
        .inside
        .exec(&["sh", "-c", READ_SCRIPT, "sh", &dir, &project.remote_dir, id])
}

/// The keys whose value a rollback brings back: `[env.values]`, never a `[env.secrets]` key.
pub(crate) fn value_keys(cfg: &Config) -> BTreeSet<String> {
    cfg.env
        .values
        .keys()
        .filter(|k| !cfg.env.secrets.contains_key(*k))
        .cloned()
        .collect()
}

/// Reads today's `.env` and release `id`'s, and writes today's with the release's values
/// put back when that differs from today's (the atomic write of a deploy). Runs before the
/// switch: a failure leaves the tree and the services as they were.
pub(crate) fn keep_secrets(
    guest: Guest<'_>,
    project: &Project,
    cfg: &Config,
    id: &str,
) -> Result<EnvOutcome> {
    let host = guest.inside_host()?;
    let command = read_command(project, id);
    tracing::debug!(command, "probe (output not logged: it holds .env)");
    let out = host.probe_quiet(&command, READ_TIMEOUT)?;
    let out = ensure_success(&command, out)?;
    let (today, old) = parse(&out.stdout).map_err(|why| {
        Error::remote(format!(
            "cannot read the .env files in {} {}",
            project.inside.noun(),
            project.inside.id()
        ))
        .cause(why)
    })?;
    let Some(old) = old else {
        // A release without a stored .env: nothing to bring back.
        let kept = today
            .as_ref()
            .and_then(|t| envfile::parse(t.expose()).ok())
            .map(|s| s.into_iter().map(|s| s.key).collect())
            .unwrap_or_default();
        return Ok(EnvOutcome {
            from: "values",
            restored: Vec::new(),
            kept,
        });
    };
    let today = today.unwrap_or_default();
    let r = envfile::restore_values(&today, &old, &value_keys(cfg))?;
    if r.content != today {
        let mut bytes = r.content.expose().as_bytes();
        let write = project
            .inside
            .exec(&envfile::write_argv(&project.dir(), bytes.len()));
        let out = host.change_with_stdin(&write, &mut bytes, WRITE_TIMEOUT)?;
        ensure_success(&write, out)
            .map_err(|e| e.hint("the previous .env and the tree are unchanged; roll back again"))?;
    }
    Ok(EnvOutcome {
        from: "values",
        restored: r.restored,
        kept: r.kept,
    })
}

type Texts = (Option<Redacted<String>>, Option<Redacted<String>>);

/// [`READ_SCRIPT`]'s output.
fn parse(stdout: &[u8]) -> std::result::Result<Texts, String> {
    let mut rest = stdout;
    let today = section(&mut rest, "env")?;
    let old = section(&mut rest, "old")?;
    Ok((today, old))
}

fn section(rest: &mut &[u8], name: &str) -> std::result::Result<Option<Redacted<String>>, String> {
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| format!("no `{name}` section"))?;
    let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
    let body = &rest[nl + 1..];
    let len = match header.strip_prefix(name).and_then(|h| h.strip_prefix(' ')) {
        Some("-") => {
            *rest = body;
            return Ok(None);
        }
        Some(len) => len
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("bad `{name}` section header"))?,
        None => return Err(format!("expected the `{name}` section")),
    };
    if body.len() < len {
        return Err(format!("the `{name}` section ends early"));
    }
    *rest = &body[len..];
    let text = String::from_utf8(body[..len].to_vec())
        .map_err(|_| format!("the `{name}` .env is not UTF-8 text"))?;
    Ok(Some(Redacted::new(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_files_through_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let id = "20261129T191501Z-3fa9c2d1";
        std::fs::write(d.join(".env"), "S=today\nenv 3\n").unwrap();
        std::fs::create_dir_all(d.join(".pxdeploy/releases").join(id)).unwrap();
        std::fs::write(d.join(".pxdeploy/releases").join(id).join("env"), "S=old").unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", READ_SCRIPT, "sh"])
            .args([d, d])
            .arg(id)
            .output()
            .unwrap();
        assert!(out.status.success());
        let (today, old) = parse(&out.stdout).unwrap();
        assert_eq!(today.unwrap().expose(), "S=today\nenv 3\n");
        assert_eq!(old.unwrap().expose(), "S=old");
        let none = std::process::Command::new("sh")
            .args(["-c", READ_SCRIPT, "sh"])
            .args([d.join("no"), d.join("no")])
            .arg(id)
            .output()
            .unwrap();
        assert_eq!(parse(&none.stdout).unwrap().0, None);
        assert!(parse(b"env 10\nS=1").is_err());
    }

    #[test]
    fn values_are_the_configured_values_only() {
        let mut cfg: Config = toml::from_str(
            "[proxmox]\nhost = \"h\"\n[container]\nvmid = 210\nhostname = \"app\"\n[app]\nname = \"app\"\n[env.values]\nDOMAIN = \"a\"\nLEVEL = \"b\"\n",
        )
        .unwrap();
        assert_eq!(
            value_keys(&cfg).into_iter().collect::<Vec<_>>(),
            ["DOMAIN", "LEVEL"]
        );
        cfg.env
            .secrets
            .insert("LEVEL".into(), crate::config::Secret::Generate(16));
        assert_eq!(value_keys(&cfg).into_iter().collect::<Vec<_>>(), ["DOMAIN"]);
    }

    #[test]
    fn the_summary_names_keys_only() {
        let o = EnvOutcome {
            from: "values",
            restored: vec!["DOMAIN".into()],
            kept: vec!["DB_PASSWORD".into()],
        };
        assert_eq!(
            o.summary(),
            "values put back: DOMAIN; today's kept: DB_PASSWORD"
        );
        assert!(EnvOutcome::release().summary().contains("--with-env"));
    }
}
