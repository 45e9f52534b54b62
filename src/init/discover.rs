//! Which compose file `init` reads: `--compose-file`, else the first of Compose's own names
//! ([`COMPOSE_NAMES`], in Compose's order), else the one `*compose*.yml` / `*compose*.yaml`
//! of the folder (the old scripts' `docker-compose.prod.yml`). Several such files: init
//! cannot choose, so it lists them and asks for `--compose-file` (exit 3).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The names looked for first, in Compose's own order of preference.
pub(crate) const COMPOSE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// `explicit` (relative to `cwd`), else the compose file of `cwd`.
pub(crate) fn find_compose(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf> {
    if let Some(file) = explicit {
        let path = cwd.join(file);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::config(format!("{} does not exist", path.display()))
                .hint("name the compose file with --compose-file"))
        };
    }
    if let Some(path) = COMPOSE_NAMES
        .iter()
        .map(|n| cwd.join(n))
        .find(|p| p.is_file())
    {
        return Ok(path);
    }
    let mut like = compose_like(cwd);
    match like.len() {
        1 => Ok(cwd.join(like.remove(0))),
        0 => Err(Error::config(format!(
            "no compose file in {} (looked for {}, then *compose*.yml and *compose*.yaml)",
            cwd.display(),
            COMPOSE_NAMES.join(", ")
        ))
        .hint("run pxdeploy init in the compose file's folder, or name it with --compose-file")),
        _ => Err(Error::config(format!(
            "{} compose files in {}: {}; pxdeploy init does not choose",
            like.len(),
            cwd.display(),
            like.join(", ")
        ))
        .hint("name the one to deploy: `pxdeploy init --compose-file FILE`")),
    }
}

/// The files of `dir` matching `*compose*.yml` or `*compose*.yaml` as a shell glob does
/// (case-sensitive, no hidden files), sorted by name.
fn compose_like(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            let stem = n.strip_suffix(".yml").or_else(|| n.strip_suffix(".yaml"));
            !n.starts_with('.') && stem.is_some_and(|s| s.contains("compose"))
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, names: &[&str]) {
        for n in names {
            std::fs::write(dir.join(n), "services: {}\n").unwrap();
        }
    }

    fn found(names: &[&str]) -> Result<String> {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), names);
        find_compose(None, dir.path()).map(|p| p.file_name().unwrap().to_string_lossy().to_string())
    }

    #[test]
    fn composes_own_names_come_first_in_composes_order() {
        assert_eq!(
            found(&[
                "docker-compose.yml",
                "compose.yml",
                "docker-compose.prod.yml"
            ])
            .unwrap(),
            "compose.yml"
        );
        assert_eq!(
            found(&["docker-compose.yml", "docker-compose.yaml"]).unwrap(),
            "docker-compose.yaml"
        );
        assert_eq!(
            found(&["docker-compose.yml", "docker-compose.override.yml"]).unwrap(),
            "docker-compose.yml"
        );
    }

    #[test]
    fn a_single_compose_like_file_is_taken() {
        assert_eq!(
            found(&["docker-compose.prod.yml", "Taskfile.yml", "notes.yaml"]).unwrap(),
            "docker-compose.prod.yml"
        );
        assert_eq!(found(&["prod.compose.yaml"]).unwrap(), "prod.compose.yaml");
    }

    #[test]
    fn several_are_listed_with_the_flag_to_choose_and_exit_3() {
        let err = found(&["docker-compose.prod.yml", "docker-compose.dev.yaml"]).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let text = err.render();
        assert!(
            text.contains("docker-compose.dev.yaml, docker-compose.prod.yml"),
            "{text}"
        );
        assert!(text.contains("--compose-file"), "{text}");
    }

    #[test]
    fn none_hidden_folders_and_other_extensions_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        touch(
            dir.path(),
            &[
                ".compose.yml",
                "compose.yml.bak",
                "docker-compose.json",
                "Compose.yml",
            ],
        );
        std::fs::create_dir(dir.path().join("compose.d.yml")).unwrap();
        let err = find_compose(None, dir.path()).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.render().contains("no compose file"), "{}", err.render());
    }

    #[test]
    fn the_flag_wins_and_a_missing_one_is_exit_3() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), &["compose.yaml", "stack.yml"]);
        let p = find_compose(Some(Path::new("stack.yml")), dir.path()).unwrap();
        assert_eq!(p, dir.path().join("stack.yml"));
        let err = find_compose(Some(Path::new("gone.yml")), dir.path()).unwrap_err();
        assert_eq!(err.exit_code(), 3);
    }
}
