//! Releases (issue 9): incremental push that deletes what it pushed before and nothing else,
//! automatic rollback of a deploy whose health wait failed, `rollback` with no local source,
//! a connection killed mid-push, a planted link in the store. One simulated node, one
//! container, one story (real sshd, real dockerd and Compose inside the container).

use std::path::Path;
use std::time::Duration;

use crate::support::release_story::{compose, releases, run_in, start_script, Story, DOCKERFILE};
use crate::support::{create, pxdeploy, write, SimHost};

/// The app folder `root/app` at `version`.
fn app(root: &Path, version: &str) {
    let a = root.join("app");
    write(a.join("docker-compose.yml"), &compose(3));
    write(a.join("web/Dockerfile"), DOCKERFILE);
    write(a.join("web/start.sh"), &start_script(0));
    write(a.join("web/version"), &format!("{version}\n"));
    write(a.join("conf.d/old.conf"), "loaded\n");
    write(a.join(".gitignore"), "data/\n");
}

/// What the web service serves now.
#[track_caller]
fn served(sim: &SimHost, vmid: u32) -> String {
    let r = sim.sh_in_container(
        vmid,
        "docker compose -p app exec -T web wget -qO- http://127.0.0.1:80/",
    );
    r.assert_success();
    r.stdout.trim().to_string()
}

#[track_caller]
fn exists(sim: &SimHost, vmid: u32, path: &str) -> bool {
    sim.sh_in_container(vmid, &format!("test -e '{path}'"))
        .status
        == 0
}

#[test]
fn incremental_push_automatic_rollback_rollback_without_source_and_a_killed_push() {
    let Story { sim, dir, vmid } = Story::start("pxdeploy-rel-", 7, 60);
    let root = dir.path();
    app(root, "A");
    create(root);

    // A: everything is new, and written once: what arrived is renamed into the tree, nothing
    // is copied back out of the store (`-vv` shows the switch's count).
    let a = run_in(root, &["-vv", "-o", "json", "deploy"]);
    a.assert_success();
    a.assert_stderr_contains("6 files made live by rename, 0 copied from the store");
    let doc = a.json();
    assert_eq!(doc["pushed"]["files"], 6, "{doc:#}");
    assert_eq!(doc["pushed"]["deleted"], 0, "{doc:#}");
    assert_eq!(served(&sim, vmid), "A");
    let mode = sim.sh_in_container(vmid, "stat -c %a /opt/app/.pxdeploy");
    assert_eq!(mode.stdout.trim(), "700", "{}", mode.dump());
    assert!(exists(&sim, vmid, "/opt/app/data/service.txt"));
    sim.sh_in_container(
        vmid,
        "echo mine > /opt/app/conf.d/made-in-the-container.conf",
    )
    .assert_success();

    // B: one file deleted locally, one changed: only the change travels, the deleted file
    // goes, what pxdeploy did not push stays.
    std::fs::remove_file(root.join("app/conf.d/old.conf")).unwrap();
    write(root.join("app/web/version"), "B\n");
    let b = run_in(root, &["-o", "json", "deploy"]);
    b.assert_success();
    let doc = b.json();
    assert_eq!(
        (
            &doc["pushed"]["files"],
            &doc["pushed"]["deleted"],
            &doc["pushed"]["unchanged"]
        ),
        (&1.into(), &1.into(), &4.into()),
        "{doc:#}"
    );
    assert_eq!(doc["pushed"]["bytes"], 2, "{doc:#}");
    assert!(
        !exists(&sim, vmid, "/opt/app/conf.d/old.conf"),
        "old.conf kept"
    );
    assert!(exists(
        &sim,
        vmid,
        "/opt/app/conf.d/made-in-the-container.conf"
    ));
    assert!(
        exists(&sim, vmid, "/opt/app/data/service.txt"),
        "service data deleted"
    );
    assert!(exists(&sim, vmid, "/opt/app/.env"));
    assert_eq!(served(&sim, vmid), "B");
    let list = releases(root);
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|r| r.1 == "healthy"), "{list:?}");
    assert!(list[1].2 && !list[0].2, "{list:?}");
    let (id_a, id_b) = (list[0].0.clone(), list[1].0.clone());
    let text = run_in(root, &["releases"]);
    text.assert_success();
    text.assert_stdout_contains("DEPLOYED (UTC)");
    text.assert_stdout_contains(&id_b);

    // C exits at once (no restart policy: a crash loop can look healthy between restarts):
    // back to B by itself, exit 6, saying what runs now.
    write(
        root.join("app/web/start.sh"),
        "echo web: giving up; exit 1\n",
    );
    write(root.join("app/web/version"), "C\n");
    let c = run_in(root, &["-o", "json", "deploy"]);
    c.assert_code(6);
    c.assert_stderr_contains(&format!("release `{id_b}` is running now and healthy"));
    assert_eq!(
        c.json()["rolled_back_to"]["id"],
        id_b.as_str(),
        "{}",
        c.dump()
    );
    assert_eq!(served(&sim, vmid), "B");
    let list = releases(root);
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[2].1, "failed", "{list:?}");
    assert!(list[1].2, "B is not current: {list:?}");

    // `rollback` with no app folder at all: from the store in the container, to A.
    std::fs::remove_dir_all(root.join("app")).unwrap();
    let unknown = run_in(root, &["rollback", "20200101T000000Z-00000000"]);
    unknown.assert_code(3);
    unknown.assert_stderr_contains(&id_a);
    let dry = run_in(root, &["rollback", "--dry-run"]);
    dry.assert_success();
    dry.assert_stderr_contains(&format!(
        "would roll back container {vmid} from release {id_b} to {id_a}"
    ));
    dry.assert_stdout_contains("up -d --build --remove-orphans");
    assert_eq!(served(&sim, vmid), "B", "--dry-run changed something");
    let back = run_in(root, &["-o", "json", "rollback"]);
    back.assert_success();
    assert_eq!(back.json()["to"], id_a.as_str(), "{}", back.dump());
    assert_eq!(served(&sim, vmid), "A");
    assert!(
        exists(&sim, vmid, "/opt/app/conf.d/old.conf"),
        "old.conf not put back"
    );
    assert!(exists(&sim, vmid, "/opt/app/data/service.txt"));
    let list = releases(root);
    assert!(list[0].2, "A is not current: {list:?}");
    assert_eq!(list[1].1, "rolled-back", "{list:?}");
    let none = run_in(root, &["rollback"]);
    none.assert_code(3);
    none.assert_stderr_contains("no healthy release before the current one");

    // D with a big file: the connection dies mid-push. The container stays on one whole
    // release (A, what it had), and the next deploy completes.
    app(root, "D");
    std::fs::create_dir_all(root.join("app/big")).unwrap();
    // Random bytes: the push is compressed, and 120 MB of zeros would arrive in a moment.
    let mut big = std::fs::File::create(root.join("app/big/big.bin")).unwrap();
    let mut noise = std::fs::File::open("/dev/urandom").unwrap();
    std::io::copy(&mut std::io::Read::take(&mut noise, 120 << 20), &mut big).unwrap();
    drop(big);
    let mut killed = pxdeploy()
        .current_dir(root)
        .arg("deploy")
        .timeout(Duration::from_secs(240))
        .spawn();
    killed.wait_for_stderr("Pushing ", Duration::from_secs(120));
    // Kill once the archive is arriving in the container (the stage has begun).
    let arriving = std::time::Instant::now();
    let staging = |what: &str| {
        sim.sh_in_container(vmid, &format!("ls -d /opt/app/.pxdeploy/incoming.*{what}"))
            .status
            == 0
    };
    while !staging("/objects") {
        assert!(
            arriving.elapsed() < Duration::from_secs(60) && !killed.finished(),
            "the push never started arriving: {}",
            killed.stderr_so_far()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    killed.signal(libc::SIGKILL);
    let k = killed.wait();
    assert_eq!(k.signal, Some(libc::SIGKILL), "{}", k.dump());
    std::thread::sleep(Duration::from_secs(1));
    // The kill came mid-push (what this part tests): the staging area is left over.
    assert!(staging(""), "{}", k.dump());
    let version = sim.sh_in_container(vmid, "cat /opt/app/web/version").stdout;
    let has_big = exists(&sim, vmid, "/opt/app/big/big.bin");
    assert!(
        version == "A\n" && !has_big && exists(&sim, vmid, "/opt/app/conf.d/old.conf"),
        "not release A whole: version {version:?}, big file {has_big}"
    );
    assert_eq!(served(&sim, vmid), "A");
    let d = run_in(root, &["-o", "json", "deploy"]);
    d.assert_success();
    assert_eq!(served(&sim, vmid), "D");
    assert!(exists(&sim, vmid, "/opt/app/big/big.bin"));
    assert!(!staging(""), "a staging folder left over");
    assert!(!exists(&sim, vmid, "/opt/app/.pxdeploy/journal"));

    // A service writing into pushed files in place (its bind mount covers the app folder):
    // no stored release changes, and a rollback brings back the stored bytes (A shares
    // conf.d/old.conf with D; only web/version differs).
    sim.sh_in_container(
        vmid,
        "printf EVIL > /opt/app/conf.d/old.conf && printf EVIL > /opt/app/web/version",
    )
    .assert_success();
    let sums = sim.sh_in_container(
        vmid,
        "cd /opt/app/.pxdeploy/objects && sha256sum */* | awk '{ split($2, n, \"/\"); if ($1 != n[1] n[2]) print $2 }'",
    );
    sums.assert_success();
    assert_eq!(sums.stdout, "", "stored objects changed: {}", sums.dump());
    let back = run_in(root, &["-o", "json", "rollback", &id_a]);
    back.assert_success();
    assert_eq!(served(&sim, vmid), "A");
    assert_eq!(
        sim.container_file(vmid, "/opt/app/conf.d/old.conf"),
        "loaded\n"
    );
    run_in(root, &["deploy"]).assert_success();
    assert_eq!(served(&sim, vmid), "D");

    // A link planted in the store is never followed: exit 5, nothing written through it.
    sim.sh_in_container(
        vmid,
        "mkdir -p /tmp/outside && ln -s /tmp/outside /opt/app/.pxdeploy/objects/zz",
    )
    .assert_success();
    write(root.join("app/web/version"), "E\n");
    let refused = run_in(root, &["deploy"]);
    refused.assert_code(5);
    refused.assert_stderr_contains("symbolic link");
    assert_eq!(sim.sh_in_container(vmid, "ls -A /tmp/outside").stdout, "");
    assert_eq!(served(&sim, vmid), "D");
}
