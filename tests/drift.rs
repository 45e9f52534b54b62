//! Issue 22: a rollback keeps today's secrets (`--with-env` brings the old `.env` back as it
//! was), and pushed files changed inside the container drift back: `pxdeploy diff` shows
//! them without changing anything, the next `deploy` puts them back and names them. One
//! simulated node for the file, a container per test, each test a user's [`Session`].

use std::sync::OnceLock;

use crate::support::app::SMALL_COMPOSE;
use crate::support::{unique_vmid, Session, SimHost};

fn node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(SimHost::start_cached)
}

/// A session in container `test` of the file's node, pushing the folder `app` of its
/// folder, with `more` TOML.
fn session(test: u32, more: &str) -> Session<'static> {
    let s = Session::new(node(), unique_vmid(test), tempfile::tempdir().unwrap());
    s.config(&app_config(more));
    s
}

fn app_config(more: &str) -> String {
    format!("[app]\nname = \"app\"\nsource = \"app\"\nremote_dir = \"/opt/app\"\n{more}")
}

const LEVEL: &str = "[env.secrets]\nAPI_TOKEN = { from_env = \"API_TOKEN\" }\nDB_PASSWORD = 24\n[env.values]\nLEVEL = ";

#[test]
fn rollback_keeps_todays_secrets_and_with_env_brings_the_old_env_back() {
    let s = session(60, &format!("{LEVEL}\"one\"\n"));
    s.change("app/docker-compose.yml", SMALL_COMPOSE).create();

    // A: LEVEL one, token one.
    s.env("API_TOKEN", "token-one-a1b2").deploy().expect_ok();
    let generated = s.env_value("DB_PASSWORD").expect("a generated secret");
    // B: LEVEL two, the token rotated.
    s.config(&app_config(&format!("{LEVEL}\"two\"\n")))
        .env("API_TOKEN", "token-two-c3d4")
        .deploy()
        .expect_ok();
    assert_eq!(s.env_value("API_TOKEN").as_deref(), Some("token-two-c3d4"));
    s.env("API_TOKEN", "");
    let ids = s.releases();
    assert_eq!(ids.len(), 2, "{ids:?}");

    // Back to A: today's token stays, A's LEVEL comes back; no secret is printed. The
    // compose file, the same in both releases, was edited in the container: put back too.
    s.sh("echo '# edited' >> /opt/app/docker-compose.yml");
    let back = s
        .run(&["-o", "json", "rollback"])
        .expect_ok()
        .expect_says("docker-compose.yml was changed in the container")
        .expect_hides(&["token-one-a1b2", "token-two-c3d4", &generated]);
    assert_eq!(s.file("/opt/app/docker-compose.yml"), SMALL_COMPOSE);
    assert_eq!(s.env_value("API_TOKEN").as_deref(), Some("token-two-c3d4"));
    assert_eq!(s.env_value("LEVEL").as_deref(), Some("one"));
    assert_eq!(s.env_value("DB_PASSWORD"), Some(generated.clone()));
    let doc = back.json();
    assert_eq!(doc["env"]["from"], "values", "{doc:#}");
    assert_eq!(
        doc["env"]["restored"],
        serde_json::json!(["LEVEL"]),
        "{doc:#}"
    );
    s.run(&["rollback", &ids[1], "--dry-run"]).expect_ok();
    assert_eq!(
        s.env_value("LEVEL").as_deref(),
        Some("one"),
        "--dry-run wrote .env"
    );

    // Forward to B, then back to A with --with-env: A's .env exactly as it was, old token too.
    s.run(&["rollback", &ids[1]]).expect_ok();
    assert_eq!(s.env_value("LEVEL").as_deref(), Some("two"));
    s.run(&["rollback", &ids[0], "--with-env"])
        .expect_ok()
        .expect_hides(&["token-one-a1b2", "token-two-c3d4"]);
    let stored = s.file(&format!("/opt/app/.pxdeploy/releases/{}/env", ids[0]));
    assert_eq!(s.env_file(), stored);
    assert_eq!(s.env_value("API_TOKEN").as_deref(), Some("token-one-a1b2"));
}

#[test]
fn diff_shows_files_changed_in_the_container_and_deploy_puts_them_back() {
    let s = session(61, "");
    s.change("app/docker-compose.yml", SMALL_COMPOSE)
        .change("app/conf/app.conf", "setting=1\n")
        .change("app/conf/other.conf", "other\n")
        .create()
        .deploy_json()
        .expect_ok()
        .expect_pushed(3);

    let clean = s.run(&["diff"]).expect_ok();
    assert_eq!(clean.run().stdout, "", "{}", clean.run().dump());

    // By hand in the container: an edit of the same size, a file removed.
    s.sh("printf 'setting=2\\n' > /opt/app/conf/app.conf; rm /opt/app/conf/other.conf");
    s.run(&["diff"])
        .expect_ok()
        .expect_prints("changed  conf/app.conf  (content)")
        .expect_prints("missing  conf/other.conf");
    let json = s.run(&["-o", "json", "diff"]).expect_ok();
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
        json.run().dump()
    );
    // `diff` changed nothing.
    assert_eq!(s.file("/opt/app/conf/app.conf"), "setting=2\n");
    assert!(!s.has("/opt/app/conf/other.conf"));

    // The next deploy, with no change in the source, puts both back and names them.
    s.deploy()
        .expect_ok()
        .expect_says("conf/app.conf was changed in the container")
        .expect_says("conf/other.conf went missing in the container");
    assert_eq!(s.file("/opt/app/conf/app.conf"), "setting=1\n");
    assert_eq!(s.file("/opt/app/conf/other.conf"), "other\n");
    let again = s.run(&["diff"]).expect_ok();
    assert_eq!(again.run().stdout, "", "{}", again.run().dump());
    // Nothing drifted now: the fast path again.
    let unchanged = s.deploy_json().expect_ok();
    assert_eq!(
        unchanged.json()["compose_up"],
        "skipped: nothing changed",
        "{}",
        unchanged.run().dump()
    );
    assert_eq!(unchanged.json()["drifted"], serde_json::json!([]));
}
