//! What the release stories (tests/releases.rs, tests/release_links.rs) share: one simulated
//! node with a cached template, a project folder whose pxdeploy.toml names one container,
//! the small web app they deploy (it serves its `version` file and writes a data file into
//! its bind mount), pxdeploy run there, and the `releases` list.

use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use super::{pxdeploy, unique_vmid, Run, SimHost};

/// The web service's image: the build context copied to /app, `start.sh` run.
pub const DOCKERFILE: &str = "FROM base:local\nCOPY . /app\nCMD [\"sh\", \"/app/start.sh\"]\n";

/// The compose file: one service built from ./web, healthy once it serves, unhealthy after
/// `retries` failed checks a second apart.
pub fn compose(retries: u32) -> String {
    format!(
        r#"services:
  web:
    build: ./web
    network_mode: none
    stop_grace_period: 1s
    volumes: ["./data:/data"]
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://127.0.0.1:80/"]
      interval: 1s
      timeout: 1s
      retries: {retries}
"#
    )
}

/// `start.sh`: serves `version`, after `pause` seconds (none when 0); writes a data file into
/// the bind mount.
pub fn start_script(pause: u32) -> String {
    let sleep = if pause > 0 {
        format!("sleep {pause}\n")
    } else {
        String::new()
    };
    format!(
        "{sleep}mkdir -p /www && cp /app/version /www/index.html\n\
         [ -f /data/service.txt ] || echo written-by-the-service > /data/service.txt\n\
         exec httpd -f -p 127.0.0.1:80 -h /www\n"
    )
}

/// A story's node, its project folder and its container's id.
pub struct Story {
    pub sim: SimHost,
    pub dir: TempDir,
    pub vmid: u32,
}

impl Story {
    /// Compose 2.40.3, the template cached; pxdeploy.toml: the container `unique_vmid(test)`,
    /// the app in `app/`, health checked every second for `health_timeout_secs`.
    pub fn start(prefix: &str, test: u32, health_timeout_secs: u32) -> Story {
        let sim = SimHost::builder()
            .compose_version("2.40.3")
            .template_cached(true)
            .start();
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let vmid = unique_vmid(test);
        sim.write_config(
            dir.path(),
            &format!(
                "[container]\nvmid = {vmid}\n[app]\nsource = \"app\"\n[health]\ntimeout_secs = {health_timeout_secs}\ninterval_secs = 1\n"
            ),
        );
        Story { sim, dir, vmid }
    }
}

/// pxdeploy in `root` (4 minutes at the most).
pub fn run_in(root: &Path, args: &[&str]) -> Run {
    pxdeploy()
        .current_dir(root)
        .args(args)
        .timeout(Duration::from_secs(240))
        .run()
}

/// (id, result, current) of each release, oldest first.
#[track_caller]
pub fn releases(root: &Path) -> Vec<(String, String, bool)> {
    let r = run_in(root, &["-o", "json", "releases"]);
    r.assert_success();
    r.json()["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["id"].as_str().unwrap().to_string(),
                x["result"].as_str().unwrap().to_string(),
                x["current"].as_bool().unwrap(),
            )
        })
        .collect()
}
