//! The old scripts' `Taskfile.yml` (go-task, version 3) as a source of the `PROXMOX_*`
//! values: the nearest Taskfile beside the compose file or in a parent folder, its top-level
//! `env:` then `vars:`. Only plain values are taken (a string, or a number such as an
//! unquoted container id); a `'{{.VAR}}'` template, a `{sh: …}` map (never run) or any
//! other shape is skipped with a word why.

use std::path::{Path, PathBuf};

/// go-task's own names, in its order.
pub(crate) const NAMES: &[&str] = &[
    "Taskfile.yml",
    "taskfile.yml",
    "Taskfile.yaml",
    "taskfile.yaml",
];

/// What one Taskfile gives.
#[derive(Debug, Default)]
pub(crate) struct Taskfile {
    pub path: PathBuf,
    /// Plain values, by variable name.
    pub values: Vec<(&'static str, String)>,
    /// Variables with no plain value, and why.
    pub skipped: Vec<(&'static str, &'static str)>,
}

impl Taskfile {
    pub(crate) fn value(&self, var: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(v, _)| *v == var)
            .map(|(_, s)| s.as_str())
    }

    pub(crate) fn skipped(&self, var: &str) -> Option<&'static str> {
        self.skipped
            .iter()
            .find(|(v, _)| *v == var)
            .map(|(_, w)| *w)
    }
}

/// The nearest Taskfile: in `dir`, else in its parents.
pub(crate) fn find(dir: &Path) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors()
        .flat_map(|d| NAMES.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// Reads the Taskfile at `path` for the variables `names`.
pub(crate) fn read(path: &Path, names: &[&'static str]) -> Result<Taskfile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (values, skipped) = parse(&text, names)?;
    Ok(Taskfile {
        path: path.to_path_buf(),
        values,
        skipped,
    })
}

type Parsed = (
    Vec<(&'static str, String)>,
    Vec<(&'static str, &'static str)>,
);

/// The plain values of `names` in the YAML `text` (`env:` first, then `vars:`), and the
/// names found with no plain value in either, with why.
pub(crate) fn parse(text: &str, names: &[&'static str]) -> Result<Parsed, String> {
    use serde_norway::Value;
    let doc: Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    if !matches!(doc, Value::Mapping(_) | Value::Null) {
        return Err("it is not a YAML mapping".into());
    }
    let sections = [doc.get("env"), doc.get("vars")];
    let (mut values, mut skipped) = (Vec::new(), Vec::new());
    for &name in names {
        let found: Vec<&Value> = sections
            .iter()
            .flatten()
            .filter_map(|s| s.get(name))
            .collect();
        let mut why = None;
        let mut plain = None;
        for v in found {
            match plain_value(v) {
                Ok(Some(s)) => {
                    plain = Some(s);
                    break;
                }
                Ok(None) => {}
                Err(w) => {
                    why.get_or_insert(w);
                }
            }
        }
        match (plain, why) {
            (Some(s), _) => values.push((name, s)),
            (None, Some(w)) => skipped.push((name, w)),
            (None, None) => {}
        }
    }
    Ok((values, skipped))
}

/// `Ok(Some)`: a plain value; `Ok(None)`: empty (counts as unset); `Err`: why not taken.
fn plain_value(v: &serde_norway::Value) -> Result<Option<String>, &'static str> {
    use serde_norway::Value;
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.contains("{{") => Err("a template (`{{…}}`), not a value"),
        Value::String(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Mapping(m) if m.contains_key("sh") => {
            Err("a `sh:` command, which pxdeploy does not run")
        }
        _ => Err("not a plain string or number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &[
        "PROXMOX_HOST",
        "PROXMOX_USER",
        "PROXMOX_SSH_KEY",
        "PROXMOX_CONTAINER_ID",
        "PROXMOX_CONTAINER_IP",
        "PROXMOX_CONTAINER_GATEWAY",
    ];

    #[test]
    fn plain_values_come_from_env_and_vars_env_first() {
        let text = "version: '3'\nenv:\n  PROXMOX_HOST: 192.168.1.10\n  PROXMOX_CONTAINER_ID: 210\n  OTHER: x\nvars:\n  PROXMOX_HOST: other.lan\n  PROXMOX_USER: \" deployer \"\n  PROXMOX_CONTAINER_IP: ''\ntasks: {}\n";
        let (values, skipped) = parse(text, ALL).unwrap();
        assert_eq!(
            values,
            [
                ("PROXMOX_HOST", "192.168.1.10".to_string()),
                ("PROXMOX_USER", "deployer".into()),
                ("PROXMOX_CONTAINER_ID", "210".into()),
            ]
        );
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    #[test]
    fn templates_and_sh_are_skipped_with_why_and_a_plain_value_behind_a_template_is_taken() {
        let text = "env:\n  PROXMOX_HOST: '{{.PROXMOX_HOST}}'\n  PROXMOX_SSH_KEY:\n    sh: echo ~/.ssh/id_rsa\n  PROXMOX_USER: '{{.USER | default \"root\"}}'\n  PROXMOX_CONTAINER_ID: [1]\nvars:\n  PROXMOX_HOST: pve.lan\n  PROXMOX_CONTAINER_IP:\n    ref: .IP\n";
        let (values, skipped) = parse(text, ALL).unwrap();
        assert_eq!(values, [("PROXMOX_HOST", "pve.lan".to_string())]);
        assert_eq!(
            skipped.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [
                "PROXMOX_USER",
                "PROXMOX_SSH_KEY",
                "PROXMOX_CONTAINER_ID",
                "PROXMOX_CONTAINER_IP"
            ]
        );
        let why = |n: &str| skipped.iter().find(|(v, _)| *v == n).unwrap().1;
        assert!(why("PROXMOX_USER").contains("template"));
        assert!(why("PROXMOX_SSH_KEY").contains("`sh:`"));
        assert!(why("PROXMOX_CONTAINER_IP").contains("not a plain"));
    }

    #[test]
    fn a_taskfile_without_env_or_vars_gives_nothing_and_bad_yaml_is_an_error() {
        assert_eq!(parse("version: '3'\n", ALL).unwrap(), (vec![], vec![]));
        assert_eq!(parse("", ALL).unwrap(), (vec![], vec![]));
        assert!(parse("env: [unclosed\n", ALL).is_err());
        assert!(parse("- a list\n", ALL).is_err());
    }

    #[test]
    fn the_nearest_taskfile_beside_or_above_is_found() {
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("deploy/app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(root.path().join("Taskfile.yml"), "env: {}\n").unwrap();
        let canon = |p: PathBuf| std::fs::canonicalize(p).unwrap();
        assert_eq!(find(&app), Some(canon(root.path().join("Taskfile.yml"))));
        std::fs::write(root.path().join("deploy/taskfile.yaml"), "env: {}\n").unwrap();
        assert_eq!(
            find(&app),
            Some(canon(root.path().join("deploy/taskfile.yaml")))
        );
        std::fs::write(app.join("Taskfile.yml"), "env: {}\n").unwrap();
        assert_eq!(find(&app), Some(canon(app.join("Taskfile.yml"))));
    }
}
