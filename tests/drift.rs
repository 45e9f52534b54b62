//! Issue 22: a rollback keeps today's secrets (`--with-env` brings the old `.env` back as it
//! was), and pushed files changed inside the container drift back: `pxdeploy diff` shows
//! them without changing anything, the next `deploy` puts them back and names them. One
//! simulated node for the file, a container per test.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::app::SMALL_COMPOSE;
use crate::support::{create, unique_vmid, write};
use crate::support::{pxdeploy, Run, SimHost};

fn node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(SimHost::start_cached)
}

/// `root/pxdeploy.toml` for container `vmid`, pushing `root/app`, with `more` TOML.
fn config(sim: &SimHost, root: &Path, vmid: u32, more: &str) {
    sim.write_config(
        root,
        &format!("[container]\nvmid = {vmid}\n[app]\nname = \"app\"\nsource = \"app\"\nremote_dir = \"/opt/app\"\n{more}"),
    );
}

fn run(root: &Path, token: &str, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(root)
        .env("API_TOKEN", token)
        .args(args)
        .timeout(Duration::from_secs(240))
        .run()
}

#[track_caller]
fn in_ct(sim: &SimHost, vmid: u32, script: &str) -> Run {
    let r = sim.sh_in_container(vmid, script);
    r.assert_success();
    r
}

/// The value of `key` in the container's `.env` (the last assignment, unquoted text).
fn env_value(sim: &SimHost, vmid: u32, key: &str) -> Option<String> {
    let text = sim.container_file(vmid, "/opt/app/.env");
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
}

#[track_caller]
fn no_secret_in(r: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !r.stdout.contains(s) && !r.stderr.contains(s),
            "{s} printed: {}",
            r.dump()
        );
    }
}

const LEVEL: &str = "[env.secrets]\nAPI_TOKEN = { from_env = \"API_TOKEN\" }\nDB_PASSWORD = 24\n[env.values]\nLEVEL = ";

#[test]
fn rollback_keeps_todays_secrets_and_with_env_brings_the_old_env_back() {
    let sim = node();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let vmid = unique_vmid(60);
    write(root.join("app/docker-compose.yml"), SMALL_COMPOSE);
    config(sim, root, vmid, &format!("{LEVEL}\"one\"\n"));
    create(root);

    // A: LEVEL one, token one.
    run(root, "token-one-a1b2", &["deploy"]).assert_success();
    let generated = env_value(sim, vmid, "DB_PASSWORD").expect("a generated secret");
    // B: LEVEL two, the token rotated.
    config(sim, root, vmid, &format!("{LEVEL}\"two\"\n"));
    run(root, "token-two-c3d4", &["deploy"]).assert_success();
    assert_eq!(
        env_value(sim, vmid, "API_TOKEN").as_deref(),
        Some("token-two-c3d4")
    );
    let ids: Vec<String> = run(root, "", &["-o", "json", "releases"]).json()["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");

    // Back to A: today's token stays, A's LEVEL comes back; no secret is printed. The
    // compose file, the same in both releases, was edited in the container: put back too.
    in_ct(sim, vmid, "echo '# edited' >> /opt/app/docker-compose.yml");
    let back = run(root, "", &["-o", "json", "rollback"]);
    back.assert_success();
    back.assert_stderr_contains("docker-compose.yml was changed in the container");
    assert_eq!(
        sim.container_file(vmid, "/opt/app/docker-compose.yml"),
        SMALL_COMPOSE
    );
    no_secret_in(&back, &["token-one-a1b2", "token-two-c3d4", &generated]);
    assert_eq!(
        env_value(sim, vmid, "API_TOKEN").as_deref(),
        Some("token-two-c3d4")
    );
    assert_eq!(env_value(sim, vmid, "LEVEL").as_deref(), Some("one"));
    assert_eq!(env_value(sim, vmid, "DB_PASSWORD"), Some(generated.clone()));
    let doc = back.json();
    assert_eq!(doc["env"]["from"], "values", "{doc:#}");
    assert_eq!(
        doc["env"]["restored"],
        serde_json::json!(["LEVEL"]),
        "{doc:#}"
    );
    let text = run(root, "", &["rollback", &ids[1], "--dry-run"]);
    text.assert_success();
    assert_eq!(
        env_value(sim, vmid, "LEVEL").as_deref(),
        Some("one"),
        "--dry-run wrote .env"
    );

    // Forward to B, then back to A with --with-env: A's .env exactly as it was, old token too.
    run(root, "", &["rollback", &ids[1]]).assert_success();
    assert_eq!(env_value(sim, vmid, "LEVEL").as_deref(), Some("two"));
    let old = run(root, "", &["rollback", &ids[0], "--with-env"]);
    old.assert_success();
    no_secret_in(&old, &["token-one-a1b2", "token-two-c3d4"]);
    let stored = sim.container_file(vmid, &format!("/opt/app/.pxdeploy/releases/{}/env", ids[0]));
    assert_eq!(sim.container_file(vmid, "/opt/app/.env"), stored);
    assert_eq!(
        env_value(sim, vmid, "API_TOKEN").as_deref(),
        Some("token-one-a1b2")
    );
    sim.host_run(&["pct", "stop", &vmid.to_string()]);
}

#[test]
fn diff_shows_files_changed_in_the_container_and_deploy_puts_them_back() {
    let sim = node();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let vmid = unique_vmid(61);
    write(root.join("app/docker-compose.yml"), SMALL_COMPOSE);
    write(root.join("app/conf/app.conf"), "setting=1\n");
    write(root.join("app/conf/other.conf"), "other\n");
    config(sim, root, vmid, "");
    create(root);
    run(root, "", &["deploy"]).assert_success();

    let clean = run(root, "", &["diff"]);
    clean.assert_success();
    assert_eq!(clean.stdout, "", "{}", clean.dump());

    // By hand in the container: an edit of the same size, a file removed.
    in_ct(
        sim,
        vmid,
        "printf 'setting=2\\n' > /opt/app/conf/app.conf; rm /opt/app/conf/other.conf",
    );
    let shown = run(root, "", &["diff"]);
    shown.assert_success();
    shown.assert_stdout_contains("changed  conf/app.conf  (content)");
    shown.assert_stdout_contains("missing  conf/other.conf");
    let json = run(root, "", &["-o", "json", "diff"]);
    json.assert_success();
    let doc = json.json();
    let paths: Vec<&str> = doc["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["conf/app.conf", "conf/other.conf"],
        "{}",
        json.dump()
    );
    // `diff` changed nothing.
    assert_eq!(
        sim.container_file(vmid, "/opt/app/conf/app.conf"),
        "setting=2\n"
    );
    assert!(
        sim.in_container(vmid, &["test", "-e", "/opt/app/conf/other.conf"])
            .status
            != 0
    );

    // The next deploy, with no change in the source, puts both back and names them.
    let fixed = run(root, "", &["deploy"]);
    fixed.assert_success();
    fixed.assert_stderr_contains("conf/app.conf was changed in the container");
    fixed.assert_stderr_contains("conf/other.conf went missing in the container");
    assert_eq!(
        sim.container_file(vmid, "/opt/app/conf/app.conf"),
        "setting=1\n"
    );
    assert_eq!(
        sim.container_file(vmid, "/opt/app/conf/other.conf"),
        "other\n"
    );
    let again = run(root, "", &["diff"]);
    again.assert_success();
    assert_eq!(again.stdout, "", "{}", again.dump());
    // Nothing drifted now: the fast path again.
    let unchanged = run(root, "", &["-o", "json", "deploy"]);
    unchanged.assert_success();
    assert_eq!(
        unchanged.json()["compose_up"],
        "skipped: nothing changed",
        "{}",
        unchanged.dump()
    );
    assert_eq!(unchanged.json()["drifted"], serde_json::json!([]));
    sim.host_run(&["pct", "stop", &vmid.to_string()]);
}
