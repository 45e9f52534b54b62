//! The store scripts run in the guest: read, stage and switch (a deploy), switch (a
//! rollback), finish. Each is one call in the guest (`Guest`).

use std::collections::BTreeSet;
use std::time::Duration;

use super::manifest::{Entry, EntryKind, Local};
use super::plan::{self, Op};
use super::store::{self, ReadMode};
use super::{parse_read, render_facts, Release, State, Store};
use crate::compose::Project;
use crate::envfile::Redacted;
use crate::error::{Error, Result};
use crate::guest::{Guest, Inside};
use crate::push::{pack, Archive, Item, Payload};
use crate::remote::host::ensure_success;

const STAGE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const SWITCH_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const FINISH_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The store as a read-only call finds it; a linked store is exit 5.
pub(crate) fn read(guest: Guest<'_>, project: &Project, mode: ReadMode) -> Result<Store> {
    let host = guest.inside_host()?;
    let command = store::read_command(project.inside, &project.remote_dir, mode);
    let out = host.probe_ok(&command)?;
    let store = parse_read(&mut &out.stdout[..]).map_err(|why| {
        Error::remote(format!(
            "cannot read the releases in {} {}",
            project.inside.noun(),
            project.inside.id()
        ))
        .cause(why)
    })?;
    check(&store, project)?;
    Ok(store)
}

/// A store that is or holds a symbolic link is refused (exit 5), before anything is written.
pub(crate) fn check(store: &Store, project: &Project) -> Result<()> {
    match &store.state {
        State::Unsafe(path) => Err(Error::remote(format!(
            "the release store of {} {} is not safe to use: {} is a symbolic link",
            project.inside.noun(),
            project.inside.id(),
            crate::output::sanitize(path)
        ))
        .cause("pxdeploy never follows a link out of the app folder")
        .hint(format!(
            "remove the link ({}), then try again",
            project
                .inside
                .by_hand(&["rm", &crate::output::sanitize(path)])
        ))),
        _ => Ok(()),
    }
}

/// Sends the objects the store lacks and the new release's manifest, facts, `.env` and
/// journal (`ops`), then switches the tree to it, in one call. Returns the bytes of content
/// sent. A connection dropped before the switch leaves the old release whole; one dropped
/// during it is finished by the next deploy.
pub(crate) fn stage_and_switch(
    guest: Guest<'_>,
    project: &Project,
    release: &Release,
    local: &Local,
    have: &Store,
    env: &Redacted<String>,
    ops: &[Op],
) -> Result<u64> {
    let host = guest.inside_host()?;
    let command = |gzip: bool| {
        store::stage_and_switch_command(
            project.inside,
            &project.remote_dir,
            &release.id,
            have.current.as_deref(),
            gzip,
        )
    };
    let missing = plan::missing(&local.manifest, &have.objects);
    let sent = missing.iter().map(|e| e.size).sum();
    if host.dry_run() {
        host.change(&command(true), STAGE_TIMEOUT)?;
        return Ok(sent);
    }
    let items = archive_items(
        local,
        &missing,
        ops,
        [
            ("release/manifest", local.manifest.render()),
            ("release/facts", render_facts(release)),
            ("release/env", env.expose().clone()),
            ("release/journal", plan::journal(&release.id, ops)),
        ],
    );
    let packed = pack(items);
    tracing::debug!(gzip = packed.gzip, "the push's archive");
    let command = command(packed.gzip);
    let mut archive = Archive::packed(packed)?;
    let out = host.change_with_stdin(&command, &mut archive, STAGE_TIMEOUT + SWITCH_TIMEOUT);
    let produced = archive.finish();
    // The remote side's failure first: it explains an archive thread stopped by it. But an
    // archive stopped here (a file changed or vanished while it was read) is why the stage
    // found the archive incomplete: that is the error to show.
    let out = out?;
    let out_stderr = out.stderr_str();
    if let Err(e) = &produced {
        if out_stderr.contains("the push arrived incomplete")
            && !e.message.contains("upload stopped")
        {
            return produced.map(|()| 0);
        }
    }
    match out.status.code {
        store::UNSAFE_EXIT => return checked(project.inside, &command, out).map(|()| 0),
        store::CHANGED_EXIT => {
            ensure_success(&command, out).map_err(|e| {
                e.hint(format!(
                    "release {} is staged but the tree was not touched: deploy again (it reads the {} anew)",
                    release.id,
                    project.inside.noun()
                ))
            })?;
        }
        store::SWITCH_FAILED_EXIT => {
            ensure_success(&command, out)
                .map_err(|e| stopped_part_way(e, &release.id, project.inside))?;
        }
        _ => {
            ensure_success(&command, out).map_err(|e| {
                e.hint(format!(
                    "the {} still runs the release it had; deploy again",
                    project.inside.noun()
                ))
            })?;
        }
    }
    produced?;
    // The switch's count of files renamed into the tree and copied from the store (`-vv`).
    for line in out_stderr
        .lines()
        .filter(|l| l.contains("made live by rename"))
    {
        tracing::debug!("{}", crate::output::sanitize(line.trim()));
    }
    Ok(sent)
}

/// The members of a push's archive: each object of `missing` (`objects/ab/cdef…`), then for
/// each file object the first `f` operation of `ops` writes, a hard link to it under that
/// operation's path (`t/<path>`: the name the switch renames into the tree, in one `mv` per
/// folder), then `release` (name, content).
pub(crate) fn archive_items<const N: usize>(
    local: &Local,
    missing: &[&Entry],
    ops: &[Op],
    release: [(&str, String); N],
) -> Vec<Item> {
    let object = |hash: &str| format!("objects/{}/{}", &hash[..2], &hash[2..]);
    let mut items: Vec<Item> = missing
        .iter()
        .map(|e| {
            let path = local.sources[&e.path].clone();
            Item {
                name: object(&e.hash),
                mode: 0o600,
                payload: match e.kind {
                    EntryKind::Link => Payload::Link(path),
                    _ => Payload::File(path, e.hash.clone()),
                },
            }
        })
        .collect();
    let mut sent: BTreeSet<&str> = missing
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| e.hash.as_str())
        .collect();
    for op in ops {
        if let Op::File { hash, path, .. } = op {
            if sent.remove(hash.as_str()) {
                items.push(Item {
                    name: format!("t/{path}"),
                    mode: 0o600,
                    payload: Payload::HardLink(object(hash)),
                });
            }
        }
    }
    for (name, bytes) in release {
        items.push(Item {
            name: name.into(),
            mode: 0o600,
            payload: Payload::Bytes(bytes.into_bytes()),
        });
    }
    items
}

/// The hint of a switch that failed.
fn stopped_part_way(e: Error, id: &str, inside: Inside) -> Error {
    e.hint(format!(
        "the switch to release {id} stopped part-way; the next deploy or rollback finishes it first: fix what the message says inside the {}, then run it again",
        inside.noun()
    ))
}

/// A non-zero exit as an error; a store refused for a symbolic link says how to fix it.
fn checked(inside: Inside, command: &str, out: crate::remote::Output) -> Result<()> {
    let refused = out.status.code == store::UNSAFE_EXIT;
    let journal = refused && out.stderr_str().contains("refusing it");
    ensure_success(command, out).map_err(|e| match (refused, journal) {
        (true, true) => e.hint(format!(
            "the switch journal left in the {} (`.pxdeploy/journal` in the app folder) was not written by pxdeploy: look at it and at the tree, remove it, then try again",
            inside.noun()
        )),
        (true, false) => e.hint(format!(
            "remove that link inside the {} (pxdeploy never follows one), then try again",
            inside.noun()
        )),
        _ => e,
    })?;
    Ok(())
}

/// Makes the tree match release `id` by `ops` (journalled; `current` written last).
pub(crate) fn switch(guest: Guest<'_>, project: &Project, id: &str, ops: &[Op]) -> Result<()> {
    let host = guest.inside_host()?;
    let command = store::switch_command(project.inside, &project.remote_dir);
    let journal = plan::journal(id, ops);
    let out = host.change_with_stdin(&command, &mut journal.as_bytes(), SWITCH_TIMEOUT)?;
    if out.status.code == store::UNSAFE_EXIT {
        return checked(project.inside, &command, out);
    }
    ensure_success(&command, out).map_err(|e| stopped_part_way(e, id, project.inside))?;
    Ok(())
}

/// Writes `results` (`id`, `healthy|failed|rolled-back`) and, with `keep`, removes the
/// other releases and the objects no kept release names.
pub(crate) fn finish(
    guest: Guest<'_>,
    project: &Project,
    keep: Option<&[String]>,
    results: &[(&str, &str)],
) -> Result<()> {
    let host = guest.inside_host()?;
    let command = store::finish_command(project.inside, &project.remote_dir, keep, results);
    let out = host.change(&command, FINISH_TIMEOUT)?;
    checked(project.inside, &command, out)
}

/// A release's own compose file as stored, which may differ from the local file (or there
/// may be no local file at all).
#[derive(Debug)]
pub(crate) struct StoredCompose {
    /// Its `services:`, in file order.
    pub services: Vec<String>,
    /// Its model (one-shot jobs, replicas), for the health verdict on that release.
    pub model: crate::compose::model::Model,
}

/// The compose file in `manifest`, read from the store in one remote command.
pub(crate) fn compose(
    guest: Guest<'_>,
    project: &Project,
    manifest: &super::Manifest,
) -> Option<StoredCompose> {
    let host = guest.inside_host().ok()?;
    let prefix = format!("{}/", project.remote_dir.trim_end_matches('/'));
    let rel = project.file.strip_prefix(&prefix)?;
    let entry = manifest
        .entries
        .iter()
        .find(|e| e.path == rel && e.kind == EntryKind::File)?;
    let object = format!(
        "{prefix}.pxdeploy/objects/{}/{}",
        &entry.hash[..2],
        &entry.hash[2..]
    );
    let out = host
        .probe(&project.inside.exec(&["cat", "--", &object]))
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = out.stdout_str();
    let path = std::path::Path::new(rel);
    Some(StoredCompose {
        services: crate::config::compose_services_in(&text, path).ok()?,
        model: crate::compose::model::Model::parse(&text, path).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(inside: Inside) -> Project {
        Project::new(inside, "app", "/opt/app", "compose.yaml")
    }

    #[test]
    fn a_linked_store_is_refused_with_the_fix_of_the_guests_kind() {
        let store = Store {
            state: State::Unsafe("/opt/app/.pxdeploy/objects".into()),
            ..Store::default()
        };
        let e = check(&store, &project(Inside::Vm(220))).unwrap_err();
        assert!(
            e.message.starts_with("the release store of VM 220"),
            "{}",
            e.message
        );
        let hint = e.hint.unwrap_or_default();
        assert!(
            hint.contains("`sudo rm /opt/app/.pxdeploy/objects` in VM 220"),
            "{hint}"
        );
        assert!(!hint.contains("pct"), "{hint}");
        let e = check(&store, &project(Inside::Container(210))).unwrap_err();
        assert!(e
            .hint
            .unwrap_or_default()
            .contains("`pct exec 210 -- rm /opt/app/.pxdeploy/objects` on the host"));
    }

    #[test]
    fn the_store_scripts_failures_speak_of_the_guests_kind() {
        let refused = |stderr: &str| crate::remote::Output {
            stderr: stderr.as_bytes().to_vec(),
            status: crate::remote::ExitStatus {
                code: store::UNSAFE_EXIT,
                signal: None,
            },
            ..Default::default()
        };
        let vm = Inside::Vm(220);
        let e = checked(vm, "store", refused("a link\n")).unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("remove that link inside the VM (pxdeploy never follows one), then try again")
        );
        let e = checked(vm, "store", refused("journal: refusing it\n")).unwrap_err();
        assert!(
            e.hint
                .unwrap_or_default()
                .starts_with("the switch journal left in the VM "),
            "journal"
        );
        let e = stopped_part_way(Error::remote("x"), "R1", vm);
        assert!(e
            .hint
            .unwrap_or_default()
            .contains("fix what the message says inside the VM, then"));
        let e = checked(Inside::Container(210), "store", refused("a link\n")).unwrap_err();
        assert!(e.hint.unwrap_or_default().contains("inside the container"));
    }
}
