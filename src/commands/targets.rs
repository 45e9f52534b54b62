//! Several targets: which ones run (`-t`, `default_targets`), then the command on each, at
//! most `--parallel` at once, each with its own context, SSH session and deploy lock. A
//! target that fails does not stop the others; then a summary table, or one JSON document.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

use super::context::Context;
use crate::cli::{Command, GlobalArgs};
use crate::config::Plan;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::progress::{Board, Ending};

/// The indexes into `plan.targets` to run, in file order. A file without `[targets]` has
/// one unnamed target, which `-t all` also names.
pub(super) fn choose(plan: &Plan, asked: &[String]) -> Result<Vec<usize>> {
    let names = plan.names();
    let asked: Vec<&str> = asked
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    if names.is_empty() {
        return match asked.iter().find(|a| **a != "all") {
            Some(name) => Err(Error::usage(format!(
                "there is no target {name:?}: the configuration has no [targets]"
            ))
            .hint("define [targets.<name>] tables (docs/targets.md), or leave out -t and PXDEPLOY_TARGET")),
            None => Ok(vec![0]),
        };
    }
    let wanted: Vec<&str> = if !asked.is_empty() {
        asked
    } else if names.len() == 1 {
        names.clone()
    } else if !plan.default_targets.is_empty() {
        plan.default_targets.iter().map(String::as_str).collect()
    } else {
        return Err(Error::usage(format!(
            "the configuration has {} targets ({}): say which with -t",
            names.len(),
            names.join(", ")
        ))
        .hint("`-t NAME` (repeatable, or a comma list), `-t all`, or `default_targets = [...]` in the file"));
    };
    let mut chosen = Vec::new();
    for want in wanted {
        if want == "all" {
            chosen.extend(0..names.len());
        } else if let Some(i) = names.iter().position(|n| *n == want) {
            chosen.push(i);
        } else {
            return Err(Error::usage(format!(
                "there is no target {want:?}; the targets are: {}",
                names.join(", ")
            )));
        }
    }
    chosen.sort_unstable();
    chosen.dedup();
    Ok(chosen)
}

/// How one target's run ended.
struct Outcome {
    result: Result<()>,
    secs: f64,
    facts: Option<Value>,
}

/// Runs `command` on each chosen target, `--parallel` at once; the summary (text) or the
/// one JSON document; the first failed target's exit code in file order.
pub(super) fn run_all(
    command: &Command,
    global: &GlobalArgs,
    out: &Output,
    plan: &Plan,
    chosen: &[usize],
) -> Result<()> {
    let names: Vec<String> = chosen
        .iter()
        .map(|&i| plan.targets[i].0.clone().unwrap_or_default())
        .collect();
    let asks = match command {
        Command::Destroy(_) | Command::Restore(_) => true,
        Command::Rollback(a) => a.snapshot.is_some(),
        _ => false,
    };
    if asks && !global.yes {
        let what = match command {
            Command::Destroy(_) => "destroy",
            Command::Restore(_) => "restore",
            _ => "rollback --snapshot",
        };
        return Err(Error::refused(format!(
            "{what} on {} targets ({}) needs --yes",
            names.len(),
            names.join(", ")
        ))
        .hint(format!(
            "add --yes to {what} every one of them, or choose one target with -t"
        )));
    }

    let board = Board::new(out);
    let lanes: Vec<_> = names.iter().map(|n| board.lane(n)).collect();
    let outcomes: Vec<Mutex<Option<Outcome>>> = names.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = (global.parallel.max(1) as usize).min(names.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= names.len() {
                    break;
                }
                let _span = tracing::info_span!("target", target = %names[k]).entered();
                let config = plan.targets[chosen[k]].1.clone();
                let target_out = out.for_target(&names[k], board.printer());
                let started = Instant::now();
                let ctx = Context::new(
                    global.clone(),
                    target_out.clone(),
                    board.reporter(&lanes[k]),
                    config,
                );
                let result = super::dispatch(command, &ctx);
                drop(ctx);
                lanes[k].finish(&match &result {
                    Ok(()) => Ending::Done(String::new()),
                    Err(e) => Ending::Failed(e.message.clone()),
                });
                if let Err(e) = &result {
                    target_out.error_text(e);
                }
                let facts = target_out
                    .target
                    .as_ref()
                    .and_then(|t| t.facts.lock().unwrap().take());
                *outcomes[k].lock().unwrap() = Some(Outcome {
                    result,
                    secs: started.elapsed().as_secs_f64(),
                    facts,
                });
            });
        }
    });
    drop(lanes);

    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| {
            o.into_inner().unwrap().unwrap_or(Outcome {
                result: Err(Error::unexpected("the target's run ended without a result")),
                secs: 0.0,
                facts: None,
            })
        })
        .collect();
    report(out, &names, &outcomes);
    match outcomes.iter().find_map(|o| o.result.as_ref().err()) {
        None => Ok(()),
        Some(first) => {
            let mut err = first.clone();
            err.reported = true;
            Err(err)
        }
    }
}

/// The summary table on stdout (text), or the one JSON document.
fn report(out: &Output, names: &[String], outcomes: &[Outcome]) {
    if out.json() {
        let targets: Vec<Value> = names
            .iter()
            .zip(outcomes)
            .map(|(name, o)| {
                let mut doc = json!({ "target": name, "ok": o.result.is_ok() });
                let map = doc.as_object_mut().expect("an object");
                if let Err(e) = &o.result {
                    map.insert("error".into(), e.to_json());
                }
                let facts = o
                    .facts
                    .clone()
                    .or_else(|| o.result.as_ref().err().and_then(|e| e.facts.clone()));
                if let Some(Value::Object(facts)) = facts {
                    for (k, v) in facts {
                        map.entry(k).or_insert(v);
                    }
                }
                map.insert("seconds".into(), json!((o.secs * 10.0).round() / 10.0));
                doc
            })
            .collect();
        let ok = outcomes.iter().all(|o| o.result.is_ok());
        out.print_json(&json!({ "ok": ok, "targets": targets }));
        return;
    }
    let results: Vec<String> = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("failed (exit {})", e.exit_code()),
        })
        .collect();
    let w0 = names.iter().map(|n| n.len()).max().unwrap_or(0).max(6);
    let w1 = results.iter().map(|r| r.len()).max().unwrap_or(0).max(6);
    let mut table = format!("{:<w0$}  {:<w1$}  DURATION", "TARGET", "RESULT");
    for ((name, result), o) in names.iter().zip(&results).zip(outcomes) {
        table.push_str(&format!("\n{name:<w0$}  {result:<w1$}  {:.1}s", o.secs));
    }
    out.data(table);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(names: &[&str], defaults: &[&str]) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  web:\n    image: nginx\n",
        )
        .unwrap();
        let mut text = String::from(
            "[proxmox]\nhost = \"pve\"\n[container]\nhostname = \"app\"\n[app]\nname = \"app\"\n",
        );
        if !defaults.is_empty() {
            text = format!("default_targets = {defaults:?}\n{text}");
        }
        for (i, n) in names.iter().enumerate() {
            text.push_str(&format!("[targets.{n}.container]\nvmid = {}\n", 300 + i));
        }
        crate::config::parse_plan(&text, &dir.path().join("pxdeploy.toml"), &|_| None, false)
            .unwrap()
    }

    fn asked(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn choices_follow_the_file_order_and_the_defaults() {
        let p = plan(&["b", "a", "c"], &[]);
        assert_eq!(choose(&p, &asked(&["c", "b", "c"])).unwrap(), [0, 2]);
        assert_eq!(choose(&p, &asked(&["all"])).unwrap(), [0, 1, 2]);
        let err = choose(&p, &[]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.message.contains("3 targets (b, a, c)"),
            "{}",
            err.message
        );
        let err = choose(&p, &asked(&["x"])).unwrap_err();
        assert!(
            err.message.contains("the targets are: b, a, c"),
            "{}",
            err.message
        );
        let p = plan(&["b", "a"], &["a"]);
        assert_eq!(choose(&p, &[]).unwrap(), [1]);
        let p = plan(&["only"], &[]);
        assert_eq!(choose(&p, &[]).unwrap(), [0]);
    }
}
