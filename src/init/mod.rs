//! `pxdeploy init`: a commented `pxdeploy.toml` for a compose file ([`discover`]). The
//! compose file gives the services (`[health]`) and the variables (`[env.secrets]`,
//! `[env.values]`); flags, then the `PROXMOX_*` variables ([`crate::config::ENV_VARS`]), then
//! the same names in the old scripts' `Taskfile.yml` ([`taskfile`]), give the rest. The text is
//! validated like any config before it is written, and an existing file is kept unless
//! `--force` (exit 8, refused); a symbolic link is refused even with `--force`.

mod args;
pub(crate) mod discover;
mod render;
pub(crate) mod taskfile;
pub(crate) mod vars;

use std::path::{Path, PathBuf};

use crate::config::{self, ENV_VARS, FILE_NAME};
use crate::error::{Error, Result};

pub use self::args::InitArgs;

/// The settings init fills from a `PROXMOX_*` variable: the key, and the flag that sets it.
const FROM_VARS: &[(&str, &str)] = &[
    ("proxmox.host", "--host"),
    ("proxmox.user", "--user"),
    ("proxmox.identity_file", "--identity-file"),
    ("container.vmid", "--vmid"),
    ("container.ip", "--ip"),
    ("container.gateway", "--gateway"),
];

/// What `init` writes, decided before anything is written.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Where the file goes.
    pub path: PathBuf,
    /// The file's text (already validated).
    pub text: String,
    pub services: Vec<String>,
    pub secrets: Vec<String>,
    pub values: Vec<(String, String)>,
    /// The `PROXMOX_*` variables that gave a value.
    pub from_env: Vec<&'static str>,
    /// The Taskfile read, if any.
    pub taskfile: Option<PathBuf>,
    /// The variables the Taskfile gave a value.
    pub from_taskfile: Vec<&'static str>,
    /// What the user should know about the Taskfile: a variable skipped (and why) that no
    /// flag or environment variable gave instead, or a Taskfile that could not be read.
    pub taskfile_notes: Vec<String>,
}

/// One setting: its value and the variable it came from (`None`: a flag).
pub(crate) struct Given {
    pub value: String,
    pub var: Option<&'static str>,
    /// The variable's value was the Taskfile's, not the environment's.
    pub taskfile: bool,
}

/// Decides the file: `config` is `-c FILE` (relative to `cwd`) or `None` for
/// `./pxdeploy.toml`; `env` answers for environment variables.
pub(crate) fn plan(
    args: &InitArgs,
    config: Option<&Path>,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan> {
    let path = match config.filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => cwd.join(p),
        None => cwd.join(FILE_NAME),
    };
    refuse_existing(&path, args.force)?;
    let compose = discover::find_compose(args.compose_file.as_deref(), cwd)?;
    let compose_dir = compose.parent().unwrap_or(cwd).to_path_buf();
    let model = crate::compose::model::Model::read(std::slice::from_ref(&compose), &compose_dir)
        .map_err(|why| Error::config(format!("cannot read {}", compose.display())).cause(why))?;
    let services = model.active(&[]);
    if services.is_empty() {
        return Err(Error::config(format!(
            "{} has no services",
            compose.display()
        )));
    }
    let text = std::fs::read_to_string(&compose).map_err(|e| {
        Error::config(format!("cannot read {}", compose.display())).cause(e.to_string())
    })?;
    let vars = vars::compose_vars(&text)
        .map_err(|why| Error::config(format!("cannot read {}", compose.display())).cause(why))?;

    let var_of = |field: &str| ENV_VARS.iter().find(|(_, f)| *f == field).map(|(v, _)| *v);
    let names: Vec<&'static str> = FROM_VARS.iter().filter_map(|(f, _)| var_of(f)).collect();
    let mut notes = Vec::new();
    let tasks = taskfile::find(&compose_dir).and_then(|path| {
        taskfile::read(&path, &names)
            .map_err(|why| {
                notes.push(format!(
                    "{} is not read (its values are not used): {why}",
                    path.display()
                ))
            })
            .ok()
    });
    let notes = std::cell::RefCell::new(notes);
    let pick = |flag: Option<String>, field: &str| -> Option<Given> {
        let given = |value: String, var, taskfile| Given {
            value,
            var,
            taskfile,
        };
        if let Some(value) = flag {
            return Some(given(value, None, false));
        }
        let var = var_of(field)?;
        if let Some(value) = env(var).filter(|v| !v.trim().is_empty()) {
            return Some(given(value.trim().to_string(), Some(var), false));
        }
        let tasks = tasks.as_ref()?;
        if let Some(value) = tasks.value(var) {
            // The old scripts ran in the Taskfile's folder: a relative key path starts there.
            let value = match (field, tasks.path.parent()) {
                ("proxmox.identity_file", Some(dir))
                    if !value.starts_with('~') && Path::new(value).is_relative() =>
                {
                    dir.join(value).display().to_string()
                }
                _ => value.to_string(),
            };
            return Some(given(value, Some(var), true));
        }
        if let Some(why) = tasks.skipped(var) {
            let flag = FROM_VARS
                .iter()
                .find(|(f, _)| *f == field)
                .map_or("", |(_, f)| f);
            notes.borrow_mut().push(format!(
                "{}: {var} skipped: {why}; pass {flag} or set {var}",
                tasks.path.display()
            ));
        }
        None
    };
    let host = pick(args.host.clone(), "proxmox.host");
    let vmid = pick(args.vmid.map(|v| v.to_string()), "container.vmid");
    let (Some(host), Some(vmid)) = (host, vmid) else {
        // What the Taskfile had for them, and why it was not used.
        let err = notes.borrow().iter().fold(
            Error::usage("pxdeploy init needs the Proxmox host and the container id"),
            |err, note| err.cause(note.clone()),
        );
        return Err(
            err.hint("pass --host and --vmid (or set PROXMOX_HOST and PROXMOX_CONTAINER_ID)")
        );
    };
    let name = args
        .name
        .clone()
        .or_else(|| model.name.clone())
        .unwrap_or_else(|| project_name(&compose_dir));
    let settings = render::Settings {
        host,
        user: pick(args.user.clone(), "proxmox.user"),
        identity_file: pick(args.identity_file.clone(), "proxmox.identity_file"),
        vmid,
        ip: pick(args.ip.clone(), "container.ip"),
        gateway: pick(args.gateway.clone(), "container.gateway"),
        hostname: args
            .hostname
            .clone()
            .unwrap_or_else(|| name.replace('_', "-")),
        source: relative_source(&compose_dir, path.parent().unwrap_or(cwd)),
        compose_file: compose
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default(),
        name,
    };
    let from_env = settings.vars_used(false);
    let from_taskfile = settings.vars_used(true);
    let text = render::render(args, &settings, &services, &vars);

    // The file must load as it is: no environment but HOME (for `~`).
    let home = env("HOME");
    config::parse_str(&text, &path, &|var| {
        (var == "HOME").then(|| home.clone()).flatten()
    })
    .map_err(|e| {
        let hint =
            "the values come from the flags, PROXMOX_* (or the Taskfile) and the compose file; fix the one named";
        Error::config(format!(
            "pxdeploy init would write an invalid {FILE_NAME}, so it wrote nothing"
        ))
        .cause(e.render())
        .hint(hint)
    })?;

    Ok(Plan {
        path,
        text,
        services,
        secrets: vars
            .iter()
            .filter(|v| v.is_secret())
            .map(|v| v.name.clone())
            .collect(),
        values: vars
            .iter()
            .filter(|v| !v.is_secret())
            .map(|v| (v.name.clone(), v.default.clone().unwrap_or_default()))
            .collect(),
        from_env,
        taskfile: tasks.map(|t| t.path),
        from_taskfile,
        taskfile_notes: notes.into_inner(),
    })
}

/// A file already at `path` is kept unless `force`; a symbolic link is refused even then
/// (init never writes through one, dangling or not).
fn refuse_existing(path: &Path, force: bool) -> Result<()> {
    let Ok(meta) = path.symlink_metadata() else {
        return Ok(());
    };
    if meta.is_symlink() {
        let to = std::fs::read_link(path)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return Err(Error::refused(format!(
            "{} is a symbolic link{to}; pxdeploy init does not write through a link",
            path.display()
        ))
        .hint("remove the link, or pass -c OTHER.toml to write another file"));
    }
    if !force {
        return Err(Error::refused(format!(
            "{} exists; pxdeploy init does not overwrite it",
            path.display()
        ))
        .hint("pass --force to replace it, or -c OTHER.toml to write another file"));
    }
    Ok(())
}

/// Writes the planned file: a new file is created with `O_EXCL` (nothing already there,
/// not even a dangling link, is written through); `force` replaces a file by renaming a new
/// one over it, which replaces the name, never a link's target.
pub(crate) fn write(plan: &Plan, force: bool) -> Result<()> {
    use std::io::Write;
    let cannot = |e: std::io::Error| {
        Error::unexpected(format!("cannot write {}", plan.path.display())).cause(e.to_string())
    };
    let create = |path: &Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| f.write_all(plan.text.as_bytes()).and_then(|_| f.sync_all()))
    };
    refuse_existing(&plan.path, force)?;
    if !force {
        return create(&plan.path).map_err(|e| match e.kind() {
            // Something appeared there since the plan was made.
            std::io::ErrorKind::AlreadyExists => refuse_existing(&plan.path, false)
                .err()
                .unwrap_or_else(|| cannot(e)),
            _ => cannot(e),
        });
    }
    let name = plan.path.file_name().unwrap_or_default().to_string_lossy();
    let temp = plan
        .path
        .with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    create(&temp)
        .and_then(|_| std::fs::rename(&temp, &plan.path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            cannot(e)
        })
}

/// A Compose project name from a folder name: lowercase letters, digits, `-` and `_`,
/// starting with a letter or digit.
fn project_name(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(['-', '_']).to_string();
    if name.is_empty() {
        "app".into()
    } else {
        name
    }
}

/// `app.source`: the compose file's folder, relative to the config file's folder when it
/// is inside it.
fn relative_source(compose_dir: &Path, config_dir: &Path) -> String {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (compose_dir, config_dir) = (canon(compose_dir), canon(config_dir));
    match compose_dir.strip_prefix(&config_dir) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => compose_dir.display().to_string(),
    }
}

#[cfg(test)]
mod tests;
