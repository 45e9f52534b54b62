//! Settings decided once, values never shown, absurd settings refused: each case here was a
//! bug on the way to a deploy (issue 8).

use super::tests::{assert_config_error, edited, load_edited, ok, Project, BASE};
use super::*;

/// `"apt "` is the apt path everywhere: the setting is read once, trimmed, and the commands
/// only ever see the typed value (`create` used to read the raw string untrimmed and ran
/// `apt ` as a custom command).
#[test]
fn docker_install_with_spaces_is_the_apt_path() {
    let cfg = ok("ip = \"dhcp\"", "ip = \"dhcp\"\ndocker_install = \"apt \"");
    assert_eq!(cfg.container().unwrap().docker_install, DockerInstall::Apt);
    let cfg = ok(
        "ip = \"dhcp\"",
        "ip = \"dhcp\"\ndocker_install = \" script\"",
    );
    assert_eq!(
        cfg.container().unwrap().docker_install,
        DockerInstall::Script
    );
}

/// The network is parsed once; `dhcp` is the only spelling of DHCP.
#[test]
fn network_is_typed_once() {
    let cfg = ok(
        "ip = \"dhcp\"",
        "ip = \"192.168.1.100/24\"\ngateway = \"192.168.1.1\"",
    );
    assert_eq!(cfg.network().ip(), "192.168.1.100/24");
    assert_eq!(
        cfg.network().gateway(),
        Some(std::net::Ipv4Addr::new(192, 168, 1, 1))
    );
    assert_config_error(
        load_edited("ip = \"dhcp\"", "ip = \"Dhcp\""),
        "container.ip",
    );
}

/// Loads BASE with `from` replaced by `to`; the error must be a config error naming the
/// file and `line`, and show none of `hidden`.
#[track_caller]
fn refused_without(from: &str, to: &str, line: usize, hidden: &[&str]) -> String {
    let err = load_edited(from, to).expect_err("should be invalid");
    let shown = err.render();
    assert_eq!(err.exit_code(), 3, "{shown}");
    assert!(
        shown.contains(&format!("pxdeploy.toml:{line}")),
        "should name the file and line {line}:\n{shown}"
    );
    for h in hidden {
        assert!(!shown.contains(h), "{h:?} shown:\n{shown}");
    }
    shown
}

/// `'pre"TAIL'` in [env.secrets]: the old redaction toggled on every `"` of the parser's
/// message and printed `TAIL`.
#[test]
fn a_secret_with_an_escaped_quote_is_not_shown() {
    let shown = refused_without(
        "POSTGRES_PASSWORD = 32",
        "POSTGRES_PASSWORD = 'pre\"TAIL'",
        14,
        &["TAIL", "pre"],
    );
    assert!(shown.contains("POSTGRES_PASSWORD"), "{shown}");
    refused_without(
        "POSTGRES_PASSWORD = 32",
        "POSTGRES_PASSWORD = \"pre\\\"TAIL\"",
        14,
        &["TAIL", "pre"],
    );
}

/// A secret typed as a number was printed as a length, a negative or fractional one by
/// the parser.
#[test]
fn a_numeric_secret_is_not_shown() {
    for secret in [
        "918273645546372",
        "-918273645546372",
        "9182736.45546372",
        "77777",
    ] {
        let shown = refused_without(
            "POSTGRES_PASSWORD = 32",
            &format!("POSTGRES_PASSWORD = {secret}"),
            14,
            &[secret.trim_start_matches('-')],
        );
        assert!(shown.contains("POSTGRES_PASSWORD"), "{shown}");
    }
}

/// `env.secrets.API_KEY = "…"` written at the top level: outside any `[env…]` header, the
/// old redaction did not apply.
#[test]
fn a_dotted_env_key_at_the_top_level_is_not_shown() {
    let text = format!(
        "env.secrets.API_KEY = \"s3cr3t-v4lue\"\n{}",
        BASE.replace("[env.secrets]\nPOSTGRES_PASSWORD = 32\n", "")
    );
    let err = Project::new(&text).load(&[]).unwrap_err();
    let shown = err.render();
    assert!(shown.contains("pxdeploy.toml:1"), "{shown}");
    assert!(shown.contains("API_KEY"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    let text = format!(
        "env = {{ values = {{ A = [\"s3cr3t-v4lue\"] }} }}\n{}",
        BASE.replace("[env.secrets]\nPOSTGRES_PASSWORD = 32\n", "")
            .replace("[env.values]\nDOMAIN = \"app.example.lan\"\n", "")
    );
    let shown = Project::new(&text).load(&[]).unwrap_err().render();
    assert!(shown.contains("pxdeploy.toml:1"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

/// The parser's words about a line under `env` (or inside a multi-line string, where the
/// table cannot be told) never quote it; file and line stay.
#[test]
fn parser_messages_about_env_lines_quote_nothing() {
    for (to, line) in [
        ("DOMAIN = \"x\" \"s3cr3t\"", 17),
        ("DOMAIN = s3cr3t", 17),
        ("DOMAIN = \"s3cr3t\\q\"", 17),
        ("DOMAIN = 's3cr3t", 17),
        ("DOMAIN = [\"s3cr3t\", 1979-05-27]", 17),
        ("DOMAIN = \"\"\"\n[app]\ns3cr3t = 1 2\n\"\"\" x", 20),
    ] {
        refused_without("DOMAIN = \"app.example.lan\"", to, line, &["s3cr3t"]);
    }
}

/// `PORT = 8080` and `DEBUG = true` are written as text; a fraction would be rewritten, so
/// it is refused (by key, without the value).
#[test]
fn numbers_and_booleans_are_values() {
    let cfg = ok(
        "DOMAIN = \"app.example.lan\"",
        "DOMAIN = \"app.example.lan\"\nPORT = 8080\nDEBUG = true\nOFFSET = -3",
    );
    assert_eq!(cfg.env.values["PORT"], "8080");
    assert_eq!(cfg.env.values["DEBUG"], "true");
    assert_eq!(cfg.env.values["OFFSET"], "-3");
    let shown = refused_without(
        "DOMAIN = \"app.example.lan\"",
        "DOMAIN = 3.14159",
        17,
        &["3.14"],
    );
    assert!(shown.contains("DOMAIN"), "{shown}");
}

/// Every time setting has an upper bound: `9223372036854775807` used to pass and then
/// panic ("overflow when adding duration to instant") after connecting.
#[test]
fn durations_have_an_upper_bound() {
    use super::validate::{CONNECT_TIMEOUT_MAX, HEALTH_INTERVAL_MAX, HEALTH_TIMEOUT_MAX};
    for (from, to, field, max) in [
        (
            "host = \"pve.lan\"",
            "host = \"pve.lan\"\nconnect_timeout_secs = ",
            "proxmox.connect_timeout_secs",
            CONNECT_TIMEOUT_MAX,
        ),
        (
            "timeout_secs = 120",
            "timeout_secs = ",
            "health.timeout_secs",
            HEALTH_TIMEOUT_MAX,
        ),
        (
            "timeout_secs = 120",
            "timeout_secs = 120\ninterval_secs = ",
            "health.interval_secs",
            HEALTH_INTERVAL_MAX,
        ),
    ] {
        for absurd in [u64::from(u32::MAX), 9_223_372_036_854_775_807, max + 1] {
            let err = assert_config_error(load_edited(from, &format!("{to}{absurd}")), field);
            assert!(
                err.to_string().contains(&format!("at most {max}")),
                "{}",
                err.render()
            );
        }
        ok(from, &format!("{to}{max}"));
    }
}

/// The root in any spelling is refused like `/`; other paths are stored normalised.
#[test]
fn remote_dir_is_normalised_before_it_is_checked() {
    for root in ["/", "/.", "/./", "/opt/..", "//", "/./opt/../."] {
        let err = assert_config_error(
            load_edited(
                "source = \"app\"",
                &format!("source = \"app\"\nremote_dir = \"{root}\""),
            ),
            "app.remote_dir",
        );
        assert!(
            err.to_string().contains("root directory"),
            "{root}: {}",
            err.render()
        );
    }
    let cfg = ok(
        "source = \"app\"",
        "source = \"app\"\nremote_dir = \"/srv/./my app//\"",
    );
    assert_eq!(cfg.app.remote_dir, "/srv/my app");
    assert_eq!(cfg.project().file, "/srv/my app/docker-compose.yml");
}

/// `.env` goes beside the compose file: an absolute path or `..` would put it outside
/// `remote_dir`. The files exist, so only the rule can refuse them.
#[test]
fn compose_file_stays_inside_the_source() {
    let project = Project::new(BASE);
    let folder = project.path().parent().unwrap().to_path_buf();
    std::fs::write(
        folder.join("outside.yml"),
        "services:\n  a:\n    image: x\n",
    )
    .unwrap();
    let inside = folder.join("app/docker-compose.yml");
    for bad in [
        "../outside.yml".to_string(),
        "./../outside.yml".to_string(),
        "sub/../../outside.yml".to_string(),
        inside.display().to_string(),
    ] {
        let text = edited(
            "source = \"app\"",
            &format!("source = \"app\"\ncompose_file = {:?}", bad),
        );
        std::fs::write(project.path(), text).unwrap();
        assert_config_error(project.load(&[]), "app.compose_file");
    }
    ok(
        "source = \"app\"",
        "source = \"app\"\ncompose_file = \"./docker-compose.yml\"",
    );
}

/// A NUL in any value is a configuration problem named by its key (the value not shown),
/// found before any connection.
#[test]
fn a_nul_in_any_value_is_refused_at_validation() {
    for (from, to, field) in [
        (
            "DOMAIN = \"app.example.lan\"",
            "DOMAIN = \"s3cr3t\\u0000x\"",
            "env.values.DOMAIN",
        ),
        (
            "source = \"app\"",
            "source = \"app\"\nremote_dir = \"/opt/a\\u0000b\"",
            "app.remote_dir",
        ),
        (
            "ip = \"dhcp\"",
            "ip = \"dhcp\"\ndocker_install = \"apt\\u0000\"",
            "container.docker_install",
        ),
        (
            "timeout_secs = 120",
            "timeout_secs = 120\nservices = [\"db\\u0000\"]",
            "health.services",
        ),
    ] {
        let err = assert_config_error(load_edited(from, to), field);
        assert!(err.render().contains("NUL"), "{}", err.render());
        assert!(!err.render().contains("s3cr3t"), "{}", err.render());
    }
}

/// `proxmox.host` takes what OpenSSH takes for a host: no shell metacharacters.
#[test]
fn host_accepts_only_names_addresses_and_aliases() {
    for bad in [
        "x;touch${IFS}/tmp/p;y",
        "a$(id)",
        "a`id`",
        "a|b",
        "a&b",
        "a'b",
        "a\"b",
        "a\\\\b",
        "a<b",
        "a{b}",
        "a,b",
        "root@pve",
        "-oProxyCommand=x",
    ] {
        assert_config_error(
            load_edited("host = \"pve.lan\"", &format!("host = \"{bad}\"")),
            "proxmox.host",
        );
    }
    for good in [
        "pve.lan",
        "pve",
        "192.168.1.10",
        "fd00::10",
        "my_pve-alias.2",
        "[pve]:22",
    ] {
        ok("host = \"pve.lan\"", &format!("host = \"{good}\""));
    }
}
