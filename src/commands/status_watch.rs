//! `pxdeploy status --watch [--interval SECS]`: the status read again every interval on the
//! same connection, until Ctrl-C (exit 130). On a terminal each frame replaces the last
//! one in place (cursor up over the lines it drew, erase below; the cursor hidden
//! meanwhile and shown again at Ctrl-C); otherwise plain blocks, each after a line with
//! its time; with `-o json` one compact JSON document per line.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime};

use super::context::Context;
use super::status::read;
use crate::config::Config;
use crate::error::Result;
use crate::output::{hide_cursor, sanitize, show_cursor, terminal_width};
use crate::remote::host::Host;
use crate::timestamp::rfc3339;

pub(super) fn run(ctx: &Context, config: &Config, host: &Host, interval: u64) -> Result<()> {
    let live = std::io::stdout().is_terminal() && !ctx.out.json();
    if live {
        hide_cursor();
    }
    let result = frames(ctx, config, host, Duration::from_secs(interval), live);
    show_cursor();
    result
}

fn frames(
    ctx: &Context,
    config: &Config,
    host: &Host,
    interval: Duration,
    live: bool,
) -> Result<()> {
    let mut drawn = 0usize;
    loop {
        let started = Instant::now();
        let report = read(config, host)?;
        let now = rfc3339(SystemTime::now());
        let mut out = std::io::stdout().lock();
        if ctx.out.json() {
            let mut doc = serde_json::json!({ "ok": true, "time": now });
            if let (Some(map), serde_json::Value::Object(facts)) =
                (doc.as_object_mut(), report.json())
            {
                map.extend(facts);
            }
            let _ = writeln!(out, "{doc}");
        } else {
            let mut text = report.text();
            for warning in &report.warnings {
                text.push_str(&format!("\nwarning: {}", sanitize(warning)));
            }
            let text = sanitize(&text);
            let frame = if live {
                let header = format!("every {}s, Ctrl-C to stop  {now}", interval.as_secs());
                let width = terminal_width().unwrap_or(80).max(2);
                // Each line cut to the width: a wrapped line would take two rows and the
                // next frame would not go up far enough.
                let lines: Vec<String> = std::iter::once(header.as_str())
                    .chain(text.lines())
                    .map(|l| l.chars().take(width - 1).collect())
                    .collect();
                let up = match drawn {
                    0 => String::new(),
                    n => format!("\x1b[{n}A\r\x1b[J"),
                };
                drawn = lines.len();
                format!("{up}{}\n", lines.join("\n"))
            } else {
                format!("--- {now}\n{text}\n")
            };
            let _ = out.write_all(frame.as_bytes());
        }
        let _ = out.flush();
        drop(out);
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
    }
}
