//! Issue 22: a service that can write into the app folder plants links to make the next
//! deploy write (as root) outside it; a deploy's lock taken over while it waits for health.
//! One simulated node, one container, one story (real sshd, dockerd and Compose inside).

use std::path::Path;
use std::time::Duration;

use crate::support::release_story::{compose, releases, run_in, start_script, Story, DOCKERFILE};
use crate::support::{create, pxdeploy, write, SimHost};

#[track_caller]
fn ok_in_ct(sim: &SimHost, vmid: u32, script: &str) -> String {
    let r = sim.sh_in_container(vmid, script);
    r.assert_success();
    r.stdout
}

/// A refused deploy: exit 5 naming `path` as a link, nothing written in `outside`.
#[track_caller]
fn refused(sim: &SimHost, vmid: u32, root: &Path, path: &str, outside: &str) {
    let r = run_in(root, &["deploy"]);
    r.assert_code(5);
    r.assert_stderr_contains(&format!("{path} is a symbolic link"));
    assert_eq!(
        ok_in_ct(sim, vmid, &format!("ls -A {outside}")),
        "",
        "wrote outside the app folder: {}",
        r.dump()
    );
}

#[test]
fn planted_links_are_refused_and_a_lock_taken_over_mid_deploy_records_nothing() {
    let Story { sim, dir, vmid } = Story::start("pxdeploy-links-", 64, 90);
    let root = dir.path();
    let a = root.join("app");
    write(a.join("docker-compose.yml"), &compose(30));
    write(a.join("web/Dockerfile"), DOCKERFILE);
    write(a.join("web/start.sh"), &start_script(0));
    write(a.join("web/version"), "A\n");
    write(a.join("conf.d/app.conf"), "one\n");
    write(a.join("data/seed.txt"), "seed\n");
    create(root);
    run_in(root, &["deploy"]).assert_success();

    // The lock taken over while the deploy waits for health (the host gave it up, another
    // run took it): the deploy does not record its result and exits 7.
    write(a.join("web/start.sh"), &start_script(8));
    write(a.join("web/version"), "C\n");
    let mut slow = pxdeploy()
        .current_dir(root)
        .args(["-o", "json", "deploy"])
        .timeout(Duration::from_secs(240))
        .spawn();
    slow.wait_for_stderr("Waiting for", Duration::from_secs(180));
    sim.ssh_ok(&format!(
        "printf 'mallory@ci since 2026-12-07T00:00:00Z\\nnot-yours\\n' > /run/pxdeploy/pxdeploy-{vmid}.holder"
    ));
    let lost = slow.wait();
    lost.assert_code(7);
    lost.assert_stderr_contains("was lost before the deploy finished");
    lost.assert_stderr_contains("mallory@ci");
    let c = lost.json()["release"].as_str().unwrap().to_string();
    let list = releases(root);
    let result = list
        .iter()
        .find(|(i, _, _)| *i == c)
        .map(|(_, r, _)| r.as_str());
    assert_eq!(result, Some("pending"), "{list:?}");
    assert!(
        sim.sh_in_container(vmid, "test -e /opt/app/.pxdeploy-deployed")
            .status
            != 0,
        "the fingerprint marker was written"
    );
    // The next deploy records its own.
    write(a.join("web/start.sh"), &start_script(0));
    run_in(root, &["deploy"]).assert_success();
    assert_eq!(releases(root).last().unwrap().1, "healthy");

    // A copy of a release store in the source folder: never pushed over the container's.
    write(a.join(".pxdeploy/current"), "20200101T000000Z-00000000\n");
    write(a.join(".pxdeploy/releases/x/facts"), "id=x\n");
    write(a.join("web/version"), "D\n");
    let d = run_in(root, &["-o", "json", "deploy"]);
    d.assert_success();
    let id = d.json()["release"].as_str().unwrap().to_string();
    assert_eq!(
        ok_in_ct(&sim, vmid, "cat /opt/app/.pxdeploy/current"),
        format!("{id}\n")
    );
    assert_eq!(
        ok_in_ct(&sim, vmid, "stat -c %a /opt/app/.pxdeploy"),
        "700\n",
        "the local folder's mode was applied to the store"
    );
    let manifest = ok_in_ct(
        &sim,
        vmid,
        &format!("cat /opt/app/.pxdeploy/releases/{id}/manifest"),
    );
    assert!(
        !manifest.contains(" .pxdeploy"),
        "the release holds the local store:\n{manifest}"
    );
    let kept = ok_in_ct(&sim, vmid, "ls /opt/app/.pxdeploy/releases");
    assert!(
        kept.lines().all(|l| l.len() == id.len()),
        "pushed the local store: {kept}"
    );
    ok_in_ct(&sim, vmid, "mkdir -m 700 /srv/outside");

    // The store itself, and a folder in it, linked out of the app folder.
    ok_in_ct(
        &sim,
        vmid,
        "mv /opt/app/.pxdeploy /opt/saved && ln -s /srv/outside /opt/app/.pxdeploy",
    );
    write(a.join("web/version"), "B\n");
    refused(&sim, vmid, root, "/opt/app/.pxdeploy", "/srv/outside");
    ok_in_ct(
        &sim,
        vmid,
        "rm /opt/app/.pxdeploy && mv /opt/saved /opt/app/.pxdeploy && \
         mv /opt/app/.pxdeploy/releases /opt/saved && ln -s /srv/outside /opt/app/.pxdeploy/releases",
    );
    refused(
        &sim,
        vmid,
        root,
        "/opt/app/.pxdeploy/releases",
        "/srv/outside",
    );
    ok_in_ct(
        &sim,
        vmid,
        "rm /opt/app/.pxdeploy/releases && mv /opt/saved /opt/app/.pxdeploy/releases",
    );

    // A folder of the tree linked out of the app folder (a service's bind mount of the app
    // folder can do it): the change inside it is refused, nothing written where it points.
    ok_in_ct(
        &sim,
        vmid,
        "rm -r /opt/app/conf.d && ln -s /srv/outside /opt/app/conf.d",
    );
    write(a.join("conf.d/app.conf"), "two\n");
    refused(&sim, vmid, root, "/opt/app/conf.d", "/srv/outside");
    // Put back, the next deploy finishes the switch left in the journal, then its own.
    ok_in_ct(&sim, vmid, "rm /opt/app/conf.d && mkdir /opt/app/conf.d");
    run_in(root, &["deploy"]).assert_success();
    assert_eq!(
        ok_in_ct(&sim, vmid, "cat /opt/app/conf.d/app.conf"),
        "two\n"
    );

    // `data` moved to another disk and linked: a deploy that deletes the file it pushed
    // there is refused, and the linked folder keeps everything.
    ok_in_ct(
        &sim,
        vmid,
        "mv /opt/app/data /srv/bigdata && ln -s /srv/bigdata /opt/app/data",
    );
    std::fs::remove_file(a.join("data/seed.txt")).unwrap();
    let r = run_in(root, &["deploy"]);
    r.assert_code(5);
    r.assert_stderr_contains("/opt/app/data is a symbolic link");
    assert_eq!(
        ok_in_ct(
            &sim,
            vmid,
            "ls /srv/bigdata; test -L /opt/app/data && echo linked"
        ),
        "seed.txt\nservice.txt\nlinked\n"
    );
    ok_in_ct(
        &sim,
        vmid,
        "rm /opt/app/data && mv /srv/bigdata /opt/app/data",
    );
    run_in(root, &["deploy"]).assert_success();
    assert_eq!(
        ok_in_ct(&sim, vmid, "ls /opt/app/data"),
        "service.txt\n",
        "the file pushed before is deleted, the service's stays"
    );
}
