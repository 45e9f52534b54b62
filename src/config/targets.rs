//! Several targets in one file: `[targets.<name>.proxmox|container|vm|health|env.values]`
//! tables override the top-level sections key by key. The tables are merged as TOML first;
//! each target's merged table then goes through the typed parse and every check of a file
//! without targets, and its problems name the target (`targets.prod.container.vmid`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::load::{checked, display_path, problems_error};
use super::parse_error::{did_you_mean, key_line, parse_error, shown_message};
use super::problem::Problem;
use super::{env, Config};
use crate::error::{Error, Result};

/// Every target of one file, in file order. A file without `[targets]` is one unnamed target.
#[derive(Debug, Clone)]
pub struct Plan {
    pub targets: Vec<(Option<String>, Config)>,
    /// `default_targets = [...]`: what runs when `-t` is not given and there are several.
    pub default_targets: Vec<String>,
}

impl Plan {
    pub fn names(&self) -> Vec<&str> {
        self.targets
            .iter()
            .filter_map(|(name, _)| name.as_deref())
            .collect()
    }
}

/// The shape of a file with targets, read with the parser's positions: unknown top-level
/// keys and unknown tables under a target are reported at their line. Read for its shape
/// only: the merge works on the plain table.
// dead_code: serde fills the fields to check the shape (`deny_unknown_fields`); nothing reads them.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Layers {
    #[serde(default)]
    default_targets: Vec<String>,
    targets: Option<BTreeMap<String, TargetLayer>>,
    proxmox: Option<toml::Table>,
    container: Option<toml::Table>,
    vm: Option<toml::Table>,
    app: Option<toml::Value>,
    env: Option<toml::Table>,
    health: Option<toml::Table>,
    backup: Option<toml::Value>,
}

// dead_code: read for its shape only, as `Layers`.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetLayer {
    proxmox: Option<toml::Table>,
    container: Option<toml::Table>,
    vm: Option<toml::Table>,
    health: Option<toml::Table>,
    env: Option<TargetEnv>,
}

// dead_code: read for its shape only, as `Layers`.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetEnv {
    values: Option<toml::Table>,
}

/// Parses a file that may have targets. Without `targets`/`default_targets` this is
/// exactly [`super::parse_str`].
pub fn parse_plan(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    source_optional: bool,
) -> Result<Plan> {
    let layered = text
        .parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("targets") || t.contains_key("default_targets"));
    if !layered {
        let config = super::load::parse(text, path, env, source_optional)?;
        return Ok(Plan {
            targets: vec![(None, config)],
            default_targets: Vec::new(),
        });
    }
    let shown = display_path(path);
    toml::from_str::<Layers>(text).map_err(|e| parse_error(&shown, text, &e))?;
    let mut base = text.parse::<toml::Table>().unwrap_or_default();
    let targets = base.remove("targets");
    let defaults = base.remove("default_targets");
    let layers: BTreeMap<String, toml::Value> = match targets {
        Some(toml::Value::Table(t)) => t.into_iter().collect(),
        _ => BTreeMap::new(),
    };

    let mut lines: Vec<String> = Vec::new();
    let mut hints: Vec<Option<String>> = Vec::new();
    let mut push = |line: String, hint: Option<String>| {
        lines.push(line);
        hints.push(hint);
    };
    if layers.is_empty() {
        push(
            format!("{shown}: targets: no target is defined"),
            Some("add a [targets.<name>.proxmox] table, or remove default_targets".into()),
        );
    }
    let names = file_order(text, layers.keys().cloned().collect());
    for name in &names {
        if !valid_name(name) {
            let line = first_line(text, name).map_or(String::new(), |l| format!(":{l}"));
            push(
                format!("{shown}{line}: targets.{name}: a target name is letters, digits, `-` and `_`, and not `all`"),
                None,
            );
        }
    }
    let default_targets: Vec<String> = defaults
        .and_then(|d| d.try_into::<Vec<String>>().ok())
        .unwrap_or_default();
    for d in &default_targets {
        if !layers.contains_key(d) {
            let line = key_line(text, "default_targets").map_or(String::new(), |l| format!(":{l}"));
            push(
                format!(
                    "{shown}{line}: default_targets: {d:?} is not a target (targets: {})",
                    names.join(", ")
                ),
                None,
            );
        }
    }

    let mut targets = Vec::new();
    for name in &names {
        let layer = layers[name].as_table().cloned().unwrap_or_default();
        let merged = merge(&base, &layer);
        let (config, problems) = match Config::deserialize(toml::Value::Table(merged.clone())) {
            Ok(cfg) => checked(cfg, &merged, path, env, source_optional),
            Err(e) => {
                let problem = typed_problem(&e);
                let line = locate(&shown, text, name, None, &problem);
                push(line, problem.hint.clone());
                continue;
            }
        };
        for p in &problems {
            push(locate(&shown, text, name, Some(&config), p), p.hint.clone());
        }
        if problems.is_empty() {
            let mut config = config;
            config.target = Some(name.clone());
            targets.push((Some(name.clone()), config));
        }
    }
    for (i, (a, ca)) in targets.iter().enumerate() {
        for (b, cb) in &targets[i + 1..] {
            if ca.vmid() == cb.vmid()
                && ca.proxmox.host.eq_ignore_ascii_case(&cb.proxmox.host)
                && ca.proxmox.port.unwrap_or(22) == cb.proxmox.port.unwrap_or(22)
            {
                push(
                    format!(
                        "{shown}: targets.{} and targets.{} are the same {}: {} on {}",
                        a.as_deref().unwrap_or_default(),
                        b.as_deref().unwrap_or_default(),
                        ca.kind().noun(),
                        ca.vmid(),
                        ca.proxmox.host
                    ),
                    Some(
                        "give each target its own [targets.<name>.container] (or .vm) vmid, or its own host"
                            .into(),
                    ),
                );
            }
        }
    }

    match lines.len() {
        0 => Ok(Plan {
            targets,
            default_targets,
        }),
        1 => {
            let err = Error::config(lines.remove(0));
            Err(match hints.remove(0) {
                Some(h) => err.hint(h),
                None => err,
            })
        }
        _ => {
            let problems: Vec<Problem> = lines.iter().map(|l| Problem::new(l, "")).collect();
            Err(problems_error(&shown, &problems, &|p| p.field.clone()))
        }
    }
}

/// The top-level sections with the target's tables laid over them, key by key
/// (`env.values` too; `env.secrets` and `[app]`/`[backup]` stay the file's).
fn merge(base: &toml::Table, layer: &toml::Table) -> toml::Table {
    let mut merged = base.clone();
    for (section, over) in layer {
        let Some(over) = over.as_table() else {
            continue;
        };
        let entry = merged
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(into) = entry.as_table_mut() else {
            continue;
        };
        for (key, value) in over {
            match (into.get_mut(key), value) {
                (Some(toml::Value::Table(inner)), toml::Value::Table(extra))
                    if section == "env" =>
                {
                    inner.extend(extra.clone());
                }
                _ => {
                    into.insert(key.clone(), value.clone());
                }
            }
        }
    }
    merged
}

/// A typed error of a merged table (no position: toml says `in `container.vmid``) as a problem.
fn typed_problem(e: &toml::de::Error) -> Problem {
    let text = e.to_string();
    let path = text
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("in `"))
        .and_then(|l| l.strip_suffix('`'))
        .unwrap_or("")
        .to_string();
    let message = e.message().trim().to_string();
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(key, rest)| (key.to_string(), rest.to_string()))
    };
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    if let Some((key, rest)) = quoted("unknown field `") {
        let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        let mut p = Problem::new(join(&key), format!("unknown field{rest}"));
        if let Some(s) = did_you_mean(&key, &expected) {
            p = p.hint(format!("did you mean `{s}`?"));
        }
        return p;
    }
    if let Some((key, _)) = quoted("missing field `") {
        return Problem::new(join(&key), "is required");
    }
    let sensitive = path == "env" || path.starts_with("env.");
    Problem::new(path, shown_message(&message, sensitive))
}

/// `file:line: targets.prod.container.vmid: detail` when the target sets the key; the
/// top-level key's line, naming the target, when the target inherits it.
fn locate(shown: &str, text: &str, name: &str, cfg: Option<&Config>, p: &Problem) -> String {
    let own = format!("targets.{name}.{}", p.field);
    if let Some(var) = cfg.and_then(|c| env::source_of(c, &p.field)) {
        format!("{shown}: {own} (from {var}): {}", p.detail)
    } else if let Some(line) = key_line(text, &own) {
        format!("{shown}:{line}: {own}: {}", p.detail)
    } else if let Some(line) = key_line(text, &p.field) {
        format!("{shown}:{line}: {} (target {name}): {}", p.field, p.detail)
    } else {
        format!("{shown}: {own}: {}", p.detail)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "all"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The first line that mentions `targets.<name>` (a header or a dotted key).
fn first_line(text: &str, name: &str) -> Option<usize> {
    let plain = format!("targets.{name}");
    let quoted = format!("targets.\"{name}\"");
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('[').trim_start();
            let matches = |p: &str| {
                l.strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with(['.', ']', ' ', '=']))
            };
            matches(&plain) || matches(&quoted)
        })
        .map(|i| i + 1)
}

/// The names in the order the file first mentions them (the order of results and of the
/// exit code); a name the scan cannot place keeps its sorted place at the end.
fn file_order(text: &str, mut names: Vec<String>) -> Vec<String> {
    names.sort_by_key(|n| first_line(text, n).unwrap_or(usize::MAX));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<Plan> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  web:\n    image: nginx\n",
        )
        .unwrap();
        let path = dir.path().join("pxdeploy.toml");
        parse_plan(text, &path, &|_| None, false)
    }

    const BASE: &str = "[proxmox]\nhost = \"pve.lan\"\n[container]\nvmid = 200\nhostname = \"app\"\n[app]\nname = \"app\"\n[env.values]\nA = \"1\"\nB = \"2\"\n";

    #[test]
    fn targets_override_key_by_key_in_file_order() {
        let text = format!("{BASE}default_targets = []\n[targets.zeta.container]\nvmid = 310\n[targets.alpha.proxmox]\nhost = \"other.lan\"\n[targets.alpha.env.values]\nB = \"3\"\n");
        // `default_targets` after a table belongs to it: put it first instead.
        let text = format!(
            "default_targets = [\"zeta\"]\n{}",
            text.replace("default_targets = []\n", "")
        );
        let plan = plan(&text).unwrap();
        assert_eq!(plan.names(), ["zeta", "alpha"]);
        assert_eq!(plan.default_targets, ["zeta"]);
        let (_, zeta) = &plan.targets[0];
        assert_eq!((zeta.vmid(), zeta.proxmox.host.as_str()), (310, "pve.lan"));
        assert_eq!(zeta.hostname(), "app");
        let (_, alpha) = &plan.targets[1];
        assert_eq!(
            (alpha.vmid(), alpha.proxmox.host.as_str()),
            (200, "other.lan")
        );
        assert_eq!(alpha.env.values["A"], "1");
        assert_eq!(alpha.env.values["B"], "3");
        // Hooks see it (PXDEPLOY_TARGET).
        assert_eq!(zeta.target.as_deref(), Some("zeta"));
        assert_eq!(alpha.target.as_deref(), Some("alpha"));
    }

    #[test]
    fn a_file_without_targets_is_one_unnamed_target() {
        let plan = plan(BASE).unwrap();
        assert_eq!(plan.targets.len(), 1);
        assert!(plan.targets[0].0.is_none());
        assert!(plan.targets[0].1.target.is_none());
    }

    #[test]
    fn the_same_container_twice_is_a_config_error() {
        let text =
            format!("{BASE}[targets.a.container]\nvmid = 300\n[targets.b.container]\nvmid = 300\n");
        let err = plan(&text).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.message.contains("targets.a and targets.b"),
            "{}",
            err.message
        );
    }

    #[test]
    fn problems_name_the_target_and_the_line() {
        let text = format!("{BASE}[targets.prod.container]\nvmid = 5\n");
        let err = plan(&text).unwrap_err();
        assert!(
            err.message.contains(":12: targets.prod.container.vmid:"),
            "{}",
            err.message
        );
        let text = format!("{BASE}[targets.prod.container]\nvmidd = 300\n");
        let err = plan(&text).unwrap_err();
        assert!(
            err.message
                .contains(":12: targets.prod.container.vmidd: unknown field"),
            "{}",
            err.message
        );
        assert_eq!(err.hint.as_deref(), Some("did you mean `vmid`?"));
        let text = format!("{BASE}[targets.prod.app]\nname = \"x\"\n");
        let err = plan(&text).unwrap_err();
        assert!(err.message.contains(":11:"), "{}", err.message);
        let text =
            format!("default_targets = [\"nope\"]\n{BASE}[targets.prod.container]\nvmid = 300\n");
        let err = plan(&text).unwrap_err();
        assert!(
            err.message
                .contains("\"nope\" is not a target (targets: prod)"),
            "{}",
            err.message
        );
    }
}
