//! Known breakages of Docker inside LXC that pxdeploy recognises, explains, and whose way out
//! works when the user takes it.

use super::session;
use crate::support::{example_app, small_app};

/// runc's CVE-2025-52881 fix inside LXC on a node without the AppArmor fix (runc #4968):
/// `check` warns about the container's runc version, a deploy explains the failure and the
/// two ways out (exit 5), and the second way out (`lxc.apparmor.profile: unconfined`) works.
#[test]
fn the_runc_apparmor_breakage_is_explained_and_check_warns() {
    let s = session(6, example_app());
    let (node, vmid) = (s.node(), s.vmid());
    node.set_knob(&format!("runc_version.{vmid}"), "1.3.3");
    // Node-wide, but only a container with a runc_version knob is affected.
    node.set_knob("lxc_pve_version", "6.0.5-1");
    s.config("[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 32\n")
        .create();

    s.run(&["check"])
        .expect_says(&format!(
            "container {vmid} has runc 1.3.3 and the node lxc-pve 6.0.5-1"
        ))
        .expect_says("CVE-2025-52881");

    let mut refused = s.deploy().expect_exit(5);
    for says in [
        "Docker cannot start containers there",
        "CVE-2025-52881",
        "ip_unprivileged_port_start",
        "`lxc-pve` 6.0.5-2 or newer",
        &format!("`lxc.apparmor.profile: unconfined` to /etc/pve/lxc/{vmid}.conf"),
        "not recommended for production use",
    ] {
        refused = refused.expect_says(says);
    }

    // The second way out, as a user would take it.
    let conf = std::fs::read_dir(node.state_dir().join("etc/pve/nodes"))
        .unwrap()
        .map(|n| n.unwrap().path().join(format!("lxc/{vmid}.conf")))
        .find(|p| p.exists())
        .expect("the container's config");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}lxc.apparmor.profile: unconfined\n")).unwrap();
    s.pct("stop", &[]).assert_success();
    s.deploy().expect_ok();
    s.run(&["check"]).expect_never_says("CVE-2025-52881");

    node.unset_knob("lxc_pve_version");
}

/// Compose where `pct exec` does not look (issue 23 item 6): a real node runs `pct exec` with
/// PATH `/sbin:/bin:/usr/sbin:/usr/bin`, so pip's `/usr/local/bin/docker-compose` is not found
/// by name. `create` looks for it by its full path and says how to make it the plugin; the
/// command it gives works, and then `deploy` does (Docker finds the plugin in
/// `/usr/local/lib/docker/cli-plugins` whatever the PATH).
#[test]
fn compose_only_under_usr_local_is_found_by_its_path_and_the_fix_works() {
    let s = session(17, small_app());
    let vmid = s.vmid();
    s.node()
        .set_knob(&format!("compose_dir.{vmid}"), "/usr/local/bin");
    let link = "mkdir -p /usr/local/lib/docker/cli-plugins && ln -sf /usr/local/bin/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose";
    s.run(&["create"])
        .expect_exit(5)
        .expect_says("only as a standalone `/usr/local/bin/docker-compose`")
        .expect_says(&format!("pct exec {vmid} -- sh -c '{link}'"));
    s.sh(link);
    s.deploy().expect_ok();
}
