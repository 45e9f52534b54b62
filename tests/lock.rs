//! The deploy lock on the simulated node (issue 8): it lives in a folder that is root's
//! alone, and a hostile one is refused; a frozen holder loses it to the heartbeat.

use crate::deploy::{deploy, sim_and_app, unique_vmid};

const TEST_BASE: u32 = 50;

/// A `/run/pxdeploy` planted by someone else (a symlink, world-writable, another owner, a
/// file) stops the deploy with exit 5 saying what is wrong and how to fix it, and nothing is
/// written through it. Without it, the deploy creates it, root's alone.
#[test]
fn a_hostile_lock_folder_is_refused_with_exit_5_and_nothing_written_through_it() {
    let (sim, app) = sim_and_app("2.40.3");
    let a = app.path();
    let vmid = unique_vmid(TEST_BASE);
    sim.write_config(a, &format!("[container]\nvmid = {vmid}\n"));
    let cases = [
        (
            "mkdir -m 700 /run/elsewhere && ln -s /run/elsewhere /run/pxdeploy",
            "/run/pxdeploy is a symbolic link, not a directory",
        ),
        (
            "mkdir -m 777 /run/pxdeploy",
            "/run/pxdeploy can be written by group or others (mode 777)",
        ),
        (
            "mkdir -m 1777 /run/pxdeploy",
            "/run/pxdeploy can be written by group or others (mode 1777)",
        ),
        (
            "mkdir -m 700 /run/pxdeploy && chown 33:33 /run/pxdeploy",
            "/run/pxdeploy is owned by uid 33, not root",
        ),
        (
            "touch /run/pxdeploy",
            "/run/pxdeploy is a regular empty file",
        ),
    ];
    for (plant, says) in cases {
        sim.ssh_ok(&format!("rm -rf /run/pxdeploy /run/elsewhere; {plant}"));
        let run = deploy(a, &[]);
        run.assert_code(5);
        run.assert_stderr_contains(&format!(
            "cannot take the deploy lock of container {vmid} on"
        ));
        run.assert_stderr_contains(says);
        run.assert_stderr_contains("rm -rf /run/pxdeploy");
        // Nothing written in it, or through it.
        let left = sim.ssh_ok("ls -A /run/elsewhere /run/pxdeploy 2>/dev/null; true");
        assert!(!left.contains("pxdeploy-"), "{plant}: {left}");
        assert!(!left.contains(".holder"), "{plant}: {left}");
    }
    // What the test planted stayed on the simulated host.
    assert!(!std::path::Path::new("/run/elsewhere").exists());

    sim.ssh_ok("rm -rf /run/pxdeploy /run/elsewhere");
    let run = deploy(a, &[]);
    run.assert_stderr_contains(&format!("Taking the deploy lock of container {vmid}: done"));
    assert_eq!(
        sim.ssh_ok("stat -c '%u %a %F' /run/pxdeploy").trim(),
        "0 700 directory"
    );
    let holder = sim.ssh_ok(&format!("cat /run/pxdeploy/pxdeploy-{vmid}.holder"));
    assert!(holder.contains(" since "), "{holder}");
}
