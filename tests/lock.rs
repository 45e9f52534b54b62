//! The deploy lock on the simulated node (issue 8): it lives in a folder that is root's
//! alone, and a hostile one is refused; a frozen holder loses it to the heartbeat. The lock
//! folder is the node's, so each test has a node of its own.

use std::time::{Duration, Instant};

use crate::support::app::{lock_taken, now_secs};
use crate::support::{example_app, pxdeploy, unique_vmid, Session, SimHost};

const TEST_BASE: u32 = 50;

/// A `/run/pxdeploy` planted by someone else (a symlink, world-writable, another owner, a
/// file) stops the deploy with exit 5 saying what is wrong and how to fix it, and nothing is
/// written through it. Without it, the deploy creates it, root's alone.
#[test]
fn a_hostile_lock_folder_is_refused_with_exit_5_and_nothing_written_through_it() {
    let sim = SimHost::start_cached();
    let s = Session::new(&sim, unique_vmid(TEST_BASE), example_app());
    let vmid = s.vmid();
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
        s.deploy()
            .expect_exit(5)
            .expect_says(&format!(
                "cannot take the deploy lock of container {vmid} on"
            ))
            .expect_says(says)
            .expect_says("rm -rf /run/pxdeploy");
        // Nothing written in it, or through it.
        let left = sim.ssh_ok("ls -A /run/elsewhere /run/pxdeploy 2>/dev/null; true");
        assert!(!left.contains("pxdeploy-"), "{plant}: {left}");
        assert!(!left.contains(".holder"), "{plant}: {left}");
    }
    // What the test planted stayed on the simulated host.
    assert!(!std::path::Path::new("/run/elsewhere").exists());

    sim.ssh_ok("rm -rf /run/pxdeploy /run/elsewhere");
    s.deploy().expect_says(&lock_taken(vmid));
    assert_eq!(
        sim.ssh_ok("stat -c '%u %a %F' /run/pxdeploy").trim(),
        "0 700 directory"
    );
    let holder = sim.ssh_ok(&format!("cat /run/pxdeploy/pxdeploy-{vmid}.holder"));
    assert!(holder.contains(" since "), "{holder}");
}

/// The frozen holder's give-up time in seconds (the real one is 45): the test-only
/// environment variable `PXDEPLOY_LOCK_GIVE_UP_SECS` of the holder (docs/testing.md). The
/// lock shell on the host enforces its holder's own value; a waiter never waits for it.
const GIVE_UP_SECS: u64 = 10;

/// A deploy frozen (SIGSTOP: a laptop lid closed) while it holds the lock sends no more
/// heartbeats: the host gives its lock up after its give-up time and the next deploy gets
/// it (not the ~2 h TCP would take). Woken up (SIGCONT), the first one notices it lost the
/// lock and fails with exit 7 before running anything more on the host.
#[test]
fn a_frozen_deploy_loses_the_lock_to_the_next_one_and_fails_cleanly_when_it_wakes() {
    let sim = SimHost::start_cached();
    let s = Session::new(&sim, unique_vmid(TEST_BASE + 1), example_app());
    let vmid = s.vmid();
    s.config("[env.secrets]\nPOSTGRES_PASSWORD = 24\nSECRET_KEY = 24\n")
        .create();

    let mut frozen = pxdeploy()
        .current_dir(s.path())
        .env("USER", "alice")
        .env("PXDEPLOY_LOCK_GIVE_UP_SECS", GIVE_UP_SECS.to_string())
        .arg("deploy")
        .timeout(Duration::from_secs(300))
        .spawn();
    frozen.wait_for_stderr(&lock_taken(vmid), Duration::from_secs(60));
    frozen.signal(libc::SIGSTOP);
    let stopped = Instant::now();

    // Refused while the host still counts on a heartbeat, then the lock is free.
    let mut refused = 0;
    let got_it_after = loop {
        let attempt = stopped.elapsed();
        assert!(
            attempt < Duration::from_secs(GIVE_UP_SECS + 50),
            "still locked {attempt:?} after the holder froze"
        );
        let next = s.deploy();
        if next.run().status == 0 {
            break attempt;
        }
        next.expect_exit(7).expect_says("alice@");
        refused += 1;
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(refused > 0, "the lock was free at once");
    // its last heartbeat came at most 2/9 of the give-up time before it froze
    assert!(
        got_it_after >= Duration::from_secs(GIVE_UP_SECS * 2 / 3),
        "given up after {got_it_after:?}: too soon for a {GIVE_UP_SECS} s heartbeat limit"
    );

    let woke = now_secs();
    frozen.signal(libc::SIGCONT);
    let first = frozen.wait();
    first.assert_code(7);
    first.assert_stderr_contains(&format!("the deploy lock of container {vmid} on"));
    first.assert_stderr_contains("was lost; stopped before changing anything more");
    first.assert_stderr_contains(&format!("no heartbeat from pxdeploy for {GIVE_UP_SECS}s"));
    // Nothing more ran on the host after it woke up.
    let after: Vec<String> = sim
        .calls()
        .into_iter()
        .filter(|c| c.time >= woke)
        .map(|c| c.line())
        .collect();
    assert!(after.is_empty(), "ran after waking: {after:?}");
    // The second deploy's result stands.
    s.run(&["status", "-o", "json"]).expect_ok();
}
