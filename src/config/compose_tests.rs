//! `[app] compose_file` as a list, `[app] profiles`, and what the compose files reference.

use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::error::Error;

fn load_app(app: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Config, Error>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let text = format!(
        "[proxmox]\nhost = \"pve\"\n[container]\nvmid = 210\nhostname = \"h\"\n[app]\nname = \"myapp\"\nsource = \"app\"\n{app}"
    );
    std::fs::write(dir.path().join("pxdeploy.toml"), text).unwrap();
    let env: HashMap<String, String> = HashMap::new();
    let cfg = load_from(&dir.path().join("pxdeploy.toml"), &move |k: &str| {
        env.get(k).cloned()
    });
    (dir, cfg)
}

fn err_text(r: Result<Config, Error>) -> String {
    let e = r.expect_err("should be invalid");
    e.render()
}

const BASE: &str = "services:\n  db:\n    image: x\n  web:\n    image: x\n    restart: always\n";
const PROD: &str =
    "services:\n  web:\n    restart: \"no\"\n  debug:\n    image: x\n    profiles: [debug]\n";

#[test]
fn compose_file_takes_a_list_and_later_files_override() {
    let (_d, cfg) = load_app(
        "compose_file = [\"compose.yaml\", \"compose.prod.yaml\"]\n",
        &[("app/compose.yaml", BASE), ("app/compose.prod.yaml", PROD)],
    );
    let cfg = cfg.unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(
        cfg.app.compose_file.all(),
        ["compose.yaml", "compose.prod.yaml"]
    );
    assert_eq!(cfg.compose_services, ["db", "web"]);
    assert!(cfg.compose.one_shot("web"), "the later file's restart wins");
    let p = cfg.project();
    assert_eq!(
        p.up_argv().join(" "),
        "docker compose -p myapp -f /opt/myapp/compose.yaml -f /opt/myapp/compose.prod.yaml up -d --build --remove-orphans"
    );
}

#[test]
fn profiles_activate_services_and_go_on_every_command() {
    let (_d, cfg) = load_app(
        "compose_file = [\"compose.yaml\", \"compose.prod.yaml\"]\nprofiles = [\"debug\"]\n",
        &[("app/compose.yaml", BASE), ("app/compose.prod.yaml", PROD)],
    );
    let cfg = cfg.unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(cfg.health_services(), ["db", "web", "debug"]);
    let p = cfg.project();
    assert!(p.up().contains(" --profile debug up -d"), "{}", p.up());
    assert!(
        p.ps().contains("-p myapp --profile debug ps -a"),
        "{}",
        p.ps()
    );
    assert!(p.logs(None, None, false).contains("--profile debug logs"));
    let (_d, bad) = load_app("profiles = [\"\"]\n", &[("app/docker-compose.yml", BASE)]);
    assert!(err_text(bad).contains("app.profiles"));
}

#[test]
fn a_missing_file_of_the_list_is_named() {
    let (_d, cfg) = load_app(
        "compose_file = [\"compose.yaml\", \"compose.prod.yaml\"]\n",
        &[("app/compose.yaml", BASE)],
    );
    let text = err_text(cfg);
    assert!(text.contains("compose.prod.yaml does not exist"), "{text}");
    let (_d, cfg) = load_app("compose_file = []\n", &[("app/compose.yaml", BASE)]);
    assert!(err_text(cfg).contains("app.compose_file"));
}

#[test]
fn include_and_extends_are_read_inside_the_source_and_refused_outside() {
    let files = [
        (
            "app/docker-compose.yml",
            "include:\n  - db/compose.yaml\nservices:\n  web:\n    extends: {file: common.yaml, service: base}\n    image: x\n",
        ),
        ("app/db/compose.yaml", "services:\n  db:\n    image: x\n    restart: always\n"),
        ("app/common.yaml", "services:\n  base:\n    restart: \"no\"\n"),
    ];
    let (d, cfg) = load_app("", &files);
    let cfg = cfg.unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(cfg.compose_services, ["db", "web"]);
    assert!(
        cfg.compose.one_shot("web"),
        "restart comes from the extended service"
    );
    assert!(!cfg.compose.one_shot("db"));
    assert!(cfg
        .compose
        .referenced
        .iter()
        .any(|p| p.ends_with(Path::new("app/common.yaml"))));
    drop(d);

    let (_d, cfg) = load_app(
        "",
        &[
            (
                "app/docker-compose.yml",
                "include:\n  - ../shared/compose.yaml\nservices:\n  web:\n    image: x\n",
            ),
            ("shared/compose.yaml", "services:\n  db:\n    image: x\n"),
        ],
    );
    let text = err_text(cfg);
    assert!(text.contains("app.compose_file"), "{text}");
    assert!(text.contains("shared/compose.yaml"), "{text}");
    assert!(text.contains("outside app.source"), "{text}");
    let (_d, cfg) = load_app(
        "",
        &[(
            "app/docker-compose.yml",
            "services:\n  web:\n    extends: {file: /etc/base.yaml, service: web}\n",
        )],
    );
    assert!(err_text(cfg).contains("/etc/base.yaml"));
}

#[test]
fn a_compose_project_name_other_than_app_name_is_a_warning_naming_both() {
    let (_d, cfg) = load_app(
        "",
        &[(
            "app/docker-compose.yml",
            "name: shop\nservices:\n  web:\n    image: x\n",
        )],
    );
    let w = cfg.unwrap().warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("\"shop\"") && w[0].contains("\"myapp\""),
        "{}",
        w[0]
    );
    let (_d, cfg) = load_app(
        "",
        &[(
            "app/docker-compose.yml",
            "name: myapp\nservices:\n  web:\n    image: x\n",
        )],
    );
    assert!(cfg.unwrap().warnings().is_empty());
}

#[test]
fn waiting_for_a_service_of_an_inactive_profile_is_an_error_naming_the_profile() {
    let (_d, cfg) = load_app(
        "compose_file = [\"compose.yaml\", \"compose.prod.yaml\"]\n[health]\nservices = [\"debug\"]\n",
        &[("app/compose.yaml", BASE), ("app/compose.prod.yaml", PROD)],
    );
    let text = err_text(cfg);
    assert!(
        text.contains("health.services") && text.contains("profile(s) debug"),
        "{text}"
    );
}
