//! Redeploys of a deployed app: `.env` kept and filled, nothing to do, a dropped upload, a
//! stopped service or container, a broken `.env`, the lock, a terminal. Each test deploys the
//! example app into a container of its own on the shared node ([`Deployed`]).

use super::*;

/// A redeploy at -vvv with `DOMAIN` changed and a new secret: the new secret is added, the
/// value updated, everything else in `.env` (a key added by hand too) kept byte for byte;
/// the deploy's fingerprint is kept 0600 and never printed.
#[test]
fn a_redeploy_keeps_the_env_fills_new_secrets_and_updates_values() {
    let ct = Deployed::new(11, |vmid| config(vmid, "first.example.lan", false));
    let env1 = ct.env();
    ct.in_ct(&[
        "sh",
        "-c",
        "printf 'HAND_ADDED=by hand\\n' >> /opt/app/.env",
    ])
    .assert_success();

    ct.sim
        .write_config(ct.app(), &config(ct.vmid, "changed.example.lan", true));
    let second = deploy(ct.app(), &["-vvv"]);
    second.assert_success();
    let marker = ct.in_ct(&["stat", "-c", "%a", "/opt/app/.pxdeploy-deployed"]);
    assert_eq!(marker.stdout.trim(), "600", "{}", marker.dump());
    let fingerprint = ct.in_ct(&["cat", "/opt/app/.pxdeploy-deployed"]).stdout;
    let hash = fingerprint.trim().trim_start_matches("sha256:");
    assert_eq!(hash.len(), 64, "{fingerprint:?}");
    assert_no_secret(&second, &[hash.to_string()]);
    let env2 = ct.env();
    for key in ["POSTGRES_PASSWORD", "SECRET_KEY"] {
        assert_eq!(env_line(&env2, key), env_line(&env1, key), "{key} changed");
    }
    assert_eq!(env_line(&env2, "HAND_ADDED"), Some("HAND_ADDED=by hand"));
    assert_eq!(
        env_line(&env2, "DOMAIN"),
        Some("DOMAIN=changed.example.lan")
    );
    let new_secret = secret(&env2, "NEW_SECRET");
    assert_eq!(new_secret.len(), 20);
    let mode = ct.in_ct(&["stat", "-c", "%a", "/opt/app/.env"]);
    assert_eq!(mode.stdout.trim(), "600");
    let got = ct.compose(&["exec", "-T", "api", "sh", "-c", PRINT_DOMAIN]);
    assert_eq!(got.stdout, "changed.example.lan\n", "{}", got.dump());
    assert_no_secret(&second, &ct.secrets());
}

/// A redeploy with nothing to change names the kept keys, runs no `up` (every service is
/// healthy): the containers are the same ones, and `.env` is not rewritten.
#[test]
fn an_unchanged_redeploy_runs_no_up_and_keeps_the_containers() {
    let ct = Deployed::new(12, |vmid| config(vmid, "changed.example.lan", true));
    let env = ct.env();
    let ids = || ct.compose(&["ps", "-aq"]).stdout;
    let ids_before = ids();
    let calls_before = ct.sim.calls_of(ct.vmid).len();
    let third = deploy(ct.app(), &["-o", "json"]);
    third.assert_success();
    let doc = third.json();
    assert_all_healthy(&doc);
    assert_eq!(doc["compose_up"], "skipped: nothing changed", "{doc:#}");
    assert_eq!(
        ct.ups_since(calls_before),
        0,
        "an unchanged redeploy ran `up`"
    );
    assert_eq!(
        ids(),
        ids_before,
        "an unchanged redeploy recreated containers"
    );
    let mut kept = names(&doc["env"]["kept"]);
    kept.sort();
    for key in ["DOMAIN", "NEW_SECRET", "POSTGRES_PASSWORD", "SECRET_KEY"] {
        assert!(kept.iter().any(|k| k == key), "{key} not kept: {doc:#}");
    }
    assert_eq!(ct.env(), env, "an unchanged redeploy rewrote .env");
    assert_no_secret(&third, &ct.secrets());
}

/// The connection drops in the middle of a .env upload: the old .env stays whole, no
/// temporary file is left, and the next deploy succeeds.
#[test]
fn a_connection_dropped_during_the_env_upload_leaves_the_old_env_whole() {
    let ct = Deployed::new(13, |vmid| config(vmid, "app.example.lan", false));
    let env = ct.env();
    let argv = pxdeploy::envfile::write_argv("/opt/app", 4096);
    let upload = format!(
        "pct exec {} -- {}",
        ct.vmid,
        pxdeploy::remote::quote::join(&argv)
    );
    let mut ssh = ct
        .sim
        .ssh_command(&upload)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = ssh.stdin.as_mut().unwrap();
        stdin.write_all(b"POSTGRES_PASSWORD=half-writt").unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(800));
    ssh.kill().unwrap(); // SIGKILL: the TCP connection drops, no EOF handshake
    ssh.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ct.env(), env, ".env changed by a dropped upload");
    let leftovers = ct.in_ct(&["sh", "-c", "ls -a /opt/app | grep -c '^.env.tmp' || true"]);
    assert_eq!(
        leftovers.stdout.trim(),
        "0",
        "temporary .env files left: {}",
        leftovers.dump()
    );
    pxdeploy()
        .current_dir(ct.app())
        .arg("deploy")
        .run()
        .assert_success();
    assert_eq!(ct.env(), env);
}

/// A stopped service, a changed file, or `--force`: `up` runs again; then, with nothing
/// changed, it does not.
#[test]
fn a_stopped_service_a_changed_file_or_force_runs_up_again() {
    let ct = Deployed::new(14, |vmid| config(vmid, "app.example.lan", false));
    let a = ct.app();
    ct.compose(&["stop", "web"]).assert_success();
    let calls_before = ct.sim.calls_of(ct.vmid).len();
    let healed = deploy(a, &["-o", "json"]);
    healed.assert_success();
    assert_eq!(healed.json()["compose_up"], "ran");
    assert_all_healthy(&healed.json());
    assert_eq!(ct.ups_since(calls_before), 1);
    write(a.join("extra/keep.txt"), "changed\n");
    let changed = deploy(a, &["-o", "json"]);
    changed.assert_success();
    assert_eq!(changed.json()["compose_up"], "ran");
    let forced = pxdeploy()
        .current_dir(a)
        .args(["-o", "json", "deploy", "--force"])
        .timeout(Duration::from_secs(180))
        .run();
    forced.assert_success();
    assert_eq!(forced.json()["compose_up"], "ran");
    let again = deploy(a, &["-o", "json"]);
    assert_eq!(again.json()["compose_up"], "skipped: nothing changed");
    let secrets = ct.secrets();
    for run in [&healed, &changed, &forced, &again] {
        assert_no_secret(run, &secrets);
    }
}

/// A stopped container is started (and said so), then deployed.
#[test]
fn a_stopped_container_is_started_then_deployed() {
    let ct = Deployed::new(15, |vmid| config(vmid, "app.example.lan", false));
    ct.sim
        .host_run(&["pct", "stop", &ct.vmid.to_string()])
        .assert_success();
    let restarted = deploy(ct.app(), &["-o", "json"]);
    restarted.assert_success();
    restarted.assert_stderr_contains("is stopped: starting it");
    assert_eq!(restarted.json()["container_started"], true);
    assert_all_healthy(&restarted.json());
}

/// A `.env` in the container that is not text is refused (exit 5), and left as it is.
#[test]
fn an_env_file_that_is_not_utf8_is_refused_and_left_as_it_is() {
    let ct = Deployed::new(16, |vmid| config(vmid, "app.example.lan", false));
    ct.in_ct(&["sh", "-c", "printf 'BINARY=\\377\\n' >> /opt/app/.env"])
        .assert_success();
    let broken = read_env_bytes(ct.sim, ct.vmid);
    let refused = deploy(ct.app(), &[]);
    refused.assert_code(5);
    refused.assert_stderr_contains("/opt/app/.env in container");
    refused.assert_stderr_contains("is not UTF-8 text");
    assert_eq!(read_env_bytes(ct.sim, ct.vmid), broken);
}

/// The deploy lock: a second concurrent deploy exits 7 naming the holder; a deploy killed
/// with SIGKILL leaves no lock behind.
#[test]
fn concurrent_deploy_is_refused_and_a_killed_deploy_leaves_no_lock() {
    let ct = Deployed::new(17, secrets_only);
    let (a, vmid) = (ct.app(), ct.vmid);

    let holder = deploy_holding_the_lock(a, vmid, Duration::from_secs(180));
    let second = deploy(a, &[]);
    second.assert_code(7);
    second.assert_stderr_contains(&format!("another deploy of container {vmid} is running"));
    second.assert_stderr_contains("alice@");
    second.assert_stderr_contains(" since ");
    holder.wait().assert_success();

    // SIGKILL while holding the lock: the next deploy gets it.
    let killed = deploy_holding_the_lock(a, vmid, Duration::from_secs(180));
    killed.signal(libc::SIGKILL);
    let k = killed.wait();
    assert_eq!(k.signal, Some(libc::SIGKILL), "{}", k.dump());
    deploy(a, &[]).assert_success();
}

/// On a terminal (a pty, the screen as a person sees it afterwards), a deploy with nothing
/// to do keeps the same ✓ lines of its steps as one that runs `docker compose up`.
#[test]
fn on_a_terminal_an_unchanged_deploy_keeps_its_step_lines() {
    let ct = Deployed::new(18, secrets_only);
    let a = ct.app();

    let on_screen = |term: &str, args: &[&str]| -> Vec<String> {
        let run = pxdeploy()
            .on_pty()
            .current_dir(a)
            .env("TERM", term)
            .args(args)
            .timeout(Duration::from_secs(180))
            .run();
        run.assert_success();
        crate::support::screen::render(run.stdout.as_bytes(), 100)
    };
    let steps = [
        "✓ Connecting to",
        "✓ Taking the deploy lock",
        "✓ Reading container",
        "✓ Merging .env",
        // Reading the app folder (an unchanged deploy pushes nothing: no `Pushing` step).
        "✓ Reading /",
    ];
    for args in [&["deploy"][..], &["deploy", "--force"]] {
        let screen = on_screen("xterm-256color", args);
        let args = args.join(" ");
        for step in steps {
            assert!(
                screen.iter().any(|l| l.starts_with(step)),
                "`pxdeploy {args}` on a terminal does not keep `{step}` on screen:\n{}",
                screen.join("\n")
            );
        }
    }

    // A terminal that cannot draw spinners (`TERM=dumb`) gets the plain lines, not nothing.
    let screen = on_screen("dumb", &["deploy"]);
    for step in ["Connecting to", "Merging .env", "Reading /"] {
        assert!(
            screen
                .iter()
                .any(|l| l.contains(&format!("] {step}")) && l.contains(": done")),
            "`pxdeploy deploy` on a dumb terminal does not show `{step}`:\n{}",
            screen.join("\n")
        );
    }
}
