//! The harness of the watcher's unit tests (`watch_tests.rs`): the real `watch.sh` in a
//! temporary folder, with a fake `docker`, `df` and `curl` on PATH and a fake clock; the
//! fake curl records each request (its command line, the config it read on stdin, where
//! the URL is, its headers and body).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const DOCKER: &str = r#"#!/bin/sh
case $1 in
ps) [ -e "$FAKE/docker-down" ] && { echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1; }
    [ -s "$FAKE/inspect" ] && echo c1 ;;
inspect) cat "$FAKE/inspect" ;;
esac
"#;

const DF: &str = r#"#!/bin/sh
echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'
echo "/dev/root 1000 500 500 $(cat "$FAKE/disk")% /"
"#;

/// Records `argv`, the `-K -` config from stdin, headers and the body; answers with the
/// HTTP code in $FAKE/code, or fails like curl with the exit code in $FAKE/curl-exit.
const CURL: &str = r#"#!/bin/sh
args="$*"; cfg=$(cat); body=''; hdrs=''
while [ $# -gt 0 ]; do
  case $1 in --data-binary) body=$(cat "${2#@}"); shift ;; -H) hdrs="$hdrs$2|"; shift ;; esac; shift
done
{ printf 'ARGS %s\n' "$args"; printf 'CFG %s\n' "$cfg"; printf 'HDRS %s\n' "$hdrs"; printf 'BODY %s\n' "$body"; echo END; } >> "$FAKE/requests"
e=$(cat "$FAKE/curl-exit" 2>/dev/null); [ -n "$e" ] && [ "$e" != 0 ] && exit "$e"
printf '%s' "$(cat "$FAKE/code" 2>/dev/null || echo 200)"
"#;

pub(super) const SETTINGS: &str = "project=app\ninterval=60\ndisk_percent=90\nrepeat_secs=21600\nformat=json\nversion=1.0+test\ntitle=app\ntext='app on web (210, node pve1)'\nbase='\"target\":\"app\",\"guest\":\"web\",\"vmid\":210,\"node\":\"pve1\"'\n";

const URLS: &str = "webhook http://hooks.example/SECRET-w\nntfy http://ntfy.example/SECRET-n\nping http://hc.example/SECRET-p\n";

/// One request the fake curl received.
#[derive(Debug, Clone)]
pub(super) struct Req {
    pub args: String,
    pub url: String,
    pub headers: String,
    pub body: String,
}

impl Req {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub(super) struct Fake {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    busybox: bool,
}

impl Fake {
    pub(super) fn new(busybox: bool) -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(root.join("m")).unwrap();
        for (name, text) in [("docker", DOCKER), ("df", DF), ("curl", CURL)] {
            let p = bin.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        if busybox {
            for tool in [
                "date", "awk", "sed", "tr", "wc", "mv", "rm", "mkdir", "cat", "head", "sleep",
            ] {
                std::os::unix::fs::symlink("/bin/busybox", bin.join(tool)).unwrap();
            }
        }
        let f = Fake {
            _tmp: tmp,
            root,
            busybox,
        };
        std::fs::write(
            f.root.join("m/watch.sh"),
            format!("#!/bin/sh\n{}", super::WATCHER),
        )
        .unwrap();
        f.settings(SETTINGS);
        std::fs::write(f.root.join("m/channels"), URLS).unwrap();
        f.disk(50);
        f.services("web running healthy 0 0 unless-stopped\ndb running healthy 0 0 always");
        f
    }

    pub(super) fn settings(&self, text: &str) {
        std::fs::write(self.root.join("m/settings"), text).unwrap();
    }
    pub(super) fn services(&self, lines: &str) {
        std::fs::write(self.root.join("inspect"), format!("{lines}\n")).unwrap();
    }
    pub(super) fn disk(&self, pct: u32) {
        std::fs::write(self.root.join("disk"), pct.to_string()).unwrap();
    }
    pub(super) fn docker_down(&self, down: bool) {
        let p = self.root.join("docker-down");
        match down {
            true => std::fs::write(p, "").unwrap(),
            false => drop(std::fs::remove_file(p)),
        }
    }
    /// The receivers: `Ok(code)` answers with that HTTP code, `Err(exit)` fails like curl.
    pub(super) fn receiver(&self, answer: Result<u16, u8>) {
        let (code, exit) = match answer {
            Ok(code) => (code, 0),
            Err(exit) => (0, exit),
        };
        std::fs::write(self.root.join("code"), code.to_string()).unwrap();
        std::fs::write(self.root.join("curl-exit"), exit.to_string()).unwrap();
    }

    pub(super) fn run(&self, mode: &str, now: u64) -> std::process::Output {
        let shell: &[&str] = if self.busybox {
            &["busybox", "sh"]
        } else {
            &["sh"]
        };
        let path = format!("{}:/usr/bin:/bin", self.root.join("bin").display());
        let out = Command::new(shell[0])
            .args(&shell[1..])
            .arg(self.root.join("m/watch.sh"))
            .arg(mode)
            .env("PATH", path)
            .env("FAKE", &self.root)
            .env("PXDEPLOY_MONITOR_NOW", now.to_string())
            .env("PXDEPLOY_MONITOR_PROC", self.root.join("proc"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.trim().is_empty(),
            "{mode} at {now}: stderr: {stderr}"
        );
        out
    }

    /// One check at `now`; the requests it made (drained).
    pub(super) fn check(&self, now: u64) -> Vec<Req> {
        let out = self.run("once", now);
        assert!(out.status.success(), "{out:?}");
        self.requests()
    }

    pub(super) fn requests(&self) -> Vec<Req> {
        let p = self.root.join("requests");
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let _ = std::fs::remove_file(&p);
        text.split("END\n")
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                let field = |name: &str| {
                    r.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name} ")))
                        .unwrap_or("")
                        .to_string()
                };
                let cfg = field("CFG");
                Req {
                    args: field("ARGS"),
                    url: cfg
                        .trim_start_matches("url = \"")
                        .trim_end_matches('"')
                        .to_string(),
                    headers: field("HDRS"),
                    body: r
                        .split_once("BODY ")
                        .map(|(_, b)| b.trim_end().to_string())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("m/log")).unwrap_or_default()
    }
}

pub(super) fn webhook(reqs: &[Req]) -> Vec<Value> {
    reqs.iter()
        .filter(|r| r.url.contains("hooks.example"))
        .map(Req::json)
        .collect()
}

pub(super) fn events(reqs: &[Req]) -> Vec<(String, String)> {
    webhook(reqs)
        .iter()
        .map(|v| {
            (
                v["event"].as_str().unwrap().to_string(),
                v["service"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

pub(super) fn pings(reqs: &[Req]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.url.contains("hc.example"))
        .map(|r| r.url.clone())
        .collect()
}
