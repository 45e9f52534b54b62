//! What pxdeploy needs to know of the local compose file(s), read once at config load: each
//! service's restart policy, profiles, replicas, healthcheck switch and `depends_on`
//! conditions, the top-level `name:`, and every other file the project reads (`include:`,
//! `extends: {file: …}`), which must lie inside `app.source` because only that is pushed.
//!
//! Several files merge like Compose merges them for these keys: a later file's value wins.

use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

/// One service as far as the health verdict cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// `restart:` as written (`no`, `always`, `on-failure:3`, `unless-stopped`); `None` = unset.
    pub restart: Option<String>,
    pub profiles: Vec<String>,
    /// `deploy.replicas` or `scale`, default 1.
    pub replicas: u32,
    /// `healthcheck: {disable: true}` (or `test: ["NONE"]`).
    pub healthcheck_disabled: bool,
    /// `depends_on` as (service, condition); the short list form is `service_started`.
    pub depends_on: Vec<(String, String)>,
    /// `container_name:` (a name of the whole Docker host, not of the project).
    pub container_name: Option<String>,
}

impl Service {
    fn new(name: &str) -> Self {
        Service {
            name: name.to_string(),
            restart: None,
            profiles: Vec::new(),
            replicas: 1,
            healthcheck_disabled: false,
            depends_on: Vec::new(),
            container_name: None,
        }
    }
}

/// The compose project as read from the local files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    /// Top-level `name:` (the last file that sets it).
    pub name: Option<String>,
    /// In file order; services of included files first, as Compose loads them.
    pub services: Vec<Service>,
    /// Every file read besides the compose files themselves (`include:`, `extends.file`).
    pub referenced: Vec<PathBuf>,
}

impl Model {
    /// Reads `files` (absolute or relative to the current folder) in order. Every file they
    /// reference must lie inside `source`.
    pub fn read(files: &[PathBuf], source: &Path) -> Result<Model, String> {
        let mut model = Model::default();
        for file in files {
            model.read_file(file, source, 0)?;
        }
        Ok(model)
    }

    /// The model of one compose file's `text` as stored in a release (`path` is only
    /// shown). Files it references (`include:`, `extends.file`) are not read: the services
    /// and keys they add are unknown to the model (judged long-running, one replica).
    pub fn parse(text: &str, path: &Path) -> Result<Model, String> {
        let mut model = Model::default();
        model.add(parse(text, path)?, path, None, 0)?;
        Ok(model)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The services Compose starts with these profiles active, in file order: those without
    /// profiles and those with one of `active` (`*` activates all); not those scaled to 0.
    pub fn active(&self, active: &[String]) -> Vec<String> {
        self.services
            .iter()
            .filter(|s| s.replicas > 0)
            .filter(|s| {
                s.profiles.is_empty() || active.iter().any(|a| a == "*" || s.profiles.contains(a))
            })
            .map(|s| s.name.clone())
            .collect()
    }

    /// A service that is not meant to keep running: exit 0 means done. True when its restart
    /// policy is unset, `no` or `on-failure[:N]`, or another service waits for it with
    /// `service_completed_successfully`. Unknown services are not one-shot.
    pub fn one_shot(&self, name: &str) -> bool {
        let Some(s) = self.service(name) else {
            return false;
        };
        let adopted = self.services.iter().any(|other| {
            other
                .depends_on
                .iter()
                .any(|(dep, cond)| dep == name && cond == "service_completed_successfully")
        });
        let policy = s.restart.as_deref().map(str::trim).unwrap_or("no");
        adopted || matches!(policy, "no" | "\"no\"" | "") || policy.starts_with("on-failure")
    }

    /// How many containers the service runs (1 for unknown services).
    pub fn replicas(&self, name: &str) -> u32 {
        self.service(name).map_or(1, |s| s.replicas)
    }

    fn read_file(&mut self, file: &Path, source: &Path, depth: usize) -> Result<(), String> {
        if depth > 16 {
            return Err(format!("{}: `include:` nests too deep", file.display()));
        }
        self.add(load(file)?, file, Some(source), depth)
    }

    /// Adds the parsed compose file `top`; with `source`, also the files it references.
    fn add(
        &mut self,
        top: Value,
        file: &Path,
        source: Option<&Path>,
        depth: usize,
    ) -> Result<(), String> {
        let dir = file.parent().unwrap_or_else(|| Path::new("."));
        if let (Some(inc), Some(source)) = (top.get("include"), source) {
            for path in include_paths(inc) {
                let target = inside(source, dir, &path, file, "include")?;
                self.referenced.push(target.clone());
                self.read_file(&target, source, depth + 1)?;
            }
        }
        if let Some(name) = top.get("name").and_then(Value::as_str) {
            self.name = Some(name.to_string());
        }
        let Some(Value::Mapping(services)) = top.get("services") else {
            return Ok(());
        };
        for (key, def) in services {
            let Some(name) = key.as_str() else { continue };
            let mut def = def.clone();
            // `extends: {file, service}`: the keys of the base service, overridden by this one.
            if let (Some(Value::Mapping(ext)), Some(source)) = (def.get("extends").cloned(), source)
            {
                if let Some(path) = ext.get("file").and_then(Value::as_str) {
                    let target = inside(source, dir, path, file, "extends.file")?;
                    self.referenced.push(target.clone());
                    let base_name = ext.get("service").and_then(Value::as_str).unwrap_or(name);
                    let base = load(&target)?;
                    if let Some(Value::Mapping(b)) =
                        base.get("services").and_then(|s| s.get(base_name))
                    {
                        def = overlay(b.clone(), def);
                    }
                }
            }
            let index = match self.services.iter().position(|s| s.name == name) {
                Some(i) => i,
                None => {
                    self.services.push(Service::new(name));
                    self.services.len() - 1
                }
            };
            apply(&mut self.services[index], &def);
        }
        Ok(())
    }
}

/// Parses one compose file, YAML merge keys (`<<: *common`) applied.
fn load(file: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    parse(&text, file)
}

/// Parses one compose file's text, YAML merge keys applied; `file` is only shown.
fn parse(text: &str, file: &Path) -> Result<Value, String> {
    let mut value: Value = serde_norway::from_str(text)
        .map_err(|e| format!("{}: not a valid compose file: {e}", file.display()))?;
    value
        .apply_merge()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(value)
}

/// `include:` entries: a path, or `{path: one-or-list, …}`.
fn include_paths(inc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for item in inc.as_sequence().map(Vec::as_slice).unwrap_or_default() {
        match item {
            Value::String(s) => out.push(s.clone()),
            Value::Mapping(m) => match m.get("path") {
                Some(Value::String(s)) => out.push(s.clone()),
                Some(Value::Sequence(list)) => {
                    out.extend(list.iter().filter_map(Value::as_str).map(str::to_string))
                }
                _ => {}
            },
            _ => {}
        }
    }
    out
}

/// `path` (relative to the referencing file's folder) when it lies inside `source`.
fn inside(
    source: &Path,
    dir: &Path,
    path: &str,
    from: &Path,
    key: &str,
) -> Result<PathBuf, String> {
    let target = crate::paths::normalize(&dir.join(path));
    let root = crate::paths::normalize(source);
    if !target.starts_with(&root) {
        return Err(format!(
            "{} (`{key}: {path}` in {}) is outside app.source {}: only app.source is pushed into the guest",
            target.display(),
            from.display(),
            root.display()
        ));
    }
    Ok(target)
}

/// The base service's keys, each replaced by the extending service's value.
fn overlay(mut base: Mapping, over: Value) -> Value {
    if let Value::Mapping(m) = over {
        for (k, v) in m {
            base.insert(k, v);
        }
    }
    Value::Mapping(base)
}

/// Sets the keys `def` has (a later file overrides only what it writes).
fn apply(s: &mut Service, def: &Value) {
    if let Some(r) = def.get("restart") {
        s.restart = Some(scalar(r));
    }
    if let Some(Value::String(n)) = def.get("container_name") {
        s.container_name = Some(n.clone());
    }
    if let Some(Value::Sequence(p)) = def.get("profiles") {
        s.profiles = p.iter().map(scalar).collect();
    }
    if let Some(n) = def.get("scale").and_then(number) {
        s.replicas = n;
    }
    if let Some(n) = def
        .get("deploy")
        .and_then(|d| d.get("replicas"))
        .and_then(number)
    {
        s.replicas = n;
    }
    if let Some(h) = def.get("healthcheck") {
        let disabled = h.get("disable").and_then(Value::as_bool) == Some(true);
        let none = h
            .get("test")
            .and_then(Value::as_sequence)
            .and_then(|t| t.first())
            .and_then(Value::as_str)
            == Some("NONE");
        s.healthcheck_disabled = disabled || none;
    }
    match def.get("depends_on") {
        Some(Value::Sequence(list)) => {
            s.depends_on = list
                .iter()
                .map(|d| (scalar(d), "service_started".to_string()))
                .collect();
        }
        Some(Value::Mapping(map)) => {
            s.depends_on = map
                .iter()
                .map(|(k, v)| {
                    let cond = v
                        .get("condition")
                        .and_then(Value::as_str)
                        .unwrap_or("service_started");
                    (scalar(k), cond.to_string())
                })
                .collect();
        }
        _ => {}
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(false) => "no".into(),
        Value::Bool(true) => "yes".into(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn number(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(files: &[(&str, &str)]) -> Result<Model, String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let first = dir.path().join(files[0].0);
        Model::read(&[first], dir.path())
    }

    #[test]
    fn restart_policies_decide_what_is_one_shot() {
        let m = read(&[(
            "c.yaml",
            "services:\n  a: {image: x}\n  b: {image: x, restart: no}\n  c: {image: x, restart: \"no\"}\n  d: {image: x, restart: on-failure:3}\n  e: {image: x, restart: always}\n  f: {image: x, restart: unless-stopped}\n  g:\n    image: x\n    restart: always\n  h:\n    image: x\n    restart: always\n    depends_on: {g: {condition: service_completed_successfully}}\n",
        )])
        .unwrap();
        let got: Vec<bool> = ["a", "b", "c", "d", "e", "f", "g", "h", "nope"]
            .iter()
            .map(|s| m.one_shot(s))
            .collect();
        assert_eq!(
            got,
            [true, true, true, true, false, false, true, false, false]
        );
    }

    #[test]
    fn a_stored_file_parses_without_reading_what_it_references() {
        let text = "include: [../../etc/x.yaml]\nx-job: &job {restart: \"no\"}\nservices:\n  migrate: {<<: *job, image: x}\n  web:\n    image: x\n    restart: always\n    extends: {file: /etc/passwd, service: web}\n    deploy: {replicas: 2}\n";
        let m = Model::parse(text, Path::new("docker-compose.yml")).unwrap();
        assert!(m.one_shot("migrate"));
        assert!(!m.one_shot("web"));
        assert_eq!(m.replicas("web"), 2);
        assert!(m.referenced.is_empty());
        let err = Model::parse("services: [", Path::new("c.yaml")).unwrap_err();
        assert!(err.contains("c.yaml: not a valid compose file"), "{err}");
    }

    #[test]
    fn depends_on_list_form_and_healthcheck_switches() {
        let m = read(&[(
            "c.yaml",
            "name: shop\nservices:\n  a:\n    image: x\n    depends_on: [b]\n    healthcheck: {disable: true}\n  b:\n    image: x\n    healthcheck: {test: [\"NONE\"]}\n  c:\n    image: x\n    healthcheck: {test: [\"CMD\", \"true\"]}\n",
        )])
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("shop"));
        let a = m.service("a").unwrap();
        assert_eq!(
            a.depends_on,
            [("b".to_string(), "service_started".to_string())]
        );
        assert!(a.healthcheck_disabled);
        assert!(m.service("b").unwrap().healthcheck_disabled);
        assert!(!m.service("c").unwrap().healthcheck_disabled);
    }

    #[test]
    fn include_in_long_form_and_nested_folders() {
        let m = read(&[
            (
                "c.yaml",
                "include:\n  - path: [sub/a.yaml]\nservices:\n  web: {image: x}\n",
            ),
            (
                "sub/a.yaml",
                "include: [../b.yaml]\nservices:\n  a: {image: x}\n",
            ),
            ("b.yaml", "services:\n  b: {image: x, scale: 2}\n"),
        ])
        .unwrap();
        assert_eq!(m.active(&[]), ["b", "a", "web"]);
        assert_eq!(m.replicas("b"), 2);
        assert_eq!(m.referenced.len(), 2);
        let err = read(&[("c.yaml", "include: [../../etc/x.yaml]\nservices: {}\n")]).unwrap_err();
        assert!(err.contains("outside app.source"), "{err}");
    }
}
