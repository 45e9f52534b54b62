//! The corpus of real Compose projects (tests/fixtures/real-world, see its README): each app
//! deploys healthy through pxdeploy, redeploys unchanged without `up`, and `status` shows
//! every service as its `expect` file says. One simulated node for the whole corpus (a
//! container per app, destroyed after it): dockerds are expensive. The apps run
//! [`PARALLEL`] at a time on that node: most of an app's time is waiting (container start,
//! DHCP, health checks, shutdown), not CPU.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::support::{copy_dir, pxdeploy, repo_root, Run, SimHost};

fn corpus() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/fixtures/real-world");
    let mut apps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    apps.sort();
    apps
}

fn run(app: &Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(app)
        .args(args)
        .timeout(Duration::from_secs(300))
        .run()
}

/// `service state health [ready/wanted]` per line, sorted.
fn lines(doc: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = doc["services"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            let mut line = format!("{} {} {}", f("service"), f("state"), f("health"));
            if let Some(r) = s.get("replicas") {
                line.push_str(&format!(" {}/{}", r["ready"], r["wanted"]));
            }
            line
        })
        .collect();
    out.sort();
    out
}

fn expected(app: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(app.join("expect")).unwrap();
    let mut out: Vec<String> = text.lines().map(str::to_string).collect();
    out.sort();
    out
}

/// How many apps are deployed at the same time (each in its own container on the one node).
const PARALLEL: usize = 3;

/// `docker compose up` runs in container `vmid` so far (other apps' containers do not count).
fn up_count(sim: &SimHost, vmid: u32) -> usize {
    sim.calls_of(vmid)
        .iter()
        .filter(|c| c.argv.iter().any(|a| a == "compose") && c.argv.iter().any(|a| a == "up"))
        .count()
}

/// Deploy, redeploy, status and destroy of one app; the problems found.
fn check_app(sim: &SimHost, app: &Path, vmid: u32) -> Vec<String> {
    let name = app.file_name().unwrap().to_string_lossy().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path();
    copy_dir(app, a);
    let extra = std::fs::read_to_string(app.join("pxdeploy.extra.toml")).unwrap_or_default();
    let mut config = format!(
        "[container]\nvmid = {vmid}\n[app]\nname = \"{name}\"\ncompose_file = \"compose.yaml\"\n"
    )
    .parse::<toml::Table>()
    .unwrap();
    crate::support::sim::merge(&mut config, extra.parse::<toml::Table>().unwrap());
    sim.write_config(a, &toml::to_string(&config).unwrap());

    let mut problems = Vec::new();
    let want = expected(app);
    let created = run(a, &["create"]);
    if created.status != 0 {
        return vec![format!("{name}: create failed\n{}", created.dump())];
    }
    let first = run(a, &["-o", "json", "deploy"]);
    if first.status != 0 {
        problems.push(format!(
            "{name}: deploy exited {}\n{}",
            first.status,
            first.dump()
        ));
    } else {
        if lines(&first.json()) != want {
            problems.push(format!(
                "{name}: deploy reported {:?}, expected {want:?}",
                lines(&first.json())
            ));
        }
        // The progress lines count replicas: `service server: 2/2 healthy`.
        for line in want.iter().filter(|l| l.split(' ').count() == 4) {
            let f: Vec<&str> = line.split(' ').collect();
            let label = if f[2] == "none" { f[1] } else { f[2] };
            let progress = format!("service {}: {} {label}", f[0], f[3]);
            if !first.stderr.contains(&progress) {
                problems.push(format!(
                    "{name}: no progress line {progress:?}\n{}",
                    first.stderr
                ));
            }
        }
        if first.stderr.contains("warning") {
            problems.push(format!("{name}: deploy warned\n{}", first.stderr));
        }
        let ups = up_count(sim, vmid);
        let again = run(a, &["deploy"]);
        if again.status != 0 || up_count(sim, vmid) != ups || !again.stderr.contains("skipped") {
            problems.push(format!(
                "{name}: the unchanged redeploy ran `up` or failed\n{}",
                again.dump()
            ));
        }
        let status = run(a, &["-o", "json", "status"]);
        if status.status != 0 || lines(&status.json()) != want {
            problems.push(format!(
                "{name}: status is not as expected {want:?}\n{}",
                status.dump()
            ));
        }
    }
    run(a, &["--yes", "destroy"]).assert_success();
    problems
}

#[test]
fn every_real_world_app_deploys_redeploys_unchanged_and_reports_status() {
    let apps = corpus();
    assert!(apps.len() >= 9, "the corpus has {} apps", apps.len());
    let sim = SimHost::builder().template_cached(true).start();
    let base = 100_000 + (std::process::id() % 10_000) * 100 + 50;
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(app) = apps.get(i) else { break };
                let found = check_app(&sim, app, base + i as u32);
                problems.lock().unwrap().extend(found);
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
