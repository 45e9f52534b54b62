//! The configuration as a table: every invalid case names its key and exits 3; env
//! precedence; discovery; parse errors with their line; the shipped example.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::error::Error;

pub(super) const BASE: &str = r#"[proxmox]
host = "pve.lan"

[container]
vmid = 210
hostname = "myapp"
ip = "dhcp"

[app]
name = "myapp"
source = "app"

[env.secrets]
POSTGRES_PASSWORD = 32

[env.values]
DOMAIN = "app.example.lan"

[health]
timeout_secs = 120

[backup]
keep_last = 7
"#;

const COMPOSE: &str = "services:\n  db:\n    image: x\n  cache:\n    image: x\n  api:\n    image: x\n  web:\n    image: x\n";

/// A project folder: `pxdeploy.toml` with `text`, `app/docker-compose.yml`, and a key file.
pub(super) struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub(super) fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/docker-compose.yml"), COMPOSE).unwrap();
        std::fs::write(dir.path().join("id_test"), "not really a key").unwrap();
        std::fs::write(dir.path().join("pxdeploy.toml"), text).unwrap();
        Project { dir }
    }
    pub(super) fn path(&self) -> PathBuf {
        self.dir.path().join("pxdeploy.toml")
    }
    pub(super) fn load(&self, env: &[(&str, &str)]) -> Result<Config, Error> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_from(&self.path(), &move |k: &str| env.get(k).cloned())
    }
}

/// BASE with `from` (which must occur) replaced by `to`.
pub(super) fn edited(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} is not in BASE");
    BASE.replacen(from, to, 1)
}

pub(super) fn load_edited(from: &str, to: &str) -> Result<Config, Error> {
    Project::new(&edited(from, to)).load(&[])
}

pub(super) fn ok(from: &str, to: &str) -> Config {
    load_edited(from, to).unwrap_or_else(|e| panic!("should be valid:\n{}", e.render()))
}

#[track_caller]
pub(super) fn assert_config_error(result: Result<Config, Error>, field: &str) -> Error {
    let err = result.expect_err("should be invalid");
    let text = err.to_string();
    assert_eq!(err.exit_code(), 3, "{text}");
    assert!(
        text.contains(field),
        "message should name {field:?}:\n{}",
        err.render()
    );
    assert!(
        text.contains("pxdeploy.toml"),
        "message should name the file:\n{text}"
    );
    err
}

/// One test per invalid case: (name: replace `from` by `to` in BASE => the key named).
macro_rules! invalid {
    ($($name:ident: $from:expr => $to:expr, $field:expr;)*) => {
        mod invalid {
            use super::*;
            $(
                #[test]
                fn $name() {
                    assert_config_error(load_edited($from, $to), $field);
                }
            )*
        }
    };
}

invalid! {
    vmid_below_100: "vmid = 210" => "vmid = 99", "container.vmid";
    vmid_above_max: "vmid = 210" => "vmid = 1000000000", "container.vmid";
    vmid_zero: "vmid = 210" => "vmid = 0", "container.vmid";
    vmid_missing: "vmid = 210\n" => "", "container.vmid";
    host_missing: "host = \"pve.lan\"\n" => "", "proxmox.host";
    host_empty: "host = \"pve.lan\"" => "host = \"\"", "proxmox.host";
    host_with_space: "host = \"pve.lan\"" => "host = \"pve lan\"", "proxmox.host";
    user_empty: "host = \"pve.lan\"" => "host = \"pve.lan\"\nuser = \"\"", "proxmox.user";
    port_zero: "host = \"pve.lan\"" => "host = \"pve.lan\"\nport = 0", "proxmox.port";
    connect_timeout_zero: "host = \"pve.lan\"" => "host = \"pve.lan\"\nconnect_timeout_secs = 0", "proxmox.connect_timeout_secs";
    identity_file_missing: "host = \"pve.lan\"" => "host = \"pve.lan\"\nidentity_file = \"no-such-key\"", "proxmox.identity_file";
    hostname_uppercase: "hostname = \"myapp\"" => "hostname = \"MyApp\"", "container.hostname";
    hostname_underscore: "hostname = \"myapp\"" => "hostname = \"my_app\"", "container.hostname";
    hostname_leading_hyphen: "hostname = \"myapp\"" => "hostname = \"-myapp\"", "container.hostname";
    hostname_trailing_hyphen: "hostname = \"myapp\"" => "hostname = \"my.app-\"", "container.hostname";
    hostname_empty: "hostname = \"myapp\"" => "hostname = \"\"", "container.hostname";
    hostname_empty_label: "hostname = \"myapp\"" => "hostname = \"my..app\"", "container.hostname";
    hostname_label_64: "hostname = \"myapp\"" => &format!("hostname = \"{}\"", "a".repeat(64)), "container.hostname";
    hostname_254_chars: "hostname = \"myapp\"" => &format!("hostname = \"{}\"", vec!["a".repeat(63); 4].join(".")), "container.hostname";
    hostname_shell: "hostname = \"myapp\"" => "hostname = \"a;reboot\"", "container.hostname";
    template_empty: "ip = \"dhcp\"" => "ip = \"dhcp\"\ntemplate = \"\"", "container.template";
    template_bad_volid: "ip = \"dhcp\"" => "ip = \"dhcp\"\ntemplate = \"local:debian.tar.zst\"", "container.template";
    storage_uppercase: "ip = \"dhcp\"" => "ip = \"dhcp\"\nstorage = \"Local\"", "container.storage";
    template_storage_bad: "ip = \"dhcp\"" => "ip = \"dhcp\"\ntemplate_storage = \"a b\"", "container.template_storage";
    disk_zero: "ip = \"dhcp\"" => "ip = \"dhcp\"\ndisk_gb = 0", "container.disk_gb";
    memory_zero: "ip = \"dhcp\"" => "ip = \"dhcp\"\nmemory_mb = 0", "container.memory_mb";
    memory_below_16: "ip = \"dhcp\"" => "ip = \"dhcp\"\nmemory_mb = 15", "container.memory_mb";
    cores_zero: "ip = \"dhcp\"" => "ip = \"dhcp\"\ncores = 0", "container.cores";
    cores_too_many: "ip = \"dhcp\"" => "ip = \"dhcp\"\ncores = 9000", "container.cores";
    bridge_empty: "ip = \"dhcp\"" => "ip = \"dhcp\"\nbridge = \"\"", "container.bridge";
    bridge_too_long: "ip = \"dhcp\"" => "ip = \"dhcp\"\nbridge = \"vmbr0123456789ab\"", "container.bridge";
    ip_without_prefix: "ip = \"dhcp\"" => "ip = \"192.168.1.100\"\ngateway = \"192.168.1.1\"", "container.ip";
    ip_prefix_0: "ip = \"dhcp\"" => "ip = \"192.168.1.100/0\"\ngateway = \"192.168.1.1\"", "container.ip";
    ip_prefix_33: "ip = \"dhcp\"" => "ip = \"192.168.1.100/33\"\ngateway = \"192.168.1.1\"", "container.ip";
    ip_bad_octet: "ip = \"dhcp\"" => "ip = \"192.168.1.300/24\"\ngateway = \"192.168.1.1\"", "container.ip";
    ip_ipv6: "ip = \"dhcp\"" => "ip = \"fd00::5/64\"\ngateway = \"fd00::1\"", "container.ip";
    ip_network_address: "ip = \"dhcp\"" => "ip = \"192.168.1.0/24\"\ngateway = \"192.168.1.1\"", "container.ip";
    ip_broadcast_address: "ip = \"dhcp\"" => "ip = \"192.168.1.255/24\"\ngateway = \"192.168.1.1\"", "container.ip";
    ip_word: "ip = \"dhcp\"" => "ip = \"DHCP\"", "container.ip";
    static_ip_without_gateway: "ip = \"dhcp\"" => "ip = \"192.168.1.100/24\"", "container.gateway";
    gateway_outside_subnet: "ip = \"dhcp\"" => "ip = \"192.168.1.100/24\"\ngateway = \"192.168.2.1\"", "container.gateway";
    gateway_with_prefix: "ip = \"dhcp\"" => "ip = \"192.168.1.100/24\"\ngateway = \"192.168.1.1/24\"", "container.gateway";
    gateway_is_own_address: "ip = \"dhcp\"" => "ip = \"192.168.1.100/24\"\ngateway = \"192.168.1.100\"", "container.gateway";
    gateway_with_dhcp: "ip = \"dhcp\"" => "ip = \"dhcp\"\ngateway = \"192.168.1.1\"", "container.gateway";
    docker_install_empty: "ip = \"dhcp\"" => "ip = \"dhcp\"\ndocker_install = \"  \"", "container.docker_install";
    app_name_uppercase: "[app]\nname = \"myapp\"" => "[app]\nname = \"MyApp\"", "app.name";
    app_name_leading_underscore: "[app]\nname = \"myapp\"" => "[app]\nname = \"_myapp\"", "app.name";
    app_name_space: "[app]\nname = \"myapp\"" => "[app]\nname = \"my app\"", "app.name";
    app_name_empty: "[app]\nname = \"myapp\"" => "[app]\nname = \"\"", "app.name";
    source_missing: "source = \"app\"" => "source = \"nope\"", "app.source";
    compose_file_missing: "source = \"app\"" => "source = \"app\"\ncompose_file = \"docker-compose.prod.yml\"", "app.compose_file";
    remote_dir_relative: "source = \"app\"" => "source = \"app\"\nremote_dir = \"opt/myapp\"", "app.remote_dir";
    remote_dir_dotdot: "source = \"app\"" => "source = \"app\"\nremote_dir = \"/opt/../etc\"", "app.remote_dir";
    remote_dir_root: "source = \"app\"" => "source = \"app\"\nremote_dir = \"/\"", "app.remote_dir";
    remote_dir_newline: "source = \"app\"" => "source = \"app\"\nremote_dir = \"/opt/a\\nb\"", "app.remote_dir";
    secret_bad_name: "POSTGRES_PASSWORD = 32" => "POSTGRES_PASSWORD = 32\n1PASSWORD = 32", "env.secrets.1PASSWORD";
    secret_too_short: "POSTGRES_PASSWORD = 32" => "POSTGRES_PASSWORD = 8", "env.secrets.POSTGRES_PASSWORD";
    secret_too_long: "POSTGRES_PASSWORD = 32" => "POSTGRES_PASSWORD = 4097", "env.secrets.POSTGRES_PASSWORD";
    value_bad_name: "DOMAIN = " => "\"MY-DOMAIN\" = ", "env.values.MY-DOMAIN";
    key_in_secrets_and_values: "DOMAIN = " => "POSTGRES_PASSWORD = \"x\"\nDOMAIN = ", "env.values.POSTGRES_PASSWORD";
    health_service_unknown: "timeout_secs = 120" => "timeout_secs = 120\nservices = [\"db\", \"redis\"]", "health.services";
    health_service_twice: "timeout_secs = 120" => "timeout_secs = 120\nservices = [\"db\", \"db\"]", "health.services";
    health_timeout_zero: "timeout_secs = 120" => "timeout_secs = 0", "health.timeout_secs";
    health_interval_zero: "timeout_secs = 120" => "timeout_secs = 120\ninterval_secs = 0", "health.interval_secs";
    backup_keep_last_zero: "keep_last = 7" => "keep_last = 0", "backup.keep_last";
    deploy_keep_snapshots_zero: "keep_last = 7" => "keep_last = 7\n[deploy]\nkeep_snapshots = 0", "deploy.keep_snapshots";
    backup_compress_unknown: "keep_last = 7" => "keep_last = 7\ncompress = \"xz\"", "backup.compress";
    backup_storage_bad: "keep_last = 7" => "keep_last = 7\nstorage = \"\"", "backup.storage";
    deploy_keep_releases_zero: "keep_last = 7" => "keep_last = 7\n[deploy]\nkeep_releases = 0", "deploy.keep_releases";
    deploy_on_failure_unknown: "keep_last = 7" => "keep_last = 7\n[deploy]\non_failure = \"retry\"", "pxdeploy.toml:25:14: deploy.on_failure";
    deploy_unknown_key: "keep_last = 7" => "keep_last = 7\n[deploy]\nkeep = 3", "keep";
    // Type and enum errors come from the parser: they name the key's line.
    swap_negative: "ip = \"dhcp\"" => "ip = \"dhcp\"\nswap_mb = -1", "pxdeploy.toml:8:";
    vmid_string: "vmid = 210" => "vmid = \"abc\"", "pxdeploy.toml:5:";
    backup_mode_unknown: "keep_last = 7" => "keep_last = 7\nmode = \"fast\"", "pxdeploy.toml:24:";
    host_key_check_unknown: "host = \"pve.lan\"" => "host = \"pve.lan\"\nhost_key_check = \"off\"", "pxdeploy.toml:3:";
    hostname_missing: "hostname = \"myapp\"\n" => "", "hostname";
}

/// vzdump refuses stop mode for an HA-managed container (pve-manager PVE/VZDump.pm:939-945):
/// `ha = true` with `mode = "stop"` is exit 3 with the fix; each alone is fine.
#[test]
fn ha_with_stop_mode_backups_is_refused_with_the_fix() {
    let with_mode = |mode: &str| {
        edited("ip = \"dhcp\"", "ip = \"dhcp\"\nha = true").replacen(
            "keep_last = 7",
            &format!("keep_last = 7\nmode = \"{mode}\""),
            1,
        )
    };
    let err = assert_config_error(Project::new(&with_mode("stop")).load(&[]), "backup.mode");
    let text = err.render();
    assert!(text.contains("ha = true"), "{text}");
    assert!(
        text.contains("mode = \"snapshot\" or \"suspend\""),
        "{text}"
    );
    for mode in ["snapshot", "suspend"] {
        let cfg = Project::new(&with_mode(mode)).load(&[]);
        assert!(cfg.is_ok_and(|c| c.ha()), "{mode}");
    }
    assert_eq!(
        ok("keep_last = 7", "keep_last = 7\nmode = \"stop\"")
            .backup
            .mode,
        BackupMode::Stop
    );
}

#[test]
fn base_config_is_valid_and_defaults_are_filled_in() {
    let cfg = Project::new(BASE).load(&[]).unwrap();
    assert_eq!(cfg.proxmox.host, "pve.lan");
    assert_eq!(cfg.proxmox.user, None);
    assert_eq!(cfg.proxmox.port, None);
    assert_eq!(cfg.proxmox.host_key_check, HostKeyCheck::Strict);
    assert_eq!(cfg.proxmox.connect_timeout_secs, 10);
    assert!(cfg.proxmox.known_hosts_path().ends_with(".ssh/known_hosts"));
    assert_eq!(cfg.vmid(), 210);
    assert_eq!(cfg.container().unwrap().template, "debian-12-standard");
    assert_eq!(cfg.storage(), "local-lvm");
    assert_eq!(cfg.container().unwrap().template_storage, "local");
    assert_eq!(
        (
            cfg.container().unwrap().disk_gb,
            cfg.container().unwrap().memory_mb,
            cfg.container().unwrap().swap_mb,
            cfg.container().unwrap().cores
        ),
        (16, 4096, 512, 2)
    );
    assert_eq!(cfg.bridge(), "vmbr0");
    assert!(cfg.container().unwrap().unprivileged && cfg.container().unwrap().onboot);
    assert_eq!(cfg.network(), &IpConfig::Dhcp);
    assert_eq!(
        cfg.container().unwrap().docker_install,
        DockerInstall::Script
    );
    assert_eq!(cfg.app.remote_dir, "/opt/myapp");
    assert_eq!(cfg.app.remote_dir, "/opt/myapp");
    assert_eq!(cfg.app.compose_file, "docker-compose.yml");
    assert_eq!(cfg.health_services(), ["db", "cache", "api", "web"]);
    assert_eq!(cfg.compose_services, ["db", "cache", "api", "web"]);
    assert_eq!(
        (cfg.health.timeout_secs, cfg.health.interval_secs),
        (120, 2)
    );
    assert_eq!(cfg.backup.storage, "local");
    assert_eq!(cfg.backup.mode, BackupMode::Snapshot);
    assert_eq!(cfg.backup.compress, "zstd");
    assert_eq!(cfg.backup.keep_last, 7);
    assert_eq!(cfg.deploy.keep_releases, 5);
    assert_eq!(cfg.deploy.on_failure, crate::config::OnFailure::Rollback);
    assert!(cfg.path.is_absolute());
    assert!(cfg.env_overrides.is_empty());
    assert!(cfg.warnings().is_empty());
}

#[test]
fn paths_are_resolved_from_the_config_files_folder() {
    let p = Project::new(BASE);
    let cfg = p.load(&[]).unwrap();
    assert_eq!(cfg.source_dir(), p.dir.path().join("app"));
    assert_eq!(
        cfg.compose_path(),
        p.dir.path().join("app/docker-compose.yml")
    );

    let cfg = Project::new(&edited(
        "source = \"app\"",
        "source = \".\"\ncompose_file = \"app/docker-compose.yml\"",
    ))
    .load(&[])
    .unwrap();
    assert_eq!(cfg.source_dir(), cfg.config_dir());
    assert!(cfg.compose_path().ends_with("app/docker-compose.yml"));
}

#[test]
fn valid_variants() {
    let cfg = ok(
        "ip = \"dhcp\"",
        "ip = \"192.168.1.100/24\"\ngateway = \"192.168.1.1\"",
    );
    assert_eq!(
        cfg.network(),
        &IpConfig::Static {
            addr: "192.168.1.100".parse().unwrap(),
            prefix: 24,
            gateway: Some("192.168.1.1".parse().unwrap())
        }
    );
    // /31 and /32: no network or broadcast address to refuse.
    ok(
        "ip = \"dhcp\"",
        "ip = \"10.0.0.0/31\"\ngateway = \"10.0.0.1\"",
    );
    ok(
        "ip = \"dhcp\"",
        "ip = \"10.0.0.1/8\"\ngateway = \"10.255.255.254\"",
    );

    let cfg = ok("ip = \"dhcp\"", "ip = \"dhcp\"\ndocker_install = \"apt\"");
    assert_eq!(cfg.container().unwrap().docker_install, DockerInstall::Apt);
    let cfg = ok(
        "ip = \"dhcp\"",
        "ip = \"dhcp\"\ndocker_install = \"apk add docker\"",
    );
    assert_eq!(
        cfg.container().unwrap().docker_install,
        DockerInstall::Custom("apk add docker".into())
    );

    let cfg = ok("hostname = \"myapp\"", "hostname = \"app-1.lan\"");
    assert_eq!(cfg.hostname(), "app-1.lan");
    ok(
        "hostname = \"myapp\"",
        &format!("hostname = \"{}\"", "a".repeat(63)),
    );

    let cfg = ok(
        "ip = \"dhcp\"",
        "ip = \"dhcp\"\nunprivileged = false\nswap_mb = 0",
    );
    assert!(!cfg.container().unwrap().unprivileged);
    assert_eq!(cfg.warnings().len(), 1);
    assert!(cfg.warnings()[0].contains("container.unprivileged"));

    let cfg = ok(
        "ip = \"dhcp\"",
        "ip = \"dhcp\"\ntemplate = \"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\"",
    );
    assert!(cfg
        .container()
        .unwrap()
        .template
        .starts_with("local:vztmpl/"));

    let cfg = ok(
        "timeout_secs = 120",
        "timeout_secs = 120\nservices = [\"web\", \"db\"]",
    );
    assert_eq!(cfg.health_services(), ["web", "db"]);
    let cfg = ok("timeout_secs = 120", "timeout_secs = 120\nservices = []");
    assert!(cfg.health_services().is_empty());

    let cfg = ok(
        "source = \"app\"",
        "source = \"app\"\nremote_dir = \"/srv/my app/\"",
    );
    assert_eq!(cfg.app.remote_dir, "/srv/my app");

    let cfg = ok("[app]\nname = \"myapp\"", "[app]\nname = \"0my_app-2\"");
    assert_eq!(cfg.app.remote_dir, "/opt/0my_app-2");

    for compress in ["0", "1", "gzip", "lzo", "zstd"] {
        ok(
            "keep_last = 7",
            &format!("keep_last = 7\ncompress = \"{compress}\""),
        );
    }
    for (mode, want) in [
        ("snapshot", BackupMode::Snapshot),
        ("suspend", BackupMode::Suspend),
        ("stop", BackupMode::Stop),
    ] {
        let cfg = ok(
            "keep_last = 7",
            &format!("keep_last = 7\nmode = \"{mode}\""),
        );
        assert_eq!(cfg.backup.mode, want);
        assert_eq!(cfg.backup.mode.as_str(), mode);
    }
    let cfg = ok(
        "host = \"pve.lan\"",
        "host = \"pve.lan\"\nhost_key_check = \"accept-new\"\nuser = \"deploy\"\nport = 2222",
    );
    assert_eq!(cfg.proxmox.host_key_check, HostKeyCheck::AcceptNew);
    assert_eq!(cfg.proxmox.user.as_deref(), Some("deploy"));
    assert_eq!(cfg.proxmox.port, Some(2222));

    ok(
        "POSTGRES_PASSWORD = 32",
        "POSTGRES_PASSWORD = 16\n_LONG = 4096",
    );
}

#[test]
fn identity_file_and_known_hosts_are_expanded() {
    let p = Project::new(&edited(
        "host = \"pve.lan\"",
        "host = \"pve.lan\"\nidentity_file = \"id_test\"\nknown_hosts = \"~/kh\"",
    ));
    let cfg = p.load(&[("HOME", "/home/someone")]).unwrap();
    assert_eq!(
        cfg.proxmox.identity_file,
        Some(p.dir.path().join("id_test"))
    );
    assert_eq!(
        cfg.proxmox.known_hosts,
        Some(PathBuf::from("/home/someone/kh"))
    );
    assert_eq!(
        cfg.proxmox.known_hosts_path(),
        PathBuf::from("/home/someone/kh")
    );

    let key = p.dir.path().join("id_test");
    let cfg = Project::new(&edited(
        "host = \"pve.lan\"",
        "host = \"pve.lan\"\nidentity_file = \"~/id_test\"",
    ))
    .load(&[("HOME", p.dir.path().to_str().unwrap())])
    .unwrap();
    assert_eq!(cfg.proxmox.identity_file, Some(key));
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = BASE
        .replace("vmid = 210", "vmid = 5")
        .replace("hostname = \"myapp\"", "hostname = \"My_App\"")
        .replace("keep_last = 7", "keep_last = 0");
    let err = assert_config_error(Project::new(&text).load(&[]), "container.vmid");
    assert_eq!(err.causes.len(), 3, "{}", err.render());
    assert!(err.message.contains("3 problems"), "{}", err.message);
    assert!(
        err.causes[0].contains("pxdeploy.toml:5: container.vmid"),
        "{:?}",
        err.causes
    );
    assert!(
        err.causes[1].contains("pxdeploy.toml:6: container.hostname"),
        "{:?}",
        err.causes
    );
    assert!(
        err.causes[2].contains("pxdeploy.toml:23: backup.keep_last"),
        "{:?}",
        err.causes
    );
}

#[test]
fn a_single_problem_names_file_line_and_key() {
    let err = assert_config_error(load_edited("vmid = 210", "vmid = 42"), "container.vmid");
    assert!(err.causes.is_empty());
    assert!(
        err.message.ends_with(
            "pxdeploy.toml:5: container.vmid: 42 is out of range: Proxmox ids are 100–999999999"
        ),
        "{}",
        err.message
    );
}

#[test]
fn unknown_key_names_the_key_the_table_and_the_line() {
    let text = edited("ip = \"dhcp\"", "ip = \"dhcp\"\nmemroy = 4096");
    let p = Project::new(&text);
    let err = p.load(&[]).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let want = format!(
        "{}:8:1: unknown field `memroy` in [container], expected one of",
        p.path().display()
    );
    assert!(
        err.message.starts_with(&want),
        "{}\nwanted: {want}",
        err.message
    );
    assert!(err.message.contains("`memory_mb`"), "{}", err.message);
    assert_eq!(err.hint.as_deref(), Some("did you mean `memory_mb`?"));

    let err = load_edited("[backup]", "[backups]").unwrap_err();
    assert!(err.message.contains(":22:"), "{}", err.message);
    assert!(
        err.message.contains("unknown field `backups`, expected"),
        "{}",
        err.message
    );
    assert_eq!(err.hint.as_deref(), Some("did you mean `backup`?"));
    let err = load_edited("[env.values]", "[env.valeus]").unwrap_err();
    assert!(
        err.message
            .contains(":16:6: unknown field `valeus` in [env], expected"),
        "{}",
        err.message
    );
    assert_eq!(err.hint.as_deref(), Some("did you mean `values`?"));

    let err = load_edited("[health]", "[health]\nservises = []").unwrap_err();
    assert!(
        err.message
            .contains(":20:1: unknown field `servises` in [health]"),
        "{}",
        err.message
    );
}

#[test]
fn a_secret_typed_in_by_mistake_is_not_echoed() {
    let err = load_edited(
        "POSTGRES_PASSWORD = 32",
        "POSTGRES_PASSWORD = \"hunter2-hunter2\"",
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.message.contains(":14:"), "{}", err.message);
    assert!(!err.render().contains("hunter2"), "{}", err.render());
}

#[test]
fn syntax_errors_name_file_and_line() {
    let err = load_edited("vmid = 210", "vmid = 210\nhostname = ").unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.message.contains("pxdeploy.toml:6:"), "{}", err.message);
    let err = load_edited("[app]", "[app]\n[app]").unwrap_err();
    assert!(err.message.contains("pxdeploy.toml:10:"), "{}", err.message);
}

#[test]
fn environment_overrides_the_file() {
    // (environment, key, expected value as text)
    type Case = (
        &'static [(&'static str, &'static str)],
        fn(&Config) -> String,
        &'static str,
    );
    let table: &[Case] = &[
        (&[], |c| c.proxmox.host.clone(), "pve.lan"),
        (
            &[("PROXMOX_HOST", "other.lan")],
            |c| c.proxmox.host.clone(),
            "other.lan",
        ),
        (
            &[("PROXMOX_HOST", "")],
            |c| c.proxmox.host.clone(),
            "pve.lan",
        ),
        (
            &[("PROXMOX_USER", "deploy")],
            |c| format!("{:?}", c.proxmox.user),
            "Some(\"deploy\")",
        ),
        (
            &[("PROXMOX_USER", "")],
            |c| format!("{:?}", c.proxmox.user),
            "None",
        ),
        (
            &[("PROXMOX_CONTAINER_ID", "345")],
            |c| c.vmid().to_string(),
            "345",
        ),
        (
            &[("PROXMOX_CONTAINER_ID", " 345 ")],
            |c| c.vmid().to_string(),
            "345",
        ),
        (
            &[("PROXMOX_CONTAINER_ID", "")],
            |c| c.vmid().to_string(),
            "210",
        ),
        (
            &[
                ("PROXMOX_CONTAINER_IP", "10.1.2.3/16"),
                ("PROXMOX_CONTAINER_GATEWAY", "10.1.0.1"),
            ],
            |c| format!("{:?}", c.network()),
            "Static { addr: 10.1.2.3, prefix: 16, gateway: Some(10.1.0.1) }",
        ),
    ];
    for (env, get, want) in table {
        let cfg = Project::new(BASE)
            .load(env)
            .unwrap_or_else(|e| panic!("{env:?}: {}", e.render()));
        assert_eq!(get(&cfg), *want, "{env:?}");
        let set: Vec<_> = env
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| *k)
            .collect();
        let recorded: Vec<_> = cfg.env_overrides.iter().map(|o| o.var).collect();
        assert_eq!(recorded, set, "{env:?}");
    }
}

#[test]
fn ssh_key_from_the_environment() {
    let p = Project::new(BASE);
    let key = p.dir.path().join("id_test");
    let cfg = p
        .load(&[("PROXMOX_SSH_KEY", key.to_str().unwrap())])
        .unwrap();
    assert_eq!(cfg.proxmox.identity_file, Some(key));
    assert_eq!(
        cfg.env_overrides,
        [EnvOverride {
            var: "PROXMOX_SSH_KEY",
            field: "proxmox.identity_file"
        }]
    );
    let err = assert_config_error(
        p.load(&[("PROXMOX_SSH_KEY", "/no/such/key")]),
        "proxmox.identity_file",
    );
    assert!(err.message.contains("PROXMOX_SSH_KEY"), "{}", err.message);
}

#[test]
fn required_keys_may_come_from_the_environment_alone() {
    let text = BASE
        .replace("[proxmox]\nhost = \"pve.lan\"\n", "")
        .replace("vmid = 210\n", "");
    let p = Project::new(&text);
    let cfg = p
        .load(&[("PROXMOX_HOST", "ci-pve"), ("PROXMOX_CONTAINER_ID", "777")])
        .unwrap();
    assert_eq!(cfg.proxmox.host, "ci-pve");
    assert_eq!(cfg.vmid(), 777);

    let err = assert_config_error(p.load(&[]), "proxmox.host");
    assert!(
        err.causes.iter().any(|c| c.contains("container.vmid")),
        "{}",
        err.render()
    );
    assert!(err.render().contains("PROXMOX_HOST"), "{}", err.render());
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    for (value, detail) in [
        ("abc", "is not a container id"),
        ("99", "out of range"),
        ("-5", "is not a container id"),
    ] {
        let err = assert_config_error(
            Project::new(BASE).load(&[("PROXMOX_CONTAINER_ID", value)]),
            "container.vmid",
        );
        assert!(
            err.message.contains("PROXMOX_CONTAINER_ID"),
            "{}",
            err.message
        );
        assert!(err.message.contains(detail), "{}", err.message);
    }
    let err = assert_config_error(
        Project::new(BASE).load(&[("PROXMOX_CONTAINER_IP", "10.0.0.5/24")]),
        "container.gateway",
    );
    assert!(
        err.message.contains("required with a static ip"),
        "{}",
        err.message
    );
    let err = assert_config_error(
        Project::new(BASE).load(&[("PROXMOX_CONTAINER_GATEWAY", "10.0.0.1")]),
        "container.gateway (from PROXMOX_CONTAINER_GATEWAY)",
    );
    assert!(err.message.contains("dhcp"), "{}", err.message);
}

#[test]
fn discovery_finds_the_nearest_parent() {
    let root = tempfile::tempdir().unwrap();
    let deep = root.path().join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    assert_eq!(discover(&deep), None);

    std::fs::write(root.path().join("pxdeploy.toml"), "").unwrap();
    assert_eq!(discover(&deep), Some(root.path().join("pxdeploy.toml")));
    std::fs::write(root.path().join("a/pxdeploy.toml"), "").unwrap();
    assert_eq!(discover(&deep), Some(root.path().join("a/pxdeploy.toml")));
    // A directory of that name is not a config file.
    std::fs::create_dir(deep.join("pxdeploy.toml")).unwrap();
    assert_eq!(discover(&deep), Some(root.path().join("a/pxdeploy.toml")));
}

#[test]
fn load_with_discovers_or_takes_the_flag() {
    let p = Project::new(BASE);
    let sub = p.dir.path().join("app");
    let no_env = |_: &str| None;

    let cfg = load_with(None, &sub, &no_env).unwrap();
    assert_eq!(cfg.path, p.path());

    // -c (or PXDEPLOY_CONFIG): relative to the current directory, wins over discovery.
    std::fs::write(sub.join("other.toml"), BASE.replace("\"app\"", "\".\"")).unwrap();
    let global = Path::new("other.toml");
    let cfg = load_with(Some(global), &sub, &no_env).unwrap();
    assert_eq!(cfg.path, sub.join("other.toml"));

    let global = Path::new("missing.toml");
    let err = load_with(Some(global), &sub, &no_env).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.message.contains("missing.toml"), "{}", err.message);
    assert!(err.hint.unwrap().contains("-c"));

    // An empty PXDEPLOY_CONFIG counts as unset.
    let global = Path::new("");
    assert_eq!(
        load_with(Some(global), &sub, &no_env).unwrap().path,
        p.path()
    );
}

#[test]
fn no_config_anywhere_says_where_it_looked() {
    let empty = tempfile::tempdir().unwrap();
    let err = load_with(None, empty.path(), &|_| None).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.message.contains(&empty.path().display().to_string()),
        "{}",
        err.message
    );
    assert!(err.message.contains("pxdeploy.toml"), "{}", err.message);
    let hint = err.hint.unwrap();
    assert!(
        hint.contains("examples/pxdeploy.toml") && hint.contains("-c"),
        "{hint}"
    );
}

#[test]
fn a_broken_compose_file_is_named_with_its_line() {
    let p = Project::new(BASE);
    std::fs::write(
        p.dir.path().join("app/docker-compose.yml"),
        "services:\n  db:\n    image: [unclosed\n",
    )
    .unwrap();
    let err = assert_config_error(p.load(&[]), "app.compose_file");
    assert!(
        err.message.contains("docker-compose.yml:"),
        "{}",
        err.message
    );

    std::fs::write(
        p.dir.path().join("app/docker-compose.yml"),
        "version: '3'\n",
    )
    .unwrap();
    let err = assert_config_error(p.load(&[]), "app.compose_file");
    assert!(err.message.contains("no `services:`"), "{}", err.message);
}

#[test]
fn line_and_column_of_an_offset() {
    let text = "a\nbc\néd = 1\n";
    assert_eq!(parse_error::line_col(text, 0), (1, 1));
    assert_eq!(parse_error::line_col(text, 2), (2, 1));
    assert_eq!(parse_error::line_col(text, 3), (2, 2));
    assert_eq!(parse_error::line_col(text, 7), (3, 2)); // 'é' is two bytes, one column
    assert_eq!(parse_error::key_line(BASE, "container.vmid"), Some(5));
    assert_eq!(
        parse_error::key_line(BASE, "env.secrets.POSTGRES_PASSWORD"),
        Some(14)
    );
    assert_eq!(
        parse_error::key_line("container.vmid = 5\n", "container.vmid"),
        Some(1)
    );
    assert_eq!(parse_error::key_line(BASE, "container.gateway"), None);
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Every key of the model: each is written in examples/pxdeploy.toml and documented in
/// docs/configuration.md (both checked below).
const EVERY_KEY: &[&str] = &[
    "host",
    "user",
    "port",
    "identity_file",
    "known_hosts",
    "host_key_check",
    "connect_timeout_secs",
    "jump",
    "vmid",
    "hostname",
    "template",
    "template_storage",
    "storage",
    "disk_gb",
    "memory_mb",
    "swap_mb",
    "cores",
    "bridge",
    "vlan",
    "ip",
    "gateway",
    "nameserver",
    "unprivileged",
    "onboot",
    "protection",
    "tags",
    "docker_install",
    "name",
    "source",
    "compose_file",
    "remote_dir",
    "[env.secrets]",
    "[env.values]",
    "services",
    "timeout_secs",
    "interval_secs",
    "mode",
    "compress",
    "keep_last",
];

#[test]
fn the_shipped_example_is_valid_and_complete() {
    let path = repo_file("examples/pxdeploy.toml");
    let cfg = load_from(&path, &|_| None).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(cfg.source_dir(), repo_file("examples/app"));
    assert_eq!(cfg.health_services(), ["db", "cache", "api", "web"]);
    assert_eq!(cfg.network(), &IpConfig::Dhcp);

    let text = std::fs::read_to_string(&path).unwrap();
    for key in EVERY_KEY {
        let written = if key.starts_with('[') {
            text.contains(key)
        } else {
            text.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} ="))
            })
        };
        assert!(written, "examples/pxdeploy.toml does not show `{key}`");
    }
}

#[test]
fn the_docs_describe_every_key_and_variable() {
    let docs = std::fs::read_to_string(repo_file("docs/configuration.md")).unwrap();
    for key in EVERY_KEY {
        // `[env.secrets]` as written; plain keys in backticks.
        assert!(
            docs.contains(&format!("`{key}`")),
            "docs/configuration.md does not describe `{key}`"
        );
    }
    for (var, _) in ENV_VARS {
        assert!(
            docs.contains(var),
            "docs/configuration.md does not mention {var}"
        );
    }
    let codes = std::fs::read_to_string(repo_file("docs/exit-codes.md")).unwrap();
    for code in [
        "| 0 ", "| 1 ", "| 2 ", "| 3 ", "| 4 ", "| 5 ", "| 6 ", "| 7 ", "| 8 ", "| 130 ",
    ] {
        assert!(codes.contains(code), "docs/exit-codes.md lacks {code}");
    }
}

#[test]
fn jump_is_parsed_once_validated_and_may_come_from_the_environment() {
    let with = |jump: &str| BASE.replace("[proxmox]\n", &format!("[proxmox]\njump = {jump:?}\n"));
    let cfg = Project::new(&with("admin@bastion:2222,inner"))
        .load(&[])
        .unwrap();
    let hops = cfg.proxmox.jump_hosts.clone().expect("parsed");
    assert_eq!(
        hops.iter()
            .map(|h| (h.user.as_deref(), h.host.as_str(), h.port))
            .collect::<Vec<_>>(),
        vec![
            (Some("admin"), "bastion", Some(2222)),
            (None, "inner", None)
        ]
    );
    let cfg = Project::new(BASE).load(&[]).unwrap();
    assert_eq!(cfg.proxmox.jump_hosts, None, "not set: ProxyJump may apply");
    let cfg = Project::new(&with("none")).load(&[]).unwrap();
    assert_eq!(cfg.proxmox.jump_hosts, Some(vec![]), "none: direct");

    let err = assert_config_error(Project::new(&with("root@b:0")).load(&[]), "proxmox.jump");
    assert!(err.render().contains("not a port"), "{}", err.render());
    let err = assert_config_error(Project::new(&with("b;id")).load(&[]), "proxmox.jump");
    assert!(err.render().contains("ssh -J"), "{}", err.render());

    let cfg = Project::new(&with("file-bastion"))
        .load(&[("PROXMOX_JUMP", "ci@ci-bastion:22")])
        .unwrap();
    assert_eq!(cfg.proxmox.jump_hosts.unwrap()[0].host, "ci-bastion");
    assert_eq!(
        cfg.env_overrides,
        [EnvOverride {
            var: "PROXMOX_JUMP",
            field: "proxmox.jump"
        }]
    );
}
