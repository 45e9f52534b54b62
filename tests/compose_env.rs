//! `.env` as pxdeploy renders it, read back by the real Compose (`docker compose config`
//! inside the container `exec.rs` deploys: no create of its own): a few hundred generated
//! values with quotes, `$`, `#`, backslashes, newlines, spaces and unicode must come back
//! exactly.

use std::collections::BTreeMap;

use pxdeploy::envfile::{merge, Redacted};

use crate::support::SimHost;

/// Pieces that each exercise a rule of Compose's `.env` reader or its interpolation.
const PIECES: &[&str] = &[
    "a", "Z", "0", "_", "-", ".", "/", ":", "@", "%", "+", ",", "=", " ", "  ", "\t", "'", "\"",
    "`", "$", "$$", "${X}", "$HOME", "${A:-b}", "$(id)", "#", " #", "# ", "\\", "\\\\", "\\n",
    "\\'", "\\\"", "\\$", "\n", "\r\n", "!", "*", "?", "{", "}", "[", "]", "(", ")", ";", "&", "|",
    "<", ">", "~", "^", "é", "ß", "日本", "🙂", "\u{a0}", "\u{85}", "\u{2028}", "\\0", "\\012",
];

/// A deterministic generator (xorshift64*), so that a failure is the same on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn value(&mut self) -> String {
        let len = self.below(9);
        (0..len).map(|_| PIECES[self.below(PIECES.len())]).collect()
    }
}

fn values(count: usize) -> BTreeMap<String, String> {
    let mut gen = Gen(0x9E37_79B9_7F4A_7C15);
    let mut out = BTreeMap::new();
    // Every piece alone, at both ends and in the middle, then generated mixes.
    for (i, piece) in PIECES.iter().enumerate() {
        out.insert(format!("P{i:03}"), (*piece).to_string());
        out.insert(format!("Q{i:03}"), format!(" {piece}x{piece} "));
    }
    out.insert("EMPTY".into(), String::new());
    for i in 0..count {
        out.insert(format!("V{i:03}"), gen.value());
    }
    out
}

/// `pct exec <vmid> -- sh -c 'cat > FILE'` with `content` on stdin, over SSH.
#[track_caller]
fn put(sim: &SimHost, vmid: u32, file: &str, content: &str) {
    sim.ssh_stdin(
        &format!("pct exec {vmid} -- sh -c 'mkdir -p /opt/envcheck && cat > {file}'"),
        content,
    )
    .assert_success();
}

#[test]
fn compose_reads_back_every_rendered_value_exactly() {
    // A container with Docker and Compose: the one `exec.rs` deploys (this test writes only
    // in /opt/envcheck).
    let (sim, vmid) = (&crate::exec::deployed().sim, crate::exec::deployed().vmid);

    let values = values(300);
    let merged = merge(
        &Redacted::new(String::new()),
        &BTreeMap::new(),
        &values,
        &mut |_| unreachable!("no secrets here"),
    )
    .unwrap();
    let mut compose = String::from("services:\n  s:\n    image: base:local\n    environment:\n");
    for key in values.keys() {
        compose.push_str(&format!("      {key}: ${{{key}}}\n"));
    }
    put(sim, vmid, "/opt/envcheck/.env", merged.content.expose());
    put(sim, vmid, "/opt/envcheck/docker-compose.yml", &compose);

    let vmid_s = vmid.to_string();
    let out = sim.host_run(&[
        "pct",
        "exec",
        &vmid_s,
        "--",
        "docker",
        "compose",
        "--project-directory",
        "/opt/envcheck",
        "-f",
        "/opt/envcheck/docker-compose.yml",
        "config",
        "--format",
        "json",
    ]);
    out.assert_success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let env = &doc["services"]["s"]["environment"];
    let mut wrong = Vec::new();
    for (key, want) in &values {
        // `config` prints a `$` as `$$` (its output is a compose file again).
        let got = env[key].as_str().map(|s| s.replace("$$", "$"));
        if got.as_deref() != Some(want.as_str()) {
            let line = merged
                .content
                .expose()
                .lines()
                .find(|l| l.starts_with(&format!("{key}=")))
                .map(str::to_string);
            wrong.push(format!(
                "{key}: wrote {want:?} as {line:?}, Compose read {:?}",
                env[key]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} values read differently:\n{}",
        wrong.len(),
        values.len(),
        wrong.join("\n")
    );
}
