use std::path::Path;

use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn args() -> InitArgs {
    InitArgs {
        host: Some("pve.lan".into()),
        vmid: Some(210),
        ..InitArgs::default()
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

const COMPOSE: &str = "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD}\n  web:\n    image: nginx\n    ports: [\"${PORT:-8080}:80\"]\n    environment:\n      DOMAIN: ${DOMAIN:?set DOMAIN}\n";

fn loaded(plan: &Plan) -> crate::config::Config {
    crate::config::parse_str(&plan.text, &plan.path, &no_env).unwrap()
}

#[test]
fn the_file_names_services_secrets_and_values_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "compose.yaml", COMPOSE);
    let plan = plan(&args(), None, dir.path(), &no_env).unwrap();
    assert_eq!(plan.path, dir.path().join("pxdeploy.toml"));
    let cfg = loaded(&plan);
    assert_eq!(cfg.health.services, Some(vec!["db".into(), "web".into()]));
    assert_eq!(
        cfg.env.secrets.get("DB_PASSWORD").and_then(|s| s.length()),
        Some(32)
    );
    assert_eq!(cfg.env.values.get("PORT").map(String::as_str), Some("8080"));
    assert_eq!(cfg.env.values.get("DOMAIN").map(String::as_str), Some(""));
    assert!(plan
        .text
        .contains("DOMAIN = \"\"  # required by the compose file"));
    assert_eq!(cfg.proxmox.host, "pve.lan");
    assert_eq!(cfg.vmid(), 210);
    assert_eq!(&*cfg.app.compose_file, "compose.yaml");
    assert!(plan.from_env.is_empty());
}

#[test]
fn proxmox_variables_fill_what_no_flag_gives() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", COMPOSE);
    let env = |var: &str| match var {
        "PROXMOX_HOST" => Some("10.0.0.5".to_string()),
        "PROXMOX_CONTAINER_ID" => Some("321".into()),
        "PROXMOX_CONTAINER_IP" => Some("192.168.7.20/24".into()),
        "PROXMOX_CONTAINER_GATEWAY" => Some("192.168.7.1".into()),
        "PROXMOX_USER" => Some("  ".into()),
        _ => None,
    };
    let a = InitArgs {
        host: Some("flag.lan".into()),
        ..InitArgs::default()
    };
    let plan = plan(&a, None, dir.path(), &env).unwrap();
    let cfg = loaded(&plan);
    assert_eq!(cfg.proxmox.host, "flag.lan", "a flag beats the variable");
    assert_eq!(cfg.vmid(), 321);
    assert_eq!(cfg.network().ip(), "192.168.7.20/24");
    assert_eq!(cfg.proxmox.user, None, "an empty variable counts as unset");
    assert_eq!(
        plan.from_env,
        [
            "PROXMOX_CONTAINER_ID",
            "PROXMOX_CONTAINER_IP",
            "PROXMOX_CONTAINER_GATEWAY"
        ]
    );
    assert!(plan
        .text
        .contains("vmid = 321  # from PROXMOX_CONTAINER_ID"));
}

#[test]
fn without_host_or_vmid_it_is_a_usage_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "compose.yml", COMPOSE);
    let a = InitArgs {
        host: Some("pve".into()),
        ..InitArgs::default()
    };
    let err = plan(&a, None, dir.path(), &no_env).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.render().contains("--vmid"), "{}", err.render());
}

#[test]
fn an_existing_file_is_refused_without_force() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "compose.yaml", COMPOSE);
    write(dir.path(), "pxdeploy.toml", "# mine\n");
    let err = plan(&args(), None, dir.path(), &no_env).unwrap_err();
    assert_eq!(err.exit_code(), 8);
    assert!(err.render().contains("--force"), "{}", err.render());
    let forced = InitArgs {
        force: true,
        ..args()
    };
    assert!(plan(&forced, None, dir.path(), &no_env).is_ok());
}

#[test]
fn a_link_is_refused_even_with_force_and_nothing_is_written_through_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "compose.yaml", COMPOSE);
    let target = dir.path().join("elsewhere");
    std::os::unix::fs::symlink(&target, dir.path().join("pxdeploy.toml")).unwrap();
    for force in [false, true] {
        let a = InitArgs { force, ..args() };
        let err = plan(&a, None, dir.path(), &no_env).unwrap_err();
        assert_eq!(err.exit_code(), 8);
        assert!(err.render().contains("symbolic link"), "{}", err.render());
    }
    // A link that appears after the plan: the write refuses it too.
    std::fs::remove_file(dir.path().join("pxdeploy.toml")).unwrap();
    let planned = plan(&args(), None, dir.path(), &no_env).unwrap();
    std::os::unix::fs::symlink(&target, &planned.path).unwrap();
    for force in [false, true] {
        assert_eq!(super::write(&planned, force).unwrap_err().exit_code(), 8);
    }
    assert!(!target.exists());
    std::fs::remove_file(&planned.path).unwrap();
    super::write(&planned, false).unwrap();
    assert_eq!(
        std::fs::read_to_string(&planned.path).unwrap(),
        planned.text
    );
}

#[test]
fn an_invalid_value_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "compose.yaml", COMPOSE);
    let a = InitArgs {
        ip: Some("192.168.1.10/24".into()),
        ..args()
    };
    let err = plan(&a, None, dir.path(), &no_env).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.render().contains("container.gateway"),
        "{}",
        err.render()
    );
}

#[test]
fn a_compose_file_elsewhere_becomes_the_source_and_a_folder_name_the_app_name() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("My App_");
    std::fs::create_dir(&app).unwrap();
    write(&app, "stack.yaml", "services:\n  api:\n    image: x\n");
    let a = InitArgs {
        compose_file: Some("My App_/stack.yaml".into()),
        ..args()
    };
    let plan = plan(&a, None, dir.path(), &no_env).unwrap();
    let cfg = loaded(&plan);
    assert_eq!(cfg.app.name, "my-app");
    assert_eq!(cfg.hostname(), "my-app");
    assert_eq!(cfg.compose_path(), app.join("stack.yaml"));
    assert!(cfg.env.secrets.is_empty() && cfg.env.values.is_empty());
}

#[test]
fn no_compose_file_names_what_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let err = plan(&args(), None, dir.path(), &no_env).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.render().contains("docker-compose.yml"),
        "{}",
        err.render()
    );
}

/// Issue 27: flag > environment > Taskfile > default, the Taskfile one folder up, and the
/// plan says which values came from where.
#[test]
fn taskfile_values_come_after_flags_and_the_environment() {
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("old_key");
    write(root.path(), "old_key", "key\n");
    write(
        root.path(),
        "Taskfile.yml",
        &format!("version: '3'\nenv:\n  PROXMOX_HOST: task.lan\n  PROXMOX_CONTAINER_ID: 222\n  PROXMOX_USER: '{{{{.USER}}}}'\nvars:\n  PROXMOX_SSH_KEY: {}\n  PROXMOX_CONTAINER_IP:\n    sh: echo 10.0.0.9/24\n", key.display()),
    );
    let app = root.path().join("app");
    std::fs::create_dir(&app).unwrap();
    write(&app, "docker-compose.prod.yml", COMPOSE);
    let env = |var: &str| (var == "PROXMOX_CONTAINER_ID").then(|| "333".to_string());
    let a = InitArgs {
        host: Some("flag.lan".into()),
        ..InitArgs::default()
    };
    let plan = plan(&a, None, &app, &env).unwrap();
    let cfg = loaded(&plan);
    assert_eq!(cfg.proxmox.host, "flag.lan", "the flag beats the Taskfile");
    assert_eq!(cfg.vmid(), 333, "the environment beats the Taskfile");
    let line = format!(
        "identity_file = \"{}\"  # from PROXMOX_SSH_KEY in the Taskfile",
        key.display()
    );
    assert!(plan.text.contains(&line), "{}", plan.text);
    assert_eq!(plan.from_taskfile, ["PROXMOX_SSH_KEY"]);
    assert_eq!(plan.from_env, ["PROXMOX_CONTAINER_ID"]);
    assert_eq!(
        plan.taskfile.as_deref(),
        Some(
            std::fs::canonicalize(root.path())
                .unwrap()
                .join("Taskfile.yml")
                .as_path()
        )
    );
    // Skipped, and nothing else gave them: the user is told, with the flag to use.
    let notes = plan.taskfile_notes.join("\n");
    assert!(
        notes.contains("PROXMOX_USER skipped: a template"),
        "{notes}"
    );
    assert!(
        notes.contains("PROXMOX_CONTAINER_IP skipped: a `sh:` command"),
        "{notes}"
    );
    assert!(notes.contains("pass --ip"), "{notes}");
    assert_eq!(cfg.network().ip(), "dhcp", "the default");
}

#[test]
fn a_taskfile_that_is_not_yaml_is_named_and_init_goes_on_without_it() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "Taskfile.yml", "env: [unclosed\n");
    write(root.path(), "compose.yaml", COMPOSE);
    let plan = plan(&args(), None, root.path(), &no_env).unwrap();
    assert!(plan.from_taskfile.is_empty());
    assert_eq!(plan.taskfile_notes.len(), 1);
    assert!(
        plan.taskfile_notes[0].contains("Taskfile.yml is not read"),
        "{:?}",
        plan.taskfile_notes
    );
}

/// The old scripts ran in the Taskfile's folder, so a relative `PROXMOX_SSH_KEY` there
/// names a file in that folder, not in the compose file's.
#[test]
fn a_relative_key_path_in_a_parent_taskfile_starts_at_the_taskfile() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("keys")).unwrap();
    write(root.path(), "keys/deploy", "key\n");
    write(
        root.path(),
        "Taskfile.yml",
        "env:\n  PROXMOX_SSH_KEY: keys/deploy\n",
    );
    let app = root.path().join("app");
    std::fs::create_dir(&app).unwrap();
    write(&app, "compose.yaml", COMPOSE);
    let plan = plan(&args(), None, &app, &no_env).unwrap();
    let key = std::fs::canonicalize(root.path())
        .unwrap()
        .join("keys/deploy");
    let cfg = loaded(&plan);
    assert_eq!(cfg.proxmox.identity_file.as_deref(), Some(key.as_path()));
}

/// The host only in a template: init cannot go on, and the error says why the Taskfile's
/// line was not used.
#[test]
fn a_host_the_taskfile_only_templates_is_missing_and_the_error_says_why() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Taskfile.yml",
        "env:\n  PROXMOX_HOST:\n    sh: cat host.txt\n  PROXMOX_CONTAINER_ID: 210\n",
    );
    write(dir.path(), "compose.yaml", COMPOSE);
    let err = plan(&InitArgs::default(), None, dir.path(), &no_env).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let text = err.render();
    assert!(
        text.contains("PROXMOX_HOST skipped: a `sh:` command, which pxdeploy does not run"),
        "{text}"
    );
    assert!(!dir.path().join("pxdeploy.toml").exists());
}

#[test]
fn init_vm_writes_a_vm_section_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nginx\n",
    )
    .unwrap();
    let args = InitArgs {
        host: Some("pve.lan".into()),
        vmid: Some(230),
        vm: true,
        image: Some("ubuntu-24.04".into()),
        ..InitArgs::default()
    };
    let plan = plan(&args, None, dir.path(), &|_| None).unwrap();
    assert!(plan.text.contains("\n[vm]\n"), "{}", plan.text);
    assert!(plan.text.contains("\nvmid = 230\n"), "{}", plan.text);
    assert!(plan.text.contains("\n\n[app]\n"), "{}", plan.text);
    assert!(
        plan.text.contains("image = \"ubuntu-24.04\""),
        "{}",
        plan.text
    );
    assert!(!plan.text.contains("[container]"), "{}", plan.text);
    let cfg = crate::config::parse_str(&plan.text, &plan.path, &|_| None).unwrap();
    assert_eq!(cfg.kind(), crate::config::GuestKind::Vm);
    assert_eq!(cfg.vmid(), 230);
    assert_eq!(
        cfg.vm().unwrap().image,
        crate::config::VmImage::Catalogue("ubuntu-24.04".into())
    );
}
