//! `[hooks]`: local `sh -c` commands in the config file's folder, with the `PXDEPLOY_*`
//! variables set. `pre_deploy` runs before a deploy changes anything and stops it when it
//! fails; `post_deploy` and `post_rollback` run after success, and their failure makes the
//! exit code 5. Output is captured: shown when the hook fails, logged at `-v` otherwise.
//! Under `--dry-run` a hook does not run (it could change anything); a note says so.

use std::path::Path;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Reporter;
use crate::remote::host::Host;

/// `PXDEPLOY_TARGET` of a file without `[targets]`.
pub(crate) const DEFAULT_TARGET: &str = "default";

/// The most of a failing hook's output that an error shows (its end: where errors are).
const OUTPUT_SHOWN: usize = 4000;

/// One of the three hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    PreDeploy,
    PostDeploy,
    PostRollback,
}

impl Hook {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Hook::PreDeploy => "pre_deploy",
            Hook::PostDeploy => "post_deploy",
            Hook::PostRollback => "post_rollback",
        }
    }

    fn command(self, cfg: &Config) -> Option<&str> {
        match self {
            Hook::PreDeploy => cfg.hooks.pre_deploy.as_deref(),
            Hook::PostDeploy => cfg.hooks.post_deploy.as_deref(),
            Hook::PostRollback => cfg.hooks.post_rollback.as_deref(),
        }
    }
}

/// The `PXDEPLOY_*` variables of a hook.
pub(crate) fn variables(
    cfg: &Config,
    host: &str,
    release: &str,
    command: &str,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "PXDEPLOY_TARGET",
            cfg.target.as_deref().unwrap_or(DEFAULT_TARGET).to_string(),
        ),
        ("PXDEPLOY_VMID", cfg.vmid().to_string()),
        ("PXDEPLOY_HOST", host.to_string()),
        ("PXDEPLOY_RELEASE", release.to_string()),
        ("PXDEPLOY_COMMAND", command.to_string()),
    ]
}

/// Runs `hook` when it is configured. `release` is the release being deployed or rolled back
/// to (may be empty); `command` the pxdeploy command (`deploy`, `rollback`).
pub(crate) fn run(
    hook: Hook,
    cfg: &Config,
    host: &Host,
    release: &str,
    command: &str,
    reporter: &dyn Reporter,
) -> Result<()> {
    let Some(script) = hook.command(cfg) else {
        return Ok(());
    };
    if host.dry_run() {
        reporter.note(&format!(
            "--dry-run: the {} hook would run: {script}",
            hook.key()
        ));
        return Ok(());
    }
    let env = variables(cfg, &host.alias, release, command);
    reporter.step(&format!("Running the {} hook", hook.key()), || {
        run_script(
            hook,
            script,
            cfg.path.parent().unwrap_or(Path::new(".")),
            &env,
        )
    })
}

/// The post_rollback hook, for the rollback command: call it after a successful rollback
/// with the release now running.
pub(crate) fn post_rollback(
    cfg: &Config,
    host: &Host,
    release: &str,
    reporter: &dyn Reporter,
) -> Result<()> {
    run(Hook::PostRollback, cfg, host, release, "rollback", reporter)
}

fn run_script(hook: Hook, script: &str, dir: &Path, env: &[(&str, String)]) -> Result<()> {
    let done = crate::local::run(script, dir, env, None).map_err(|e| {
        Error::remote(format!("the {} hook could not be started", hook.key())).cause(e.to_string())
    })?;
    let mut output = String::from_utf8_lossy(&done.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&done.stderr));
    let output = output.trim();
    if done.success() {
        if !output.is_empty() {
            tracing::info!(hook = hook.key(), "{output}");
        }
        return Ok(());
    }
    let mut err = Error::remote(format!("the {} hook {}", hook.key(), done.ending(None)));
    if !output.is_empty() {
        let skip = output.chars().count().saturating_sub(OUTPUT_SHOWN);
        let tail: String = output.chars().skip(skip).collect();
        err = err.cause(format!("its output:\n{tail}"));
    }
    Err(err.hint(match hook {
        Hook::PreDeploy => "nothing was changed; fix what the hook reports (or the hook under [hooks]) and deploy again",
        Hook::PostDeploy => "the deploy itself succeeded and the new release is running; only the hook failed",
        Hook::PostRollback => "the rollback itself succeeded; only the hook failed",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_sees_its_variables_and_runs_in_the_given_folder() {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("PXDEPLOY_VMID", "120".to_string()),
            ("PXDEPLOY_COMMAND", "deploy".to_string()),
        ];
        run_script(
            Hook::PostDeploy,
            "echo \"$PXDEPLOY_VMID $PXDEPLOY_COMMAND\" > seen",
            dir.path(),
            &env,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("seen")).unwrap(),
            "120 deploy\n"
        );
    }

    #[test]
    fn the_target_is_named_in_pxdeploy_target() {
        let mut cfg: Config = toml::from_str(
            "[proxmox]\nhost = \"h\"\n[container]\nvmid = 210\nhostname = \"app\"\n[app]\nname = \"app\"\n",
        )
        .unwrap();
        let target = |cfg: &Config| {
            variables(cfg, "pve", "r", "deploy")
                .into_iter()
                .find(|(k, _)| *k == "PXDEPLOY_TARGET")
                .map(|(_, v)| v)
        };
        assert_eq!(target(&cfg).as_deref(), Some("default"));
        cfg.target = Some("prod".into());
        assert_eq!(target(&cfg).as_deref(), Some("prod"));
    }

    #[test]
    fn a_failing_hook_is_exit_5_with_its_output() {
        let err = run_script(
            Hook::PreDeploy,
            "echo 'tests: 3 failed'; echo 'see above' >&2; exit 1",
            Path::new("/"),
            &[],
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 5);
        let text = err.render();
        for says in [
            "the pre_deploy hook exited with status 1",
            "tests: 3 failed",
            "see above",
            "nothing was changed",
        ] {
            assert!(text.contains(says), "{says}: {text}");
        }
    }
}
