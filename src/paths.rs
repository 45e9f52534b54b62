//! Local paths as text: no filesystem access. Shared by `config` (where the app folder and
//! compose files are) and `compose` (which files a compose file may reference), so neither
//! imports the other for it.

use std::path::{Component, Path, PathBuf};

/// Removes `.` components and folds `dir/..` without touching the filesystem.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_dots_without_the_filesystem() {
        for (input, want) in [
            ("/srv/app/./compose.yaml", "/srv/app/compose.yaml"),
            ("/srv/app/../other", "/srv/other"),
            ("/srv/app/x/../../y", "/srv/y"),
            ("app/..", "."),
            (".", "."),
            ("../a", "../a"),
            ("a/../../b", "../b"),
        ] {
            assert_eq!(normalize(Path::new(input)), PathBuf::from(want), "{input}");
        }
    }
}
