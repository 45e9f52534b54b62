//! Issue 14, `pxdeploy exec SERVICE -- CMD…` and `pxdeploy shell` against a deployed app on
//! the simulated node: the command's output and exit code come through, stdin goes in, a
//! terminal gets a pty (through a real one: util-linux `script`), none gets `exec -T`.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{create, deploy, pxdeploy, small_app, unique_vmid, Run, SimHost};

pub(crate) struct Deployed {
    pub(crate) sim: SimHost,
    app: tempfile::TempDir,
    pub(crate) vmid: u32,
}

/// One container with the small app (service `web`) deployed, shared by the tests here and
/// by `compose_env.rs` (which needs a container with Docker and Compose, not a create).
pub(crate) fn deployed() -> &'static Deployed {
    static APP: OnceLock<Deployed> = OnceLock::new();
    APP.get_or_init(|| {
        let sim = SimHost::builder()
            .compose_version("2.40.3")
            .template_cached(true)
            .start();
        let app = small_app();
        let vmid = unique_vmid(0);
        sim.write_config(app.path(), &format!("[container]\nvmid = {vmid}\n"));
        create(app.path());
        deploy(app.path(), &[]).assert_success();
        Deployed { sim, app, vmid }
    })
}

fn px(app: &Path, args: &[&str]) -> Run {
    pxdeploy().current_dir(app).args(args).run()
}

#[test]
fn exec_passes_the_output_stdin_and_exit_code_through() {
    let d = deployed();
    let r = px(
        d.app.path(),
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out-$((3*4)); echo err-$((2+2)) >&2; exit 7",
        ],
    );
    r.assert_code(7).assert_stderr_contains("err-4");
    assert_eq!(r.stdout, "out-12\n", "{}", r.dump());
    // No terminal: `docker compose exec -T`, inside the container of the right project.
    let call = d
        .sim
        .calls_of(d.vmid)
        .into_iter()
        .map(|c| c.line())
        .rfind(|l| l.contains(" exec -T web sh -c"))
        .unwrap_or_else(|| panic!("no `exec -T web` call\n{}", r.dump()));
    assert!(
        call.contains("docker compose -p app -f /opt/app/docker-compose.yml"),
        "{call}"
    );

    // stdin reaches the command, and its end ends it.
    let r = pxdeploy()
        .current_dir(d.app.path())
        .args(["exec", "web", "--", "sh", "-c", "tr a-z A-Z; exit 0"])
        .stdin("hello from stdin\n")
        .run();
    r.assert_code(0);
    assert_eq!(r.stdout, "HELLO FROM STDIN\n", "{}", r.dump());

    px(d.app.path(), &["exec", "web", "--", "true"]).assert_code(0);
}

#[test]
fn exec_on_an_unknown_service_names_the_services() {
    let d = deployed();
    let r = px(d.app.path(), &["exec", "nope", "--", "true"]);
    r.assert_code(3)
        .assert_stderr_contains("no service \"nope\"")
        .assert_stderr_contains("are: web");
    let r = px(d.app.path(), &["-o", "json", "exec", "web", "--", "true"]);
    r.assert_code(2);
}

#[test]
fn on_a_terminal_exec_gets_a_pty_and_shell_gives_a_prompt() {
    let d = deployed();
    let on_pty = |args: &[&str], typed: &str| {
        pxdeploy()
            .on_pty()
            .current_dir(d.app.path())
            .env("TERM", "xterm")
            .args(args)
            .stdin(typed)
            .timeout(Duration::from_secs(60))
            .run()
    };
    let r = on_pty(&["exec", "web", "--", "sh", "-c", "tty; exit 3"], "");
    r.assert_code(3);
    assert!(
        r.stdout.contains("/dev/pts/"),
        "no pty in the service:\n{}",
        r.dump()
    );

    // The shell: a prompt (set by what is typed, so only a shell can show it), a typed
    // command's output, and `exit` ends it with the shell's code.
    let r = on_pty(
        &["shell"],
        "PS1=\"px-$((1+1))> \"\necho shell-$((6*7))\nexit 4\n",
    );
    r.assert_code(4);
    assert!(r.stdout.contains("px-2> "), "no prompt:\n{}", r.dump());
    assert!(r.stdout.contains("shell-42"), "no output:\n{}", r.dump());
}

#[test]
fn without_a_terminal_shell_reads_its_commands_from_stdin() {
    let d = deployed();
    let r = pxdeploy()
        .current_dir(d.app.path())
        .arg("shell")
        .stdin("echo piped-$((2+3)); hostname\n")
        .run();
    r.assert_code(0);
    assert!(r.stdout.contains("piped-5\napp\n"), "{}", r.dump());
}
