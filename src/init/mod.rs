//! `pxdeploy init`: a commented `pxdeploy.toml` for a compose file. The compose file gives
//! the services (`[health]`) and the variables (`[env.secrets]`, `[env.values]`); flags, then
//! the `PROXMOX_*` variables ([`crate::config::ENV_VARS`]), give the rest. The text is
//! validated like any config before it is written, and an existing file is kept unless
//! `--force` (exit 8, refused); a symbolic link is refused even with `--force`.

mod args;
mod render;
pub mod vars;

use std::path::{Path, PathBuf};

use crate::config::{self, ENV_VARS, FILE_NAME};
use crate::error::{Error, Result};

pub use self::args::InitArgs;

/// The names looked for, in Compose's own order of preference.
pub const COMPOSE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// What `init` writes, decided before anything is written.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the file goes.
    pub path: PathBuf,
    /// The file's text (already validated).
    pub text: String,
    pub services: Vec<String>,
    pub secrets: Vec<String>,
    pub values: Vec<(String, String)>,
    /// The `PROXMOX_*` variables that gave a value.
    pub from_env: Vec<&'static str>,
}

/// One setting: its value and the variable it came from (`None`: a flag).
pub(crate) struct Given {
    pub value: String,
    pub var: Option<&'static str>,
}

/// Decides the file: `config` is `-c FILE` (relative to `cwd`) or `None` for
/// `./pxdeploy.toml`; `env` answers for environment variables.
pub fn plan(
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
    let compose = find_compose(args, cwd)?;
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

    let pick = |flag: Option<String>, field: &str| -> Option<Given> {
        flag.map(|value| Given { value, var: None }).or_else(|| {
            let (var, _) = ENV_VARS.iter().find(|(_, f)| *f == field)?;
            let value = env(var).filter(|v| !v.trim().is_empty())?;
            Some(Given {
                value: value.trim().to_string(),
                var: Some(var),
            })
        })
    };
    let host = pick(args.host.clone(), "proxmox.host");
    let vmid = pick(args.vmid.map(|v| v.to_string()), "container.vmid");
    let (Some(host), Some(vmid)) = (host, vmid) else {
        return Err(
            Error::usage("pxdeploy init needs the Proxmox host and the container id")
                .hint("pass --host and --vmid (or set PROXMOX_HOST and PROXMOX_CONTAINER_ID)"),
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
    let from_env = settings.env_vars_used();
    let text = render::render(args, &settings, &services, &vars);

    // The file must load as it is: no environment but HOME (for `~`).
    let home = env("HOME");
    config::parse_str(&text, &path, &|var| {
        (var == "HOME").then(|| home.clone()).flatten()
    })
    .map_err(|e| {
        let hint =
            "the values come from the flags, PROXMOX_* and the compose file; fix the one named";
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
pub fn write(plan: &Plan, force: bool) -> Result<()> {
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

/// `--compose-file`, else the first of [`COMPOSE_NAMES`] in `cwd`.
fn find_compose(args: &InitArgs, cwd: &Path) -> Result<PathBuf> {
    if let Some(file) = &args.compose_file {
        let path = cwd.join(file);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::config(format!("{} does not exist", path.display()))
                .hint("name the compose file with --compose-file"))
        };
    }
    COMPOSE_NAMES
        .iter()
        .map(|n| cwd.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::config(format!(
                "no compose file in {} (looked for {})",
                cwd.display(),
                COMPOSE_NAMES.join(", ")
            ))
            .hint("run pxdeploy init in the compose file's folder, or name it with --compose-file")
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
