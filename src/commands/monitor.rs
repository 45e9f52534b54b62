//! `pxdeploy monitor`: the watcher's state in the guest (read-only); `pxdeploy monitor
//! test`: a test notification sent from inside the guest through every channel, each
//! result reported (exit 5 when one failed, naming the channel, never its URL).

use serde_json::json;

use super::context::Context;
use crate::cli::{MonitorAction, MonitorArgs};
use crate::error::{Error, Result};
use crate::guest::{Guest, NotRun};
use crate::monitor::state::{self, State, TestResult};
use crate::output::{sanitize, tail};

pub(super) fn run(ctx: &Context, args: &MonitorArgs) -> Result<()> {
    let config = ctx.config()?;
    let host = ctx.connect(&config)?;
    let guest = Guest::of(&host, &config);
    let project = &config.app.name;
    match args.action {
        None => show(ctx, guest, project),
        Some(MonitorAction::Test) => test(ctx, guest, project),
    }
}

/// The call's output, or the error that says why the guest did not run it.
fn output(guest: Guest<'_>, what: &str, out: crate::remote::Output) -> Result<String> {
    let stderr = out.stderr_str();
    let id = guest.id();
    match guest.not_run(&stderr) {
        Some(NotRun::Stopped) => {
            return Err(Error::remote(format!(
                "{} {id} is stopped: its watcher does not run",
                guest.kind().noun()
            ))
            .hint("`pxdeploy start` starts it (the watcher starts with it)"))
        }
        Some(NotRun::Missing) => return Err(guest.missing(sanitize(stderr.trim()))),
        None => {}
    }
    let stdout = out.stdout_str();
    if state::none(&stdout) {
        return Err(Error::remote(format!(
            "no watcher is installed in {} {id}",
            guest.kind().noun()
        ))
        .hint("add a [monitor] section to pxdeploy.toml and run `pxdeploy deploy` (docs/monitoring.md)"));
    }
    if !out.status.success() && (what == "state" || stdout.trim().is_empty()) {
        return Err(Error::remote(format!(
            "could not read the watcher in {} {id}",
            guest.kind().noun()
        ))
        .cause(format!(
            "{} {}: {}",
            crate::monitor::ran(guest),
            out.status,
            sanitize(&tail(&stderr, 5))
        )));
    }
    Ok(stdout)
}

fn show(ctx: &Context, guest: Guest<'_>, project: &str) -> Result<()> {
    let out = guest
        .inside_host()?
        .probe(&state::line(guest.inside(), project, "state"))?;
    let s = state::parse(&output(guest, "state", out)?);
    print(ctx, &guest.named(), &s);
    let mut facts = serde_json::to_value(&s).unwrap_or_default();
    if let Some(map) = facts.as_object_mut() {
        map.insert("vmid".into(), guest.id().into());
    }
    ctx.succeed(None, facts);
    Ok(())
}

/// `watcher 0.1.0 in VM 220: running, a check every 60s` (`running` as shown).
fn headline(guest: &str, s: &State, running: &str) -> String {
    format!(
        "watcher {} in {guest}: {running}, a check every {}s",
        s.version, s.interval_secs
    )
}

fn print(ctx: &Context, guest: &str, s: &State) {
    let o = &ctx.out;
    let running = match s.running {
        true => o.green("running"),
        false => o.red("not running"),
    };
    o.data(headline(guest, s, &running));
    o.data(format!(
        "last check: {}",
        s.last_check.as_deref().unwrap_or("none yet")
    ));
    if s.open_alerts.is_empty() {
        o.data("open alerts: none");
    } else {
        o.data(format!("open alerts: {}", s.open_alerts.len()));
        for a in &s.open_alerts {
            o.data(format!(
                "  {} {}since {}: {}",
                o.red(&a.event),
                a.service
                    .as_deref()
                    .map(|s| format!("{s} "))
                    .unwrap_or_default(),
                a.since,
                a.detail
            ));
        }
    }
    for c in &s.channels {
        let last = match &c.last {
            None => "nothing sent yet".to_string(),
            Some(a) if a.ok => format!("{} at {}: {}", a.event, a.time, o.green("delivered")),
            Some(a) => format!(
                "{} at {}: {} ({})",
                a.event,
                a.time,
                o.red("failed"),
                a.error.as_deref().unwrap_or("no reason given")
            ),
        };
        let pending = match c.pending {
            0 => String::new(),
            n => format!("; {n} waiting to be delivered"),
        };
        o.data(format!("{}: {last}{pending}", c.channel));
    }
}

fn test(ctx: &Context, guest: Guest<'_>, project: &str) -> Result<()> {
    let host = guest.host();
    let inside = guest.inside_host()?;
    let line = state::line(guest.inside(), project, "test");
    let out = ctx.reporter.step(
        &format!(
            "Sending a test notification from {} {}",
            guest.kind().noun(),
            guest.id()
        ),
        || inside.change(&line, std::time::Duration::from_secs(120)),
    )?;
    if host.dry_run() {
        ctx.succeed(Some(host), json!({ "vmid": guest.id() }));
        return Ok(());
    }
    let results = state::parse_test(&output(guest, "test", out)?);
    for r in &results {
        match &r.error {
            None => ctx
                .out
                .data(format!("{}: {}", r.channel, ctx.out.green("ok"))),
            Some(why) => ctx
                .out
                .data(format!("{}: {} ({why})", r.channel, ctx.out.red("failed"))),
        }
    }
    let facts = json!({ "vmid": guest.id(), "channels": results });
    let failed: Vec<&TestResult> = results.iter().filter(|r| !r.ok).collect();
    if failed.is_empty() {
        ctx.succeed(None, facts);
        return Ok(());
    }
    let names: Vec<String> = failed
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                r.channel,
                r.error.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    Err(Error::remote(format!(
        "the test notification did not reach {}",
        names.join(", ")
    ))
    .hint("the guest must reach the receiver: check its URL in pxdeploy.toml (it is never printed), the guest's DNS and firewall; `pxdeploy monitor` shows each channel's last result")
    .facts(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_names_the_guest_as_it_is() {
        let s = State {
            version: "0.1.0".into(),
            interval_secs: 60,
            ..State::default()
        };
        assert_eq!(
            headline("VM 220", &s, "running"),
            "watcher 0.1.0 in VM 220: running, a check every 60s"
        );
        assert_eq!(
            headline("container 210", &s, "not running"),
            "watcher 0.1.0 in container 210: not running, a check every 60s"
        );
    }
}
