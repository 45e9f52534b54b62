//! `pxdeploy init` (a commented pxdeploy.toml for the compose file here; the mechanics are
//! in `crate::init`) and `pxdeploy schema` (the JSON Schema of that file).

use std::io::Write;

use serde_json::json;

use crate::cli::{GlobalArgs, InitArgs};
use crate::error::{Error, Result};
use crate::output::Output;

pub(super) fn run(global: &GlobalArgs, args: &InitArgs, out: &Output) -> Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::config("the current directory is unreadable").cause(e.to_string()))?;
    let plan = crate::init::plan(args, global.config.as_deref(), &cwd, &|var: &str| {
        std::env::var(var).ok()
    })?;
    crate::init::write(&plan, args.force)?;
    out.info(format!(
        "wrote {}: {} service(s) ({}), {} secret(s), {} value(s){}",
        plan.path.display(),
        plan.services.len(),
        plan.services.join(", "),
        plan.secrets.len(),
        plan.values.len(),
        if plan.from_env.is_empty() {
            String::new()
        } else {
            format!("; from the environment: {}", plan.from_env.join(", "))
        }
    ));
    if let (Some(path), false) = (&plan.taskfile, plan.from_taskfile.is_empty()) {
        out.info(format!(
            "from {}: {}",
            path.display(),
            plan.from_taskfile.join(", ")
        ));
    }
    for note in &plan.taskfile_notes {
        out.warn(note);
    }
    out.info("next: review it, then `pxdeploy check`, `pxdeploy create`, `pxdeploy deploy`");
    out.success_json(json!({
        "path": plan.path,
        "services": plan.services,
        "secrets": plan.secrets,
        "values": plan.values.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "from_env": plan.from_env,
        "taskfile": plan.taskfile,
        "from_taskfile": plan.from_taskfile,
    }));
    Ok(())
}

/// The schema, pretty-printed, on stdout.
pub(super) fn schema() -> Result<()> {
    let text = serde_json::to_string_pretty(&crate::config::schema())
        .map_err(|e| Error::unexpected(format!("cannot render the schema: {e}")))?;
    // A closed pipe is not an error.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(())
}
