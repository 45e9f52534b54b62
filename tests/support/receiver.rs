//! A real HTTP receiver for the tests of notifications (`tests/monitor.rs`): it runs in a
//! simulated node's LAN network namespace (the one whose bridge vmbr0 holds 192.0.2.1,
//! `sim/pvesim/containers.py` `make_lan`, its pid in STATE/run/lan.json), where the guests
//! reach it as they would a webhook on the LAN; the test process's 127.0.0.1 is not
//! reachable from a guest. It records every request as one JSON line.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::SimHost;

/// Records every request as one JSON line: method, path, headers, body.
const RECEIVER: &str = r#"
import http.server, json, sys
host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        rec = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        with open(log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    do_GET = do_POST = do_PUT = any
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer((host, port), H)
print("listening", flush=True)
srv.serve_forever()
"#;

/// A real HTTP receiver on 192.0.2.1:`port` in the node's LAN namespace.
pub struct Receiver {
    lan: String,
    port: u16,
    log: tempfile::NamedTempFile,
    child: Option<Child>,
}

impl Receiver {
    pub fn start(sim: &SimHost, port: u16) -> Receiver {
        let lan: Value = serde_json::from_str(
            &std::fs::read_to_string(sim.state_dir().join("run/lan.json")).unwrap(),
        )
        .unwrap();
        let mut r = Receiver {
            lan: format!("--net=/proc/{}/ns/net", lan["pid"]),
            port,
            log: tempfile::NamedTempFile::new().unwrap(),
            child: None,
        };
        r.up();
        r
    }

    pub fn up(&mut self) {
        let mut child = Command::new("nsenter")
            .arg(&self.lan)
            .args(["python3", "-c", RECEIVER, "192.0.2.1"])
            .arg(self.port.to_string())
            .arg(self.log.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening");
        self.child = Some(child);
    }

    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://192.0.2.1:{}/{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log.path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (at most `secs`) for a request that `wanted` accepts; returns it.
    #[track_caller]
    pub fn wait_for(&self, secs: u64, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(r) = self.requests().into_iter().find(|r| wanted(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {secs} s; got: {:#?}",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}
