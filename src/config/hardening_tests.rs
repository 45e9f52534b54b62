//! Settings decided once, values never shown, absurd settings refused: each case here was a
//! bug on the way to a deploy (issue 8).

use super::tests::{assert_config_error, load_edited, ok};
use super::*;

/// `"apt "` is the apt path everywhere: the setting is read once, trimmed, and the commands
/// only ever see the typed value (`create` used to read the raw string untrimmed and ran
/// `apt ` as a custom command).
#[test]
fn docker_install_with_spaces_is_the_apt_path() {
    let cfg = ok("ip = \"dhcp\"", "ip = \"dhcp\"\ndocker_install = \"apt \"");
    assert_eq!(cfg.container.docker_install, DockerInstall::Apt);
    let cfg = ok("ip = \"dhcp\"", "ip = \"dhcp\"\ndocker_install = \" script\"");
    assert_eq!(cfg.container.docker_install, DockerInstall::Script);
}

/// The network is parsed once; `dhcp` is the only spelling of DHCP.
#[test]
fn network_is_typed_once() {
    let cfg = ok(
        "ip = \"dhcp\"",
        "ip = \"192.168.1.100/24\"\ngateway = \"192.168.1.1\"",
    );
    assert_eq!(cfg.container.network.ip(), "192.168.1.100/24");
    assert_eq!(
        cfg.container.network.gateway(),
        Some(std::net::Ipv4Addr::new(192, 168, 1, 1))
    );
    assert_config_error(load_edited("ip = \"dhcp\"", "ip = \"Dhcp\""), "container.ip");
}
