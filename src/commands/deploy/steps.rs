//! The deploy context and its steps: one [`Deploy`] value (the guest, the configuration,
//! the flags, the reporter, the clock) that every step of `deploy` takes; the list that
//! calls them is `super::deploy`, in the order of docs/deploy.md's table.

use std::time::Instant;

use crate::cli::DeployArgs;
use crate::compose::Project;
use crate::config::Config;
use crate::envfile::{Redacted, Report};
use crate::error::Result;
use crate::guest::Guest;
use crate::health::{self, Timing};
use crate::hooks::{self, Hook};
use crate::lock::DeployLock;
use crate::output::{size, Output};
use crate::progress::{done, Reporter};
use crate::release::inspect::Inspection;
use crate::release::manifest::{self, Local};
use crate::release::{activate, command, plan, store_calls, Release};
use crate::remote::host::{Host, Prepared};
use crate::snapshots::When;

use super::{container, files, Outcome};

/// One deploy: what every step takes.
pub(crate) struct Deploy<'a> {
    /// The container deployed to (and, through it, the node's host).
    pub guest: Guest<'a>,
    pub cfg: &'a Config,
    pub project: Project,
    pub args: &'a DeployArgs,
    pub reporter: &'a dyn Reporter,
    pub out: &'a Output,
    /// When the deploy began (the summary's and the JSON's duration).
    pub clock: Instant,
    /// The watcher `[monitor]` wants in the guest (its URLs read before connecting).
    pub monitor: Option<crate::monitor::Wanted>,
}

/// What the steps before the push learned: the new `.env`, the app folder and the
/// fingerprint of both.
pub(crate) struct Candidate {
    pub env: Redacted<String>,
    pub env_changed: bool,
    pub local: Local,
    pub fingerprint: String,
}

impl<'a> Deploy<'a> {
    pub(crate) fn new(
        host: &'a Host,
        cfg: &'a Config,
        args: &'a DeployArgs,
        reporter: &'a dyn Reporter,
        out: &'a Output,
    ) -> Self {
        Deploy {
            guest: Guest::of(host, cfg),
            cfg,
            project: cfg.project(),
            args,
            reporter,
            out,
            clock: Instant::now(),
            monitor: None,
        }
    }

    pub(crate) fn host(&self) -> &'a Host {
        self.guest.host()
    }

    /// Take the deploy lock (none under `--dry-run`); a VM's session opens meanwhile.
    pub(crate) fn lock(&self) -> Result<Option<DeployLock>> {
        self.guest.lock_then_inside(self.reporter)
    }

    /// The `pre_deploy` hook (local).
    pub(crate) fn pre_deploy_hook(&self) -> Result<()> {
        hooks::run(
            Hook::PreDeploy,
            self.cfg,
            self.host(),
            "",
            "deploy",
            self.reporter,
        )
    }

    /// Whether and when to snapshot; a snapshot of a stopped container is taken now.
    pub(crate) fn snapshot_first(&self) -> Result<When> {
        let when = crate::snapshots::when(self.host(), self.cfg)?;
        if when == When::Now {
            crate::snapshots::before_deploy(self.host(), self.cfg, self.reporter)?;
        }
        Ok(when)
    }

    /// Read the container in one call (starting it if stopped, its `[firewall]` written
    /// first: it never runs without its rules); check its Compose and its release store;
    /// the pushed files that drifted.
    pub(crate) fn read_container(&self, o: &mut Outcome) -> Result<Inspection> {
        let dry_run = self.host().dry_run();
        let (inspection, started) = container::inspect_running(
            self.guest,
            &self.project,
            self.args.force,
            &|| self.apply_firewall(),
            self.reporter,
            self.out,
        )?;
        o.started_container = started;
        o.monitor_installed.clone_from(&inspection.monitor);
        o.compose_version = container::check_compose(&inspection, &self.project, dry_run)?;
        store_calls::check(&inspection.store, &self.project)?;
        o.drifted = files::drifted(&inspection, self.project.inside, dry_run, self.reporter);
        Ok(inspection)
    }

    /// `[firewall]` on the node; already done when step 4 started the container (before
    /// its start), so not read twice.
    pub(crate) fn firewall(&self, o: &Outcome) -> Result<()> {
        match o.started_container {
            true => Ok(()),
            false => self.apply_firewall(),
        }
    }

    fn apply_firewall(&self) -> Result<()> {
        crate::firewall::apply(self.host(), self.cfg, self.reporter, self.out).map(drop)
    }

    /// Merge `.env` (local), read the app folder (every file hashed into the new
    /// manifest), and their fingerprint.
    pub(crate) fn merge_and_read(
        &self,
        inspection: &mut Inspection,
        o: &mut Outcome,
    ) -> Result<Candidate> {
        let existing = inspection.env.take();
        let (report, env, env_changed) = self.reporter.step_with(
            "Merging .env",
            |(r, _, _): &(Report, _, _)| match r.changes() {
                true => done(format!("changed: {}", r.summary())),
                false => done(format!("unchanged: {}", r.summary())),
            },
            || files::merge_env(self.cfg, &self.project, existing),
        )?;
        o.env = report;
        let source = self.cfg.source_dir();
        let local = self.reporter.step_with(
            &format!("Reading {}", source.display()),
            |l: &Local| {
                let (n, bytes) = l.manifest.totals();
                done(format!("{n} files ({})", size(bytes)))
            },
            || manifest::read_local(&source),
        )?;
        let fingerprint = activate::fingerprint(&self.project, &local.manifest.digest(), &env);
        Ok(Candidate {
            env,
            env_changed,
            local,
            fingerprint,
        })
    }

    /// Nothing changed since the last deploy and every service is healthy: says so, and
    /// fills the outcome (true: the deploy ends here).
    pub(crate) fn nothing_changed(
        &self,
        inspection: &Inspection,
        p: &Candidate,
        o: &mut Outcome,
    ) -> bool {
        // A drifted file is a change: it is put back, and `up` runs on what was pushed.
        let unchanged = !self.args.force && o.drifted.is_empty();
        let Some(services) =
            activate::unchanged(inspection, &p.fingerprint, self.cfg).filter(|_| unchanged)
        else {
            return false;
        };
        self.reporter.note(if self.host().dry_run() {
            "nothing changed since the last deploy and every service is healthy: nothing would be pushed, `docker compose up` would be skipped (`--force` runs it)"
        } else {
            "nothing changed since the last deploy and every service is healthy: nothing pushed, `docker compose up` skipped (`--force` runs it)"
        });
        o.pushed.unchanged = p.local.manifest.totals().0;
        o.services = services;
        true
    }

    /// Before changing anything in the container: no `container_name` taken outside the
    /// project; the snapshot of a running container.
    pub(crate) fn before_push(&self, snapshot: When) -> Result<()> {
        let host = self.guest.inside_host()?;
        crate::compose::conflicts::check(&self.project, |ps| {
            Ok(Some(host.probe(ps)?)
                .filter(|o| o.status.success())
                .map(|o| o.stdout_str()))
        })?;
        if snapshot == When::IfChanged {
            crate::snapshots::before_deploy(self.host(), self.cfg, self.reporter)?;
        }
        Ok(())
    }

    /// Push the release: `.env` if it changed, stage, switch.
    pub(crate) fn push(
        &self,
        inspection: &Inspection,
        p: &Candidate,
        o: &mut Outcome,
    ) -> Result<Release> {
        let new = files::new_release(&p.fingerprint);
        o.release = Some(new.id.clone());
        o.pushed = files::push(
            self.guest,
            &self.project,
            &new,
            &p.local,
            &inspection.store,
            &crate::release::drift::paths(&o.drifted),
            (&p.env, p.env_changed),
            self.reporter,
        )?;
        Ok(new)
    }

    /// The `[production]` release command; when it fails, the tree goes back.
    pub(crate) fn release_command(
        &self,
        inspection: &Inspection,
        new: &Release,
        p: &Candidate,
    ) -> Result<()> {
        command::run(self.guest, &self.project, self.cfg, self.reporter).map_err(|e| {
            crate::release::rollback::after_failed_release_command(
                self.guest,
                self.cfg,
                &inspection.store,
                &new.id,
                &p.local.manifest,
                e,
                self.reporter,
            )
        })
    }

    /// Start the services (`docker compose up`) and wait for their health; on failure the
    /// rollback `[deploy] on_failure` asks for. Returns the finish, prepared: its channel
    /// opens as the wait starts; dropped unused on a failed wait (before the rollback), it
    /// records nothing.
    pub(crate) fn up_and_wait(
        &self,
        lock: Option<&DeployLock>,
        inspection: &Inspection,
        new: &Release,
        o: &mut Outcome,
    ) -> Result<Prepared> {
        o.up = true;
        let (guest, host, project, cfg) = (self.guest, self.host(), &self.project, self.cfg);
        let keep = plan::keep(&inspection.store, &new.id, cfg.deploy.keep_releases);
        let waited = activate::compose_up(guest, project, cfg, self.reporter).and_then(|()| {
            let held = lock.map(|l| l.held());
            let results = [(new.id.as_str(), "healthy")];
            let finish =
                activate::prepare_finish(guest, project, Some(&keep), &results, held.as_ref())?;
            let services = match host.dry_run() {
                true => Vec::new(),
                false => health::wait_for(
                    guest,
                    project,
                    &cfg.health_services(),
                    Timing::from_config(cfg),
                    self.reporter,
                )?,
            };
            Ok((services, finish))
        });
        match waited {
            Ok((services, finish)) => {
                o.services = services;
                Ok(finish)
            }
            Err(e) => Err(crate::release::rollback::after_failed_deploy(
                guest,
                cfg,
                &new.id,
                e,
                self.reporter,
                &mut o.rolled_back,
            )),
        }
    }

    /// Remember the deploy: the release's result, pruning, the fingerprint.
    pub(crate) fn remember(
        &self,
        lock: Option<&DeployLock>,
        finish: Prepared,
        p: &Candidate,
    ) -> Result<()> {
        let held = lock.map(|l| l.held());
        activate::finish_and_mark(self.guest, finish, &p.fingerprint, held.as_ref())
    }

    /// The watcher in the guest brought to what `[monitor]` wants: nothing when the marker
    /// the read call found says it is (no call), else installed, updated or removed.
    pub(crate) fn monitor(&self, o: &mut Outcome) -> Result<()> {
        o.monitor = crate::monitor::apply::sync(
            self.guest,
            &self.cfg.app.name,
            self.monitor.as_ref(),
            o.monitor_installed.as_deref(),
            self.reporter,
        )?;
        Ok(())
    }

    /// The `post_deploy` hook (local), given the release now current.
    pub(crate) fn post_deploy_hook(&self, release: &str) -> Result<()> {
        hooks::run(
            Hook::PostDeploy,
            self.cfg,
            self.host(),
            release,
            "deploy",
            self.reporter,
        )
    }
}
