//! Production settings (issue 14) end to end, on one simulated node shared by the tests of
//! this file, a container each: secrets from outside the file, hooks, the release command,
//! the firewall.

use std::path::Path;
use std::sync::OnceLock;

use crate::support::{create, example_app, pxdeploy, small_app, unique_vmid, Run, SimHost};

/// Container ids of this file: 80–99.
const TEST_BASE: u32 = 80;

fn node() -> &'static SimHost {
    static NODE: OnceLock<SimHost> = OnceLock::new();
    NODE.get_or_init(SimHost::start_cached)
}

#[track_caller]
fn assert_hidden(run: &Run, values: &[&str]) {
    for v in values {
        assert!(
            !run.stdout.contains(v) && !run.stderr.contains(v),
            "a secret value appears in the output of `{}` (exit {})",
            run.what,
            run.status
        );
    }
}

fn env_of(sim: &SimHost, vmid: u32) -> String {
    sim.container_file(vmid, "/opt/app/.env")
}

/// A deploy with `config` is a configuration error (exit 3) saying `says`, found before
/// connecting: nothing ran on the node for container `vmid`.
#[track_caller]
fn refused_before_connecting(
    sim: &SimHost,
    app: &Path,
    vmid: u32,
    config: &str,
    flags: &[&str],
    says: &str,
) -> Run {
    sim.write_config(app, config);
    let run = deploy_with(app, &[], flags);
    run.assert_code(3)
        .assert_stderr_contains(says)
        .assert_stderr_lacks("Connecting");
    assert!(sim.calls_of(vmid).is_empty(), "{}", run.dump());
    run
}

fn deploy_with(app: &Path, env: &[(&str, &str)], flags: &[&str]) -> Run {
    let mut cmd = pxdeploy().current_dir(app).args(flags).arg("deploy");
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.timeout(std::time::Duration::from_secs(180)).run()
}

/// Each source is read on every deploy and lands in `.env` (a changed value replaces the
/// old one, a generated secret stays); no value appears in any output format at -vvv, in
/// --dry-run, or in JSON.
#[test]
fn sourced_secrets_reach_env_and_never_the_output() {
    let sim = node();
    let app = example_app();
    let vmid = unique_vmid(TEST_BASE);
    std::fs::write(app.path().join("db.secret"), "FiLe-SeCrEt-9d1c\n").unwrap();
    sim.write_config(
        app.path(),
        &format!(
            "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = {{ from_env = \"PG_PW\" }}\nSECRET_KEY = {{ from_file = \"db.secret\" }}\nAPI_TOKEN = {{ command = \"printf 'CoMmAnD-SeCrEt-51ab\\\\n'\" }}\nGENERATED = 24\n[env.values]\nDOMAIN = \"x.lan\"\n"
        ),
    );
    create(app.path());
    let first = deploy_with(app.path(), &[("PG_PW", "EnV-SeCrEt-one-3e77")], &["-vvv"]);
    first.assert_success();
    let env = env_of(sim, vmid);
    for line in [
        "POSTGRES_PASSWORD=EnV-SeCrEt-one-3e77",
        "SECRET_KEY=FiLe-SeCrEt-9d1c",
        "API_TOKEN=CoMmAnD-SeCrEt-51ab",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} not in .env");
    }
    let generated = env
        .lines()
        .find_map(|l| l.strip_prefix("GENERATED="))
        .expect("GENERATED in .env")
        .to_string();
    let values = [
        "EnV-SeCrEt-one-3e77",
        "EnV-SeCrEt-two-a0f2",
        "FiLe-SeCrEt-9d1c",
        "CoMmAnD-SeCrEt-51ab",
        generated.as_str(),
    ];
    assert_hidden(&first, &values);

    let json = deploy_with(
        app.path(),
        &[("PG_PW", "EnV-SeCrEt-two-a0f2")],
        &["-vvv", "-o", "json"],
    );
    json.assert_success();
    assert_hidden(&json, &values);
    let env = env_of(sim, vmid);
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

    let dry = deploy_with(
        app.path(),
        &[("PG_PW", "EnV-SeCrEt-one-3e77")],
        &["-vvv", "--dry-run"],
    );
    dry.assert_success();
    assert_hidden(&dry, &values);
    let dry_json = deploy_with(
        app.path(),
        &[("PG_PW", "EnV-SeCrEt-one-3e77")],
        &["-vvv", "--dry-run", "-o", "json"],
    );
    dry_json.assert_success();
    assert_hidden(&dry_json, &values);
    let _ = sim.host_run(&["pct", "stop", &vmid.to_string()]);
}

/// A missing variable or file, an unreadable file, a failing command, or a secret pasted
/// where a variable's name or a file's path belongs: exit 3 naming the entry, before any
/// connection (the node sees no call), and the value never shown.
#[test]
fn a_missing_source_stops_before_connecting() {
    let sim = node();
    let app = example_app();
    let vmid = unique_vmid(TEST_BASE + 1);
    std::fs::create_dir_all(app.path().join("a-folder")).unwrap();
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
        let config = format!("[container]\nvmid = {vmid}\n[env.secrets]\nDB_PASSWORD = {entry}\n");
        let run = refused_before_connecting(sim, app.path(), vmid, &config, &["-v"], says);
        run.assert_stderr_contains("[env.secrets] DB_PASSWORD");
        assert_hidden(&run, &["LeAkEd-VaLuE-77"]);
    }
}

/// A failing `pre_deploy` changes nothing (no push, no `.env` write, no `up`; exit 5 with
/// its output); a failing `post_deploy` runs after the deploy, sees the `PXDEPLOY_*`
/// variables, and makes the exit code 5 while the new release runs.
#[test]
fn hooks_run_around_a_deploy() {
    let sim = node();
    let app = example_app();
    let vmid = unique_vmid(TEST_BASE + 2);
    let config = |domain: &str, hooks: &str| {
        format!("[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 32\n[env.values]\nDOMAIN = \"{domain}\"\n[hooks]\n{hooks}")
    };
    sim.write_config(app.path(), &config("one.lan", ""));
    create(app.path());
    deploy_with(app.path(), &[], &[]).assert_success();
    let env_before = env_of(sim, vmid);

    sim.write_config(
        app.path(),
        &config(
            "two.lan",
            "pre_deploy = \"echo 'lint: 2 problems'; exit 1\"\n",
        ),
    );
    let releases = || {
        sim.in_container(vmid, &["ls", "/opt/app/.pxdeploy/releases"])
            .stdout
    };
    let releases_before = releases();
    std::fs::write(app.path().join("NEW_FILE.txt"), "new\n").unwrap();
    let calls = sim.calls_of(vmid).len();
    let refused = deploy_with(app.path(), &[], &[]);
    refused.assert_code(5);
    refused.assert_stderr_contains("the pre_deploy hook exited with status 1");
    refused.assert_stderr_contains("lint: 2 problems");
    let after: Vec<String> = sim.calls_of(vmid)[calls..]
        .iter()
        .map(|c| c.line())
        .collect();
    assert!(
        !after
            .iter()
            .any(|l| l.contains("tar") || l.contains(" up") || l.contains(".env")),
        "a refused deploy touched the container: {after:#?}"
    );
    assert_eq!(env_of(sim, vmid), env_before, ".env changed");
    assert_eq!(releases(), releases_before, "a release was staged");
    assert!(
        sim.in_container(vmid, &["test", "-e", "/opt/app/NEW_FILE.txt"])
            .status
            != 0,
        "a refused deploy pushed a file"
    );

    sim.write_config(
        app.path(),
        &config(
            "two.lan",
            "pre_deploy = \"test -f docker-compose.yml\"\npost_deploy = \"env | grep ^PXDEPLOY_ | sort > hook.out; grep -q two.lan /dev/null || exit 4\"\n",
        ),
    );
    let posted = deploy_with(app.path(), &[], &["-o", "json"]);
    posted.assert_code(5);
    posted.assert_stderr_contains("the post_deploy hook exited with status 4");
    assert!(
        env_of(sim, vmid).contains("DOMAIN=two.lan"),
        "the deploy did not happen"
    );
    let seen = std::fs::read_to_string(app.path().join("hook.out")).unwrap();
    for line in [
        format!("PXDEPLOY_VMID={vmid}"),
        "PXDEPLOY_COMMAND=deploy".to_string(),
        "PXDEPLOY_TARGET=default".to_string(),
    ] {
        assert!(seen.lines().any(|l| l == line), "{line} not in {seen}");
    }
    assert!(
        seen.contains("PXDEPLOY_HOST=")
            && seen.lines().any(|l| l
                .strip_prefix("PXDEPLOY_RELEASE=")
                .is_some_and(|id| id.len() == 25)),
        "{seen}"
    );

    // Plain `rollback` (not only `rollback --snapshot`) runs post_rollback, with the release
    // it went back to.
    let first = releases_before
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    sim.write_config(
        app.path(),
        &config(
            "two.lan",
            "post_rollback = \"env | grep ^PXDEPLOY_ | sort > rollback.out\"\n",
        ),
    );
    let back = pxdeploy()
        .current_dir(app.path())
        .args(["rollback", &first])
        .timeout(std::time::Duration::from_secs(180))
        .run();
    back.assert_success();
    let seen = std::fs::read_to_string(app.path().join("rollback.out"))
        .unwrap_or_else(|_| panic!("post_rollback did not run: {}", back.dump()));
    for line in [
        "PXDEPLOY_COMMAND=rollback".to_string(),
        format!("PXDEPLOY_RELEASE={first}"),
    ] {
        assert!(seen.lines().any(|l| l == line), "{line} not in {seen}");
    }
    let _ = sim.host_run(&["pct", "stop", &vmid.to_string()]);
}

/// A failing release command: no `up`, the running containers are the same ones (same
/// ids), exit 5 with its output. A working one runs after the build and before `up`.
#[test]
fn the_release_command_runs_before_up_and_a_failure_keeps_the_running_release() {
    let sim = node();
    let app = example_app();
    let vmid = unique_vmid(TEST_BASE + 3);
    let config = |domain: &str, command: &str| {
        format!("{command}[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 32\n[env.values]\nDOMAIN = \"{domain}\"\n")
    };
    sim.write_config(app.path(), &config("one.lan", ""));
    create(app.path());
    deploy_with(app.path(), &[], &[]).assert_success();
    let ps = || {
        sim.in_container(
            vmid,
            &[
                "docker",
                "compose",
                "-p",
                "app",
                "-f",
                "/opt/app/docker-compose.yml",
                "ps",
                "-q",
            ],
        )
        .stdout
    };
    let ids = ps();
    assert!(!ids.trim().is_empty());

    // A dotted key, first: [app] itself comes from the simulator's config.
    let failing = "app.release_command = { service = \"api\", command = \"sh -c 'echo migrating 0042; echo relation missing >&2; exit 3'\" }\n";
    sim.write_config(app.path(), &config("two.lan", failing));
    std::fs::write(app.path().join("NEW_FILE.txt"), "new\n").unwrap();
    let calls = sim.calls_of(vmid).len();
    let run = deploy_with(app.path(), &[], &[]);
    run.assert_code(5);
    run.assert_stderr_contains("the release command");
    run.assert_stderr_contains("migrating 0042");
    run.assert_stderr_contains("relation missing");
    let after: Vec<String> = sim.calls_of(vmid)[calls..]
        .iter()
        .map(|c| c.line())
        .collect();
    assert!(!after.iter().any(|l| l.contains(" up ")), "{after:#?}");
    assert_eq!(ps(), ids, "the running containers were replaced");
    // The tree is the running release's again: its .env and files, not the new ones.
    run.assert_stderr_contains("the services still run release");
    assert!(
        env_of(sim, vmid).contains("DOMAIN=one.lan"),
        "the new .env was left in place"
    );
    assert!(
        sim.in_container(vmid, &["test", "-e", "/opt/app/NEW_FILE.txt"])
            .status
            != 0,
        "the new release's files were left in place"
    );

    let working =
        "app.release_command = { service = \"api\", command = \"sh -c 'echo migrated'\" }\n";
    sim.write_config(app.path(), &config("two.lan", working));
    let calls = sim.calls_of(vmid).len();
    deploy_with(app.path(), &[], &[]).assert_success();
    let after: Vec<String> = sim.calls_of(vmid)[calls..]
        .iter()
        .map(|c| c.line())
        .collect();
    let at = |word: &str| after.iter().position(|l| l.contains(word));
    let (build, run, up) = (at(" build"), at(" run --rm -T api"), at(" up "));
    assert!(build.is_some() && build < run && run < up, "{after:#?}");
    let _ = sim.host_run(&["pct", "stop", &vmid.to_string()]);
}

/// `[firewall]`: `create` writes the `.fw` file exactly as Proxmox's writer lays it out and
/// sets `firewall=1` on net0 before the container's first start, so it is never up without its
/// rules (issue 22); a deploy then writes nothing, nor does the same file in the GUI's layout; `--dry-run` shows a changed file without
/// writing it; a rule changed by hand on the node is reported as drift and rewritten; `check`
/// warns that the datacenter firewall is off.
#[test]
fn the_firewall_file_is_written_idempotently_and_drift_is_reported() {
    let sim = node();
    let app = example_app();
    let vmid = unique_vmid(TEST_BASE + 4);
    let config = |allow: &str| {
        format!("[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 32\n[firewall]\nenable = true\npolicy_in = \"DROP\"\nallow = [{allow}]\n")
    };
    sim.write_config(
        app.path(),
        &config("\"tcp/80\", \"tcp/22 from 192.168.1.0/24\""),
    );
    create(app.path());
    let expected = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80 -log nolog\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22 -log nolog\n\n";
    let file = sim.state_dir().join(format!("etc/pve/firewall/{vmid}.fw"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        expected,
        "`create` did not write the firewall file"
    );
    let calls = sim.calls_of(vmid);
    let id = vmid.to_string();
    let started_at = calls
        .iter()
        .position(|c| c.starts_with(&["pct", "start", &id]))
        .expect("`create` started the container");
    let first_start = &calls[started_at];
    let switched_on = calls.iter().position(|c| {
        c.starts_with(&["pct", "set", &id, "--net0"]) && c.line().contains("firewall=1")
    });
    assert!(
        switched_on.is_some_and(|at| at < started_at),
        "firewall=1 was not set on net0 before the first `pct start`: {:#?}",
        calls.iter().map(|c| c.line()).collect::<Vec<_>>()
    );
    let written = std::fs::metadata(&file).unwrap().modified().unwrap();
    let written = written
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        written <= first_start.time,
        "the firewall file was written after the first `pct start`"
    );
    let conf = sim.host_run(&["pct", "config", &id]).stdout;
    let net0 = conf
        .lines()
        .find(|l| l.starts_with("net0:"))
        .unwrap_or_default();
    assert!(net0.contains("firewall=1"), "{conf}");

    let modified = || std::fs::metadata(&file).unwrap().modified().unwrap();
    let before = modified();
    let again = deploy_with(app.path(), &[], &[]);
    again.assert_success();
    again.assert_stderr_lacks("differs from pxdeploy.toml");
    assert_eq!(
        modified(),
        before,
        "a deploy rewrote the file `create` wrote"
    );

    // The same settings as Proxmox's own writer lays them out after an edit in the GUI
    // (options in hash order, `-log` only when set): no drift, no rewrite, no warning.
    let gui = "[OPTIONS]\n\npolicy_in: DROP\nenable: 1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 80\nIN ACCEPT -source 192.168.1.0/24 -p tcp -dport 22\n\n";
    std::fs::write(&file, gui).unwrap();
    let before = modified();
    let after_gui = deploy_with(app.path(), &[], &[]);
    after_gui.assert_success();
    after_gui.assert_stderr_lacks("differs from pxdeploy.toml");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), gui);
    assert_eq!(
        modified(),
        before,
        "a file in the GUI's layout was rewritten"
    );
    std::fs::write(&file, expected).unwrap();

    sim.write_config(
        app.path(),
        &config("\"tcp/443\", \"tcp/22 from 192.168.1.0/24\""),
    );
    let dry = deploy_with(app.path(), &[], &["--dry-run"]);
    dry.assert_success();
    dry.assert_stderr_contains(&format!("would write /etc/pve/firewall/{vmid}.fw"));
    dry.assert_stderr_contains("IN ACCEPT -p tcp -dport 443 -log nolog");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        expected,
        "--dry-run wrote the file"
    );

    std::fs::write(&file, expected.replace("-dport 80", "-dport 8080")).unwrap();
    let drift = deploy_with(app.path(), &[], &[]);
    drift.assert_success();
    drift.assert_stderr_contains("differs from pxdeploy.toml");
    drift.assert_stderr_contains("-IN ACCEPT -p tcp -dport 8080 -log nolog");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        expected.replace("-dport 80", "-dport 443")
    );

    let check = pxdeploy().current_dir(app.path()).arg("check").run();
    check.assert_stderr_contains("the datacenter firewall is off");
    let _ = sim.host_run(&["pct", "stop", &vmid.to_string()]);
}

/// A `[firewall]` section added after `create` never lets a stopped container run without
/// its rules (SPEC, "Trust boundaries"): `deploy --dry-run` shows the file it would write and
/// writes nothing, starts nothing; `deploy` writes the `.fw` file and sets `firewall=1` on
/// net0 before its `pct start`; `pxdeploy start` and `restart` put back a rules file deleted
/// meanwhile before they start the container.
#[test]
fn a_stopped_container_is_started_only_after_its_firewall_is_written() {
    let sim = node();
    let app = small_app();
    let vmid = unique_vmid(TEST_BASE + 7);
    let id = vmid.to_string();
    sim.write_config(app.path(), &format!("[container]\nvmid = {vmid}\n"));
    create(app.path());
    let _ = sim.host_run(&["pct", "stop", &id]);
    sim.write_config(
        app.path(),
        &format!("[container]\nvmid = {vmid}\n[firewall]\nenable = true\npolicy_in = \"DROP\"\nallow = [\"tcp/80\"]\n"),
    );
    let file = sim.state_dir().join(format!("etc/pve/firewall/{vmid}.fw"));
    let _ = std::fs::remove_file(&file);
    // Each call's first words: the scripts they carry are long.
    let lines = |calls: &[crate::support::Call]| {
        calls
            .iter()
            .map(|c| c.line().chars().take(100).collect())
            .collect::<Vec<String>>()
    };
    let written_at = || {
        std::fs::metadata(&file)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };

    let before = sim.calls_of(vmid).len();
    let dry = deploy_with(app.path(), &[], &["--dry-run"]);
    dry.assert_success();
    dry.assert_stderr_contains(&format!("would write /etc/pve/firewall/{vmid}.fw"));
    assert!(!file.exists(), "--dry-run wrote the firewall file");
    let after = sim.calls_of(vmid)[before..].to_vec();
    assert!(
        !after
            .iter()
            .any(|c| c.starts_with(&["pct", "start", &id]) || c.starts_with(&["pct", "set", &id])),
        "--dry-run changed the container: {:#?}",
        lines(&after)
    );

    let before = sim.calls_of(vmid).len();
    deploy_with(app.path(), &[], &[]).assert_success();
    let calls = sim.calls_of(vmid)[before..].to_vec();
    let started_at = calls
        .iter()
        .position(|c| c.starts_with(&["pct", "start", &id]))
        .expect("the deploy started the stopped container");
    let switched_on = calls.iter().position(|c| {
        c.starts_with(&["pct", "set", &id, "--net0"]) && c.line().contains("firewall=1")
    });
    assert!(
        switched_on.is_some_and(|at| at < started_at),
        "firewall=1 was not set on net0 before the deploy's `pct start`: {:#?}",
        lines(&calls)
    );
    assert!(file.exists(), "the deploy did not write the firewall file");
    assert!(
        written_at() <= calls[started_at].time,
        "the firewall file was written after the deploy's `pct start`"
    );

    let _ = sim.host_run(&["pct", "stop", &id]);
    std::fs::remove_file(&file).unwrap();
    let before = sim.calls_of(vmid).len();
    pxdeploy()
        .current_dir(app.path())
        .args(["start", "--no-wait"])
        .run()
        .assert_success();
    let calls = sim.calls_of(vmid)[before..].to_vec();
    let started = calls
        .iter()
        .find(|c| c.starts_with(&["pct", "start", &id]))
        .expect("`pxdeploy start` started the container");
    assert!(
        file.exists(),
        "`pxdeploy start` started the container without its firewall file"
    );
    assert!(
        written_at() <= started.time,
        "`pxdeploy start` wrote the firewall file after its `pct start`"
    );

    // `restart` of a stopped container starts it: the same.
    let _ = sim.host_run(&["pct", "stop", &id]);
    std::fs::remove_file(&file).unwrap();
    let before = sim.calls_of(vmid).len();
    pxdeploy()
        .current_dir(app.path())
        .args(["restart", "--no-wait"])
        .run()
        .assert_success();
    let calls = sim.calls_of(vmid)[before..].to_vec();
    let started = calls
        .iter()
        .find(|c| c.starts_with(&["pct", "start", &id]))
        .expect("`pxdeploy restart` started the stopped container");
    assert!(
        file.exists() && written_at() <= started.time,
        "`pxdeploy restart` started the container before writing its firewall file"
    );
    let _ = sim.host_run(&["pct", "stop", &id]);
}

/// Invalid `allow` entries are configuration errors (exit 3) naming the entry, before any
/// connection.
#[test]
fn invalid_firewall_rules_are_refused_before_connecting() {
    let sim = node();
    let app = example_app();
    let vmid = unique_vmid(TEST_BASE + 5);
    for (allow, says) in [
        ("\"tcp/80\", \"tcp/99999\"", "firewall.allow[1]"),
        ("\"tcp/22 from 192.168.1.0/33\"", "firewall.allow[0]"),
        ("\"tcp/22 from 10.0.0.300\"", "firewall.allow[0]"),
    ] {
        let config =
            format!("[container]\nvmid = {vmid}\n[firewall]\nenable = true\nallow = [{allow}]\n");
        refused_before_connecting(sim, app.path(), vmid, &config, &[], says);
    }
}

/// runc's CVE-2025-52881 fix inside LXC on a node without the AppArmor fix (runc #4968):
/// `check` warns about the container's runc version, a deploy explains the failure and the
/// two ways out (exit 5), and the second way out (`lxc.apparmor.profile: unconfined`) works.
#[test]
fn the_runc_apparmor_breakage_is_explained_and_check_warns() {
    let sim = node();
    let app = example_app();
    let vmid = unique_vmid(TEST_BASE + 6);
    sim.set_knob(&format!("runc_version.{vmid}"), "1.3.3");
    // Node-wide, but only a container with a runc_version knob is affected.
    sim.set_knob("lxc_pve_version", "6.0.5-1");
    sim.write_config(
        app.path(),
        &format!(
            "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 32\nSECRET_KEY = 32\n"
        ),
    );
    create(app.path());

    let check = pxdeploy().current_dir(app.path()).arg("check").run();
    check.assert_stderr_contains(&format!(
        "container {vmid} has runc 1.3.3 and the node lxc-pve 6.0.5-1"
    ));
    check.assert_stderr_contains("CVE-2025-52881");

    let run = deploy_with(app.path(), &[], &[]);
    run.assert_code(5);
    for says in [
        "Docker cannot start containers there",
        "CVE-2025-52881",
        "ip_unprivileged_port_start",
        "`lxc-pve` 6.0.5-2 or newer",
        &format!("`lxc.apparmor.profile: unconfined` to /etc/pve/lxc/{vmid}.conf"),
        "not recommended for production use",
    ] {
        run.assert_stderr_contains(says);
    }

    // The second way out, as a user would take it.
    let conf = std::fs::read_dir(sim.state_dir().join("etc/pve/nodes"))
        .unwrap()
        .map(|n| n.unwrap().path().join(format!("lxc/{vmid}.conf")))
        .find(|p| p.exists())
        .expect("the container's config");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}lxc.apparmor.profile: unconfined\n")).unwrap();
    sim.host_run(&["pct", "stop", &vmid.to_string()])
        .assert_success();
    deploy_with(app.path(), &[], &[]).assert_success();
    let check = pxdeploy().current_dir(app.path()).arg("check").run();
    check.assert_stderr_lacks("CVE-2025-52881");

    sim.unset_knob("lxc_pve_version");
    let _ = sim.host_run(&["pct", "stop", &vmid.to_string()]);
}

/// Compose where `pct exec` does not look (issue 23 item 6): a real node runs `pct exec` with
/// PATH `/sbin:/bin:/usr/sbin:/usr/bin`, so pip's `/usr/local/bin/docker-compose` is not found
/// by name. `create` looks for it by its full path and says how to make it the plugin; the
/// command it gives works, and then `deploy` does (Docker finds the plugin in
/// `/usr/local/lib/docker/cli-plugins` whatever the PATH).
#[test]
fn compose_only_under_usr_local_is_found_by_its_path_and_the_fix_works() {
    let sim = node();
    let app = small_app();
    let vmid = unique_vmid(TEST_BASE + 17);
    sim.set_knob(&format!("compose_dir.{vmid}"), "/usr/local/bin");
    sim.write_config(app.path(), &format!("[container]\nvmid = {vmid}\n"));
    let r = pxdeploy().current_dir(app.path()).arg("create").run();
    r.assert_code(5)
        .assert_stderr_contains("only as a standalone `/usr/local/bin/docker-compose`");
    let fix = format!("pct exec {vmid} -- sh -c 'mkdir -p /usr/local/lib/docker/cli-plugins && ln -sf /usr/local/bin/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose'");
    r.assert_stderr_contains(&fix);
    let id = vmid.to_string();
    sim.host_run(&[
        "pct", "exec", &id, "--", "sh", "-c",
        "mkdir -p /usr/local/lib/docker/cli-plugins && ln -sf /usr/local/bin/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose",
    ])
    .assert_code(0);
    deploy_with(app.path(), &[], &[]).assert_success();
    let _ = sim.host_run(&["pct", "stop", &id]);
}

/// Issue 25: `check` on a `[vm]` target says what a VM needs on the node, each with the
/// command that enables it: KVM, a storage with content `import` for the image (the
/// `pvesm set` with the storage's whole list, since the list is replaced), `snippets` for
/// the cloud-init files, `images` for the disk, the bridge; the vmid free.
#[test]
fn check_explains_what_a_vm_needs_with_the_commands() {
    let sim = node();
    let app = small_app();
    let vmid = unique_vmid(TEST_BASE + 18);
    let mut table = sim.config_table();
    table.remove("container");
    let vm: toml::Table = format!("vmid = {vmid}\nname = \"vmapp\"\nmemory_mb = 512\ncores = 1\n")
        .parse()
        .unwrap();
    table.insert("vm".into(), toml::Value::Table(vm));
    std::fs::write(
        app.path().join("pxdeploy.toml"),
        toml::to_string(&table).unwrap(),
    )
    .unwrap();
    // The node's `local` as on a fresh install: neither `import` nor `snippets`.
    sim.set_knob("local_vm_content", "0");
    let r = pxdeploy().current_dir(app.path()).arg("check").run();
    sim.unset_knob("local_vm_content");
    r.assert_code(5);
    r.assert_stdout_contains("`qm` works");
    r.assert_stdout_contains("✗ image storage: `local` does not hold `import` (its content: ");
    let fix = r
        .stdout
        .lines()
        .skip_while(|l| !l.contains("✗ image storage"))
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        fix.contains("fix: `pvesm set local --content ") && fix.contains(",import` on the node"),
        "{}",
        r.dump()
    );
    // The whole list: every content `local` has now, then `import`.
    assert!(fix.contains("backup") && fix.contains("vztmpl"), "{fix}");
    r.assert_stdout_contains("✗ snippets storage: `local` does not hold `snippets`");
    r.assert_stdout_contains("✓ storage: `local-lvm` (lvmthin) has content `images`");
    r.assert_stdout_contains("✓ bridge: `vmbr0` exists");
    r.assert_stdout_contains(&format!(
        "✓ vmid: {vmid} is free: `pxdeploy create` will create the VM"
    ));
    // KVM: what the node (this machine) has.
    if Path::new("/dev/kvm").exists() {
        r.assert_stdout_contains("✓ kvm: /dev/kvm is there");
    } else {
        r.assert_stdout_contains("✗ kvm: /dev/kvm is missing on the node");
    }
    assert!(
        !r.stdout.contains("template") && !r.stdout.contains("docker features"),
        "container checks on a VM:\n{}",
        r.dump()
    );

    // With the node's default contents, the storages pass.
    let r = pxdeploy().current_dir(app.path()).arg("check").run();
    r.assert_stdout_contains("✓ image storage: `local` (dir) has content `import`");
    r.assert_stdout_contains("✓ snippets storage: `local` (dir) has content `snippets`");
}
