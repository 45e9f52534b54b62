//! The CI recipes of docs/ci.md, run as the runners would run them (issue 13): the shell
//! steps are taken out of the YAML blocks and run with bash against the simulated node, the
//! secrets filled with its address, its host key line and the client key, and the released
//! binary downloaded (`curl file://…`) from the binary under test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_norway::Value;

use crate::support::{copy_dir, pxdeploy, repo_root, Run, SimHost};

/// A vmid of this test process alone (the deploy lock lives in the shared /run/lock).
fn unique_vmid(test: u32) -> u32 {
    100_000 + (std::process::id() % 100_000) * 10 + 5 + test
}

/// The YAML blocks of docs/ci.md, parsed: (GitHub Actions workflow, GitLab CI file).
fn recipes() -> (Value, Value) {
    let text = std::fs::read_to_string(repo_root().join("docs/ci.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(serde_norway::from_str::<Value>(b).expect("a recipe is valid YAML"));
                current = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    let github = blocks.iter().find(|b| b.get("jobs").is_some());
    let gitlab = blocks.iter().find(|b| b.get("jobs").is_none());
    assert_eq!(
        blocks.len(),
        2,
        "docs/ci.md has one GitHub and one GitLab recipe"
    );
    (github.unwrap().clone(), gitlab.unwrap().clone())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

/// `${{ vars.X }}` / `${{ secrets.X }}` filled from `values`; any other expression fails the
/// test (the recipe would use something the test does not provide).
fn expand(s: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("unclosed ${{") + start;
        let expr = rest[start + 3..end].trim();
        let value = values
            .get(expr)
            .unwrap_or_else(|| panic!("the recipe uses `{expr}`, which the test does not fill"));
        out.push_str(value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn env_of(v: Option<&Value>, values: &BTreeMap<&str, String>) -> Vec<(String, String)> {
    let Some(Value::Mapping(m)) = v else {
        return Vec::new();
    };
    m.iter()
        .map(|(k, v)| (text(k), expand(&text(v), values)))
        .collect()
}

/// The repository a push checks out: the example app and a pxdeploy.toml for the simulated
/// node without `host`, `identity_file` and `known_hosts` (CI gives them).
fn checkout(sim: &SimHost, vmid: u32) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pxdeploy-ci-")
        .tempdir()
        .unwrap();
    copy_dir(&repo_root().join("examples/app"), dir.path());
    let mut config: toml::Table = sim
        .config_toml(&format!(
            "[container]\nvmid = {vmid}\n[env.secrets]\nPOSTGRES_PASSWORD = 24\nSECRET_KEY = 24\n"
        ))
        .parse()
        .unwrap();
    let proxmox = config["proxmox"].as_table_mut().unwrap();
    for key in ["host", "identity_file", "known_hosts"] {
        proxmox.remove(key);
    }
    std::fs::write(
        dir.path().join("pxdeploy.toml"),
        toml::to_string(&config).unwrap(),
    )
    .unwrap();
    dir
}

/// What CI holds for the simulated node: its host key line as `known_hosts` has it, the
/// client's private key, the node's address and where the binary is downloaded from.
struct Secrets {
    host: String,
    known_hosts: String,
    ssh_key: String,
    url: String,
}

impl Secrets {
    fn of(sim: &SimHost) -> Secrets {
        let known_hosts = format!(
            "[{}]:{} {}",
            sim.host(),
            sim.port(),
            sim.host_public_key().trim()
        );
        Secrets {
            host: sim.host().to_string(),
            known_hosts,
            ssh_key: std::fs::read_to_string(sim.identity_file()).unwrap(),
            url: format!("file://{}", env!("CARGO_BIN_EXE_pxdeploy")),
        }
    }
}

/// bash as the runners start it, with the test's scrubbed environment and this HOME.
fn bash(script: &str, cwd: &Path, home: &Path, env: &[(String, String)]) -> Run {
    let mut cmd = pxdeploy()
        .program("/bin/bash")
        .args([
            "--noprofile",
            "--norc",
            "-e",
            "-o",
            "pipefail",
            "-c",
            script,
        ])
        .current_dir(cwd)
        .home(home)
        .timeout(Duration::from_secs(300));
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run()
}

/// One GitHub Actions job, step by step: `uses:` steps are skipped (the checkout is `repo`),
/// each `run:` gets the job's and its own `env:`, what earlier steps appended to
/// `$GITHUB_ENV` and `$GITHUB_PATH`. Stops at the first failing step, like the runner.
/// Returns each step's name and run, and the step summary.
fn run_github(workflow: &Value, s: &Secrets, repo: &Path) -> (Vec<(String, Run)>, String) {
    let values = BTreeMap::from([
        ("vars.PROXMOX_HOST", s.host.clone()),
        ("vars.PXDEPLOY_URL", s.url.clone()),
        ("secrets.PROXMOX_SSH_KEY", s.ssh_key.clone()),
        ("secrets.PROXMOX_KNOWN_HOSTS", s.known_hosts.clone()),
    ]);
    let jobs = workflow["jobs"].as_mapping().unwrap();
    assert_eq!(jobs.len(), 1, "one deploy job");
    let job = jobs.values().next().unwrap();
    assert_eq!(
        job["defaults"]["run"]["shell"].as_str(),
        Some("bash"),
        "bash with pipefail"
    );
    let runner = tempfile::tempdir().unwrap();
    let home = runner.path().join("home");
    let temp = runner.path().join("temp");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&temp).unwrap();
    let files: BTreeMap<&str, PathBuf> = ["GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"]
        .into_iter()
        .map(|k| {
            let p = runner.path().join(k.to_lowercase());
            std::fs::write(&p, "").unwrap();
            (k, p)
        })
        .collect();
    let job_env = env_of(job.get("env"), &values);
    let mut runs = Vec::new();
    for step in job["steps"].as_sequence().unwrap() {
        if let Some(uses) = step.get("uses") {
            assert!(text(uses).starts_with("actions/checkout@"), "{uses:?}");
            continue;
        }
        let name = step.get("name").map(text).unwrap_or_default();
        let script = expand(&text(&step["run"]), &values);
        let mut env = vec![
            ("RUNNER_TEMP".to_string(), temp.display().to_string()),
            ("GITHUB_WORKSPACE".to_string(), repo.display().to_string()),
        ];
        for (k, p) in &files {
            env.push((k.to_string(), p.display().to_string()));
        }
        let mut path: Vec<String> = std::fs::read_to_string(&files["GITHUB_PATH"])
            .unwrap()
            .lines()
            .rev()
            .map(String::from)
            .collect();
        path.push(std::env::var("PATH").unwrap());
        env.push(("PATH".to_string(), path.join(":")));
        env.extend(job_env.iter().cloned());
        env.extend(env_of(step.get("env"), &values));
        for line in std::fs::read_to_string(&files["GITHUB_ENV"])
            .unwrap()
            .lines()
        {
            let (k, v) = line
                .split_once('=')
                .expect("GITHUB_ENV lines are KEY=VALUE");
            env.push((k.to_string(), v.to_string()));
        }
        let run = bash(&script, repo, &home, &env);
        let failed = run.status != 0;
        runs.push((name, run));
        if failed {
            break;
        }
    }
    let summary = std::fs::read_to_string(&files["GITHUB_STEP_SUMMARY"]).unwrap();
    (runs, summary)
}

/// One GitLab CI job: `before_script` and `script` as one bash script, the two File
/// variables as files whose paths the variables hold.
fn run_gitlab(pipeline: &Value, s: &Secrets, repo: &Path) -> Run {
    let jobs: Vec<&Value> = pipeline
        .as_mapping()
        .unwrap()
        .values()
        .filter(|j| j.get("script").is_some())
        .collect();
    assert_eq!(jobs.len(), 1, "one deploy job");
    let job = jobs[0];
    let mut lines = Vec::new();
    for part in ["before_script", "script"] {
        for line in job[part].as_sequence().unwrap() {
            lines.push(text(line));
        }
    }
    let runner = tempfile::tempdir().unwrap();
    let home = runner.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key = runner.path().join("PROXMOX_SSH_KEY");
    let known = runner.path().join("PROXMOX_KNOWN_HOSTS");
    std::fs::write(&key, &s.ssh_key).unwrap();
    std::fs::write(&known, format!("{}\n", s.known_hosts)).unwrap();
    let env = vec![
        ("CI_PROJECT_DIR".to_string(), repo.display().to_string()),
        ("PROXMOX_HOST".to_string(), s.host.clone()),
        ("PXDEPLOY_URL".to_string(), s.url.clone()),
        ("PROXMOX_SSH_KEY".to_string(), key.display().to_string()),
        (
            "PROXMOX_KNOWN_HOSTS".to_string(),
            known.display().to_string(),
        ),
    ];
    bash(&lines.join("\n"), repo, &home, &env)
}

const SERVICES: [&str; 4] = ["db", "cache", "api", "web"];

#[test]
fn github_recipe_deploys_on_push_and_a_wrong_pinned_host_key_stops_it_with_4() {
    let (github, _) = recipes();
    let sim = SimHost::builder()
        .compose_version("2.40.3")
        .template_cached(true)
        .start();
    let vmid = unique_vmid(0);
    let repo = checkout(&sim, vmid);
    create_with_known_hosts(&sim, repo.path());

    let (runs, summary) = run_github(&github, &Secrets::of(&sim), repo.path());
    for (name, run) in &runs {
        assert_eq!(run.status, 0, "step {name:?} failed\n{}", run.dump());
    }
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Install pxdeploy",
            "SSH key and pinned host key",
            "Preflight",
            "Deploy"
        ]
    );
    let deploy = &runs[3].1;
    deploy.assert_stdout_contains("deployed; compose up: ran");
    for service in SERVICES {
        assert!(
            summary.contains(&format!("- {service}: running, healthy")),
            "the step summary lists {service} as healthy:\n{summary}"
        );
    }

    // The same push with a host key the node does not have: the job stops at the preflight
    // with exit 4 and nothing is deployed.
    let other = tempfile::tempdir().unwrap();
    let other_key = other.path().join("k");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .unwrap();
    assert!(st.success());
    let mut wrong = Secrets::of(&sim);
    let other_pub = std::fs::read_to_string(other_key.with_extension("pub")).unwrap();
    wrong.known_hosts = format!("[{}]:{} {}", sim.host(), sim.port(), other_pub.trim());
    let repo2 = checkout(&sim, vmid);
    let before = sim.calls_matching(&["pct"]).len();
    let (runs, _) = run_github(&github, &wrong, repo2.path());
    let (name, run) = runs.last().unwrap();
    assert_eq!(name, "Preflight", "the job stops at the preflight");
    run.assert_code(4);
    assert!(!repo2.path().join("deploy.json").exists());
    assert_eq!(
        sim.calls_matching(&["pct"]).len(),
        before,
        "nothing ran on the node"
    );
}

#[test]
fn gitlab_recipe_deploys_on_push() {
    let (_, gitlab) = recipes();
    let sim = SimHost::builder()
        .compose_version("2.40.3")
        .template_cached(true)
        .start();
    let vmid = unique_vmid(1);
    let repo = checkout(&sim, vmid);
    create_with_known_hosts(&sim, repo.path());

    let run = run_gitlab(&gitlab, &Secrets::of(&sim), repo.path());
    run.assert_success()
        .assert_stdout_contains("deployed; compose up: ran");
    for service in SERVICES {
        run.assert_stdout_contains(&format!("{service}: running, healthy"));
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("deploy.json")).unwrap())
            .expect("the deploy.json artifact is one JSON document");
    assert_eq!(doc["ok"], true, "{doc}");
}

/// `pxdeploy create` for the checkout, with the simulated node's own known_hosts (the admin's
/// machine, not the CI runner).
fn create_with_known_hosts(sim: &SimHost, repo: &Path) {
    let config = repo.join("admin.toml");
    let mut table: toml::Table = std::fs::read_to_string(repo.join("pxdeploy.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let proxmox = table["proxmox"].as_table_mut().unwrap();
    proxmox.insert("host".into(), sim.host().into());
    proxmox.insert(
        "identity_file".into(),
        sim.identity_file().display().to_string().into(),
    );
    proxmox.insert(
        "known_hosts".into(),
        sim.known_hosts().display().to_string().into(),
    );
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    pxdeploy()
        .current_dir(repo)
        .arg("-c")
        .arg(&config)
        .arg("create")
        .timeout(Duration::from_secs(180))
        .run()
        .assert_success();
    std::fs::remove_file(config).unwrap();
}
