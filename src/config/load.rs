//! Discovery of `pxdeploy.toml`, reading and parsing it (errors with file:line:column),
//! then environment overrides and validation, reported all at once.

use std::path::{Path, PathBuf};

use super::parse_error::{key_line, parse_error};
use super::problem::Problem;
use super::validate;
use super::{env, Config};
use crate::error::{Error, Result};

/// The file name looked for in the current directory and its parents.
pub const FILE_NAME: &str = "pxdeploy.toml";

/// What every command calls: the file named by `-c/--config` (`config`; `PXDEPLOY_CONFIG`,
/// which clap maps to the same flag), else `pxdeploy.toml` in the current directory or the nearest
/// parent; then the process environment's `PROXMOX_*` overrides and validation. The file may
/// name several targets (`[targets.<name>]`). With
/// `source_optional` (`releases`, `rollback`: commands that work from the container alone),
/// a missing `app.source` or compose file is not a problem.
pub fn load_plan(config: Option<&Path>, source_optional: bool) -> Result<super::Plan> {
    let cwd = std::env::current_dir().map_err(|e| {
        Error::config("cannot look for pxdeploy.toml: the current directory is unreadable")
            .cause(e.to_string())
    })?;
    let path = config_path(config, &cwd)?;
    let text = read(&path)?;
    super::parse_plan(
        &text,
        &path,
        &|name: &str| std::env::var(name).ok(),
        source_optional,
    )
}

/// [`load_plan`]'s lookup with the current directory and the environment given, for a file
/// without targets (for tests).
pub fn load_with(
    config: Option<&Path>,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config> {
    load_from(&config_path(config, cwd)?, env)
}

/// The file named by `-c`, else the discovered one.
fn config_path(config: Option<&Path>, cwd: &Path) -> Result<PathBuf> {
    Ok(match config.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) if path.is_relative() => cwd.join(path),
        Some(path) => path.to_path_buf(),
        None => discover(cwd).ok_or_else(|| {
            Error::config(format!(
                "no {FILE_NAME} found in {} or any parent directory",
                cwd.display()
            ))
            .hint("create one from examples/pxdeploy.toml, or name one with `-c FILE` (or PXDEPLOY_CONFIG)")
        })?,
    })
}

/// `pxdeploy.toml` in `start` or the nearest parent directory that has one.
pub fn discover(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// Reads, parses and validates one file. `env` answers for environment variables (the
/// process environment in [`load_plan`]; a table in tests).
pub fn load_from(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
    parse_str(&read(path)?, path, env)
}

fn read(path: &Path) -> Result<String> {
    let shown = display_path(path);
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::config(format!("config file {shown} does not exist"))
            .hint("check the path given with `-c` or PXDEPLOY_CONFIG, or create the file from examples/pxdeploy.toml"),
        _ => Error::config(format!("cannot read config file {shown}")).cause(e.to_string()),
    })
}

/// Parses and validates `text` as if read from `path` (relative paths in it start from
/// `path`'s folder; the compose file must exist there).
pub fn parse_str(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
    parse(text, path, env, false)
}

pub(super) fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    source_optional: bool,
) -> Result<Config> {
    let shown = display_path(path);
    let cfg: Config = toml::from_str(text).map_err(|e| parse_error(&shown, text, &e))?;
    let table = text.parse::<toml::Table>().unwrap_or_default();
    let (cfg, problems) = checked(cfg, &table, path, env, source_optional);
    if problems.is_empty() {
        Ok(cfg)
    } else {
        let locate = |p: &Problem| locate(&shown, text, &cfg, p);
        Err(problems_error(&shown, &problems, &locate))
    }
}

/// The checks after the typed parse of one target: NUL characters in `table` (the TOML it
/// was read from), the environment's overrides, path expansion and every validation rule.
pub(super) fn checked(
    mut cfg: Config,
    table: &toml::Table,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    source_optional: bool,
) -> (Config, Vec<Problem>) {
    cfg.path = absolute(path);
    cfg.source_optional = source_optional;
    let mut problems = Vec::new();
    nul_problems(table, "", &mut problems);
    let guest_given = super::guest::resolve(&mut cfg, &mut problems);
    env::apply(&mut cfg, env, &mut problems);
    expand_paths(&mut cfg, env);
    let section = cfg.kind().as_str();
    let vmid_given = env::source_of(&cfg, &format!("{section}.vmid")).is_some()
        || table.get(section).and_then(|c| c.get("vmid")).is_some();
    validate::validate(&mut cfg, guest_given.then_some(vmid_given), &mut problems);
    (cfg, problems)
}

pub(crate) use crate::output::display_path;

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| crate::paths::normalize(&cwd.join(path)))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// `~` → HOME; a relative path from the file starts at the file's folder, one from
/// PROXMOX_SSH_KEY at the current directory.
fn expand_paths(cfg: &mut Config, env: &dyn Fn(&str) -> Option<String>) {
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let config_dir = cfg.config_dir().to_path_buf();
    let key_from_env = env::source_of(cfg, "proxmox.identity_file").is_some();
    let expand = |p: &Path, from_env: bool| -> PathBuf {
        let p = match (p.strip_prefix("~"), &home) {
            (Ok(rest), Some(home)) => home.join(rest),
            _ => p.to_path_buf(),
        };
        if p.is_absolute() {
            p
        } else if from_env {
            absolute(&p)
        } else {
            crate::paths::normalize(&config_dir.join(p))
        }
    };
    if let Some(key) = &cfg.proxmox.identity_file {
        cfg.proxmox.identity_file = Some(expand(key, key_from_env));
    }
    if let Some(kh) = &cfg.proxmox.known_hosts {
        cfg.proxmox.known_hosts = Some(expand(kh, false));
    }
}

/// Every string value with a NUL character (which no command line, file name or `.env`
/// can carry), named by its key; the value is not shown.
fn nul_problems(table: &toml::Table, prefix: &str, problems: &mut Vec<Problem>) {
    fn walk(value: &toml::Value, field: &str, problems: &mut Vec<Problem>) {
        match value {
            toml::Value::String(s) if s.contains('\0') => problems.push(Problem::new(
                field,
                "contains a NUL character (\\u0000), which no command, file name or .env can carry",
            )),
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, field, problems)),
            toml::Value::Table(t) => nul_problems(t, field, problems),
            _ => {}
        }
    }
    for (key, value) in table {
        let field = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        walk(value, &field, problems);
    }
}

/// Where a problem of a file without targets is: `file:line: key: detail`, or the variable
/// that set the key.
fn locate(shown: &str, text: &str, cfg: &Config, p: &Problem) -> String {
    if let Some(var) = env::source_of(cfg, &p.field) {
        format!("{shown}: {} (from {var}): {}", p.field, p.detail)
    } else if let Some(line) = key_line(text, &p.field) {
        format!("{shown}:{line}: {}: {}", p.field, p.detail)
    } else {
        format!("{shown}: {}: {}", p.field, p.detail)
    }
}

/// Every validation problem in one error: one problem is the message itself, several are
/// `Caused by:` lines. `locate` names the file and the line (or the variable that set the key).
pub(super) fn problems_error(
    shown: &str,
    problems: &[Problem],
    locate: &dyn Fn(&Problem) -> String,
) -> Error {
    if let [only] = problems {
        let err = Error::config(locate(only));
        return match &only.hint {
            Some(hint) => err.hint(hint.clone()),
            None => err,
        };
    }
    let mut err = Error::config(format!("{shown} has {} problems", problems.len()));
    for p in problems {
        err = err.cause(locate(p));
    }
    err.hint(format!(
        "fix them in {shown}; docs/configuration.md describes every key"
    ))
}
