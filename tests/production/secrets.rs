//! `[env.secrets]` read from outside the file: an environment variable, a file, a command.

use super::{refused_before_connecting, session};
use crate::support::example_app;

/// Each source is read on every deploy and lands in `.env` (a changed value replaces the
/// old one, a generated secret stays); no value appears in any output format at -vvv, in
/// --dry-run, or in JSON.
#[test]
fn sourced_secrets_reach_env_and_never_the_output() {
    let s = session(0, example_app());
    s.change("db.secret", "FiLe-SeCrEt-9d1c\n")
        .config("[env.secrets]\nPOSTGRES_PASSWORD = { from_env = \"PG_PW\" }\nSECRET_KEY = { from_file = \"db.secret\" }\nAPI_TOKEN = { command = \"printf 'CoMmAnD-SeCrEt-51ab\\\\n'\" }\nGENERATED = 24\n[env.values]\nDOMAIN = \"x.lan\"\n")
        .create();
    let first = s
        .env("PG_PW", "EnV-SeCrEt-one-3e77")
        .deploy_with(&["-vvv"])
        .expect_ok();
    let env = s.env_file();
    for line in [
        "POSTGRES_PASSWORD=EnV-SeCrEt-one-3e77",
        "SECRET_KEY=FiLe-SeCrEt-9d1c",
        "API_TOKEN=CoMmAnD-SeCrEt-51ab",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} not in .env");
    }
    let generated = s.env_value("GENERATED").expect("GENERATED in .env");
    let values = [
        "EnV-SeCrEt-one-3e77",
        "EnV-SeCrEt-two-a0f2",
        "FiLe-SeCrEt-9d1c",
        "CoMmAnD-SeCrEt-51ab",
        generated.as_str(),
    ];
    first.expect_hides(&values);

    let json = s
        .env("PG_PW", "EnV-SeCrEt-two-a0f2")
        .deploy_with(&["-vvv", "-o", "json"])
        .expect_ok()
        .expect_healthy()
        .expect_hides(&values);
    let env = s.env_file();
    assert!(env
        .lines()
        .any(|l| l == "POSTGRES_PASSWORD=EnV-SeCrEt-two-a0f2"));
    assert!(env.lines().any(|l| l == format!("GENERATED={generated}")));
    let doc = json.json();
    assert!(
        doc["env"]["updated"]
            .to_string()
            .contains("POSTGRES_PASSWORD"),
        "{doc:#}"
    );

    s.env("PG_PW", "EnV-SeCrEt-one-3e77");
    s.deploy_with(&["-vvv", "--dry-run"])
        .expect_ok()
        .expect_hides(&values);
    s.deploy_with(&["-vvv", "--dry-run", "-o", "json"])
        .expect_ok()
        .expect_hides(&values);
}

/// A missing variable or file, an unreadable file, a failing command, or a secret pasted
/// where a variable's name or a file's path belongs: exit 3 naming the entry, before any
/// connection (the node sees no call), and the value never shown.
#[test]
fn a_missing_source_stops_before_connecting() {
    let s = session(1, example_app());
    std::fs::create_dir_all(s.path().join("a-folder")).unwrap();
    for (entry, says) in [
        ("{ from_file = \"a-folder\" }", "a-folder cannot be read"),
        (
            "{ from_env = \"NOT_SET_ANYWHERE\" }",
            "environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "{ from_file = \"missing.txt\" }",
            "its `from_file` path names no file",
        ),
        // A secret pasted where a source's name belongs (issue 22): named by its entry, never
        // echoed.
        (
            "{ from_env = \"LeAkEd-VaLuE-77 not-a-name!\" }",
            "`from_env` takes the name of an environment variable",
        ),
        (
            "{ from_file = \"LeAkEd-VaLuE-77\" }",
            "its `from_file` path names no file",
        ),
        (
            "{ command = \"echo LeAkEd-VaLuE-77; echo 'vault locked' >&2; exit 2\" }",
            "its command exited with status 2",
        ),
    ] {
        s.config(&format!("[env.secrets]\nDB_PASSWORD = {entry}\n"));
        refused_before_connecting(s.deploy_with(&["-v"]), says)
            .expect_says("[env.secrets] DB_PASSWORD")
            .expect_hides(&["LeAkEd-VaLuE-77"]);
    }
}
