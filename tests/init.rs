//! `pxdeploy init` and `pxdeploy schema` as a user meets them: init in a copy of the example
//! app writes a file that loads and names its services, refuses to overwrite without
//! `--force`, never writes through a symbolic link; the schema accepts every example config
//! and refuses unknown keys and wrong types.

use std::path::Path;

use crate::support::{example_app, pxdeploy, repo_root};

fn no_env(_: &str) -> Option<String> {
    None
}

fn init(dir: &Path, extra: &[&str]) -> crate::support::Run {
    pxdeploy()
        .current_dir(dir)
        .args(["init", "--host", "127.0.0.1", "--vmid", "210"])
        .args(extra)
        .run()
}

#[test]
fn init_in_the_example_app_writes_a_valid_file_and_never_overwrites_without_force() {
    let app = example_app();
    let r = init(app.path(), &[]);
    r.assert_code(0).assert_stderr_contains("4 service(s)");
    let path = app.path().join("pxdeploy.toml");
    let cfg = pxdeploy::config::load_from(&path, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.health.services,
        Some(vec![
            "db".into(),
            "cache".into(),
            "api".into(),
            "web".into()
        ])
    );
    assert_eq!(
        cfg.env
            .secrets
            .get("POSTGRES_PASSWORD")
            .and_then(|s| s.length()),
        Some(32)
    );
    assert_eq!(
        cfg.env.secrets.get("SECRET_KEY").and_then(|s| s.length()),
        Some(32)
    );
    assert_eq!(
        cfg.env.values.get("DOMAIN").map(String::as_str),
        Some("localhost")
    );

    // Twice: refused (exit 8), the file untouched; --force replaces it.
    std::fs::write(&path, "# my own edits\n").unwrap();
    init(app.path(), &["--name", "other"])
        .assert_code(8)
        .assert_stderr_contains("--force");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# my own edits\n");
    init(app.path(), &["--force"]).assert_code(0);
    let cfg = pxdeploy::config::load_from(&path, &no_env).unwrap();
    assert_eq!(cfg.vmid(), 210);
}

/// A `pxdeploy.toml` that is a symbolic link (dangling, or to a file elsewhere) is refused,
/// with `--force` too: init never writes through a link (issue 22), so the link's target is
/// neither created nor changed.
#[test]
fn init_refuses_a_symbolic_link_named_pxdeploy_toml() {
    let app = example_app();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("x");
    let link = app.path().join("pxdeploy.toml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for flags in [&[][..], &["--force"][..]] {
        init(app.path(), flags)
            .assert_code(8)
            .assert_stderr_contains("is a symbolic link");
        assert!(!target.exists(), "init {flags:?} wrote through the link");
        assert!(link.symlink_metadata().unwrap().is_symlink());
    }
    // A link to an existing file: the file is kept as it is.
    std::fs::write(&target, "# someone else's file\n").unwrap();
    init(app.path(), &["--force"]).assert_code(8);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "# someone else's file\n"
    );
}

#[test]
fn init_turns_compose_variables_into_secrets_and_values_and_reads_proxmox_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD}\n  web:\n    image: nginx\n    ports: [\"${PORT:-8080}:80\"]\n",
    )
    .unwrap();
    let r = pxdeploy()
        .current_dir(dir.path())
        .env("PROXMOX_HOST", "pve.example")
        .env("PROXMOX_CONTAINER_ID", "305")
        .args(["init", "-o", "json"])
        .run();
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["secrets"], serde_json::json!(["DB_PASSWORD"]));
    assert_eq!(doc["values"], serde_json::json!(["PORT"]));
    let cfg = pxdeploy::config::load_from(&dir.path().join("pxdeploy.toml"), &no_env).unwrap();
    assert_eq!(
        cfg.env.secrets.get("DB_PASSWORD").and_then(|s| s.length()),
        Some(32)
    );
    assert_eq!(cfg.env.values.get("PORT").map(String::as_str), Some("8080"));
    assert_eq!(cfg.proxmox.host, "pve.example");
    assert_eq!(cfg.vmid(), 305);
    assert_eq!(cfg.health.services, Some(vec!["db".into(), "web".into()]));

    // Without a host it says what is missing, and writes nothing.
    let empty = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("compose.yaml"),
        empty.path().join("compose.yaml"),
    )
    .unwrap();
    pxdeploy()
        .current_dir(empty.path())
        .args(["init", "--vmid", "300"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("--host");
    assert!(!empty.path().join("pxdeploy.toml").exists());
}

fn validator() -> jsonschema::Validator {
    let r = pxdeploy().arg("schema").run();
    r.assert_code(0);
    let schema: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn as_json(toml_text: &str) -> serde_json::Value {
    toml::from_str(toml_text).unwrap()
}

fn errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn the_schema_accepts_every_example_and_refuses_unknown_keys_and_wrong_types() {
    let v = validator();
    let mut checked = 0;
    // examples/*.toml
    for e in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            let doc = as_json(&std::fs::read_to_string(&path).unwrap());
            assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{}", path.display());
            checked += 1;
        }
    }
    // The real-world apps' extra keys, on the base the real-world test gives them.
    let fixtures = repo_root().join("tests/fixtures/real-world");
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let extra = e.unwrap().path().join("pxdeploy.extra.toml");
        if let Ok(text) = std::fs::read_to_string(&extra) {
            let mut base: toml::Table = "[proxmox]\nhost = \"pve\"\n[container]\nvmid = 300\nhostname = \"app\"\n[app]\nname = \"app\"\ncompose_file = \"compose.yaml\"\n".parse().unwrap();
            crate::support::sim::merge(&mut base, text.parse().unwrap());
            let doc = serde_json::to_value(&base).unwrap();
            assert_eq!(
                errors(&v, &doc),
                Vec::<String>::new(),
                "{}",
                extra.display()
            );
            checked += 1;
        }
    }
    // What init writes.
    let app = example_app();
    init(app.path(), &[]).assert_code(0);
    let doc = as_json(&std::fs::read_to_string(app.path().join("pxdeploy.toml")).unwrap());
    assert_eq!(errors(&v, &doc), Vec::<String>::new(), "init's file");
    assert!(checked >= 3, "only {checked} example configs found");

    let example = std::fs::read_to_string(repo_root().join("examples/pxdeploy.toml")).unwrap();
    let bad = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = as_json(&example);
        edit(&mut doc);
        errors(&v, &doc)
    };
    let unknown = bad(&|d| d["backup"]["keep_lats"] = 3.into());
    assert!(
        unknown.iter().any(|e| e.contains("keep_lats")),
        "{unknown:?}"
    );
    let top = bad(&|d| d["deploy_"] = serde_json::json!({}));
    assert!(!top.is_empty(), "an unknown table is refused");
    let wrong = bad(&|d| d["container"]["vmid"] = "210".into());
    assert!(
        wrong.iter().any(|e| e.contains("/container/vmid")),
        "{wrong:?}"
    );
    let secret = bad(&|d| d["env"]["secrets"]["API_TOKEN"] = "hunter2".into());
    assert!(
        !secret.is_empty(),
        "a secret's value is refused: it takes a length"
    );
    let pasted = bad(&|d| {
        d["env"]["secrets"]["API_TOKEN"] = serde_json::json!({ "from_env": "hunter2 pasted!" })
    });
    assert!(
        !pasted.is_empty(),
        "a from_env that is no variable name is refused"
    );
    let mode = bad(&|d| d["backup"]["mode"] = "hourly".into());
    assert!(!mode.is_empty(), "an unknown backup mode is refused");
}

#[test]
fn the_committed_schema_is_what_pxdeploy_schema_prints() {
    let r = pxdeploy().arg("schema").run();
    r.assert_code(0);
    let committed = std::fs::read_to_string(repo_root().join("docs/pxdeploy.schema.json")).unwrap();
    assert!(
        committed == r.stdout,
        "docs/pxdeploy.schema.json is stale: regenerate it with `cargo run -- schema > docs/pxdeploy.schema.json`"
    );
    let example = std::fs::read_to_string(repo_root().join("examples/pxdeploy.toml")).unwrap();
    assert_eq!(
        example.lines().next(),
        Some("#:schema ../docs/pxdeploy.schema.json"),
        "examples/pxdeploy.toml names the schema for taplo"
    );
}

/// Issue 27: a user of the old scripts runs `pxdeploy init` in the folder that holds only
/// their `docker-compose.prod.yml`, with the old `Taskfile.yml` one folder up. init finds
/// the compose file, takes the plain `PROXMOX_*` values of the Taskfile (`env:` before
/// `vars:`; the environment before both), says which it took, and skips a template and an
/// `sh:` value with a word why, never running the `sh:` command.
#[test]
fn init_in_the_old_scripts_folder_finds_the_prod_compose_file_and_the_taskfile_values() {
    let root = tempfile::tempdir().unwrap();
    let ran = root.path().join("sh-was-run");
    let taskfile = format!(
        "version: '3'\n\
         env:\n  PROXMOX_HOST: 192.168.1.10\n  PROXMOX_CONTAINER_ID: 210\n  PROXMOX_USER: '{{{{.USER}}}}'\n  PROXMOX_SSH_KEY:\n    sh: touch {}\n\
         vars:\n  PROXMOX_HOST: ignored.lan\n  PROXMOX_CONTAINER_IP: 192.168.1.50/24\n  PROXMOX_CONTAINER_GATEWAY: 192.168.1.1\n\
         tasks:\n  deploy:\n    cmds: [./deploy.sh]\n",
        ran.display()
    );
    std::fs::write(root.path().join("Taskfile.yml"), taskfile).unwrap();
    let app = root.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        app.join("docker-compose.prod.yml"),
        "services:\n  web:\n    image: nginx\n",
    )
    .unwrap();

    let r = pxdeploy()
        .current_dir(&app)
        .env("PROXMOX_CONTAINER_ID", "305")
        .args(["init"])
        .run();
    r.assert_code(0)
        .assert_stderr_contains("Taskfile.yml")
        .assert_stderr_contains(
            "Taskfile.yml: PROXMOX_HOST, PROXMOX_CONTAINER_IP, PROXMOX_CONTAINER_GATEWAY",
        )
        .assert_stderr_contains("PROXMOX_USER skipped: a template")
        .assert_stderr_contains("PROXMOX_SSH_KEY skipped: a `sh:` command")
        .assert_stderr_contains("from the environment: PROXMOX_CONTAINER_ID");
    assert!(!ran.exists(), "init ran the Taskfile's sh: command");
    let cfg = pxdeploy::config::load_from(&app.join("pxdeploy.toml"), &no_env).unwrap();
    assert_eq!(&*cfg.app.compose_file, "docker-compose.prod.yml");
    assert_eq!(cfg.proxmox.host, "192.168.1.10", "env: before vars:");
    assert_eq!(cfg.proxmox.user, None, "a template is no value");
    assert_eq!(cfg.vmid(), 305, "the environment before the Taskfile");
    assert_eq!(cfg.network().ip(), "192.168.1.50/24");
    assert_eq!(cfg.health.services, Some(vec!["web".into()]));
    let text = std::fs::read_to_string(app.join("pxdeploy.toml")).unwrap();
    assert!(
        text.contains("host = \"192.168.1.10\"  # from PROXMOX_HOST in the Taskfile"),
        "{text}"
    );
}

/// Two compose-ish files and none of Compose's own names: init cannot choose, so it lists
/// both and asks for `--compose-file` (exit 3, nothing written); with it, init works.
#[test]
fn init_with_two_compose_files_lists_both_and_asks_for_compose_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["docker-compose.prod.yml", "docker-compose.dev.yaml"] {
        std::fs::write(
            dir.path().join(name),
            "services:\n  web:\n    image: nginx\n",
        )
        .unwrap();
    }
    init(dir.path(), &[])
        .assert_code(3)
        .assert_stderr_contains("docker-compose.dev.yaml")
        .assert_stderr_contains("docker-compose.prod.yml")
        .assert_stderr_contains("--compose-file");
    assert!(!dir.path().join("pxdeploy.toml").exists());
    init(dir.path(), &["--compose-file", "docker-compose.prod.yml"]).assert_code(0);
}
