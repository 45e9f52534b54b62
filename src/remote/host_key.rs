//! Whether to trust the key a server presents, decided as OpenSSH decides (`sshconnect.c`,
//! `verify_host_key` and `check_host_key`), and which host key algorithms to ask for.
//!
//! Before the handshake: the algorithms offered are `HostKeyAlgorithms` when configured (only
//! those, in that order), else libssh2's list with the algorithms of the key types recorded
//! for the host first (OpenSSH's `order_hostkeyalgs`), so a server with several keys shows
//! the one on record.
//!
//! After it, in this order: a key listed in `RevokedHostKeys` is refused; then the
//! known_hosts verdict ([`KnownHosts::check`]): known → go on; revoked → refuse; changed
//! (another key of the same type, or only keys of other types on record) → refuse in every
//! mode; unknown → `accept-new` records it (one line appended), `strict` refuses. Every
//! refusal is exit 4 and writes nothing.
//!
//! Unknown under `[host]:port` (port not 22, no `HostKeyAlias`) is looked up once more
//! under the bare `host`, as OpenSSH does ("checking without port identifier"): only a
//! match there counts (OpenSSH never records keys that way). A cluster node reached through
//! the first node carries the cluster's own record of its key ([`vouched`]): an unknown key
//! is trusted only when it matches that record.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ssh2::MethodType;

use super::known_hosts::{self, fingerprint, key_type, HostKeyStatus, KnownHosts, Recorded};
use super::HostKeyCheck;
use super::SshTarget;
use crate::error::{Error, Result};
use crate::output::display_path;

/// What is known about the host before the handshake.
#[derive(Debug)]
pub struct Checker {
    db: KnownHosts,
    /// The name looked up in known_hosts (`[host]:port`, or `HostKeyAlias`).
    name: String,
    /// The bare `host` of a `[host]:port` name: looked up when `name` has no entry.
    portless: Option<String>,
    /// Key blobs from `RevokedHostKeys`.
    revoked: Vec<Vec<u8>>,
}

/// Reads known_hosts and `RevokedHostKeys` and sets the host key algorithms to offer.
pub(crate) fn prepare(sess: &ssh2::Session, target: &SshTarget) -> Result<Checker> {
    let checker = Checker::load(target)?;
    let supported = sess
        .supported_algs(MethodType::HostKey)
        .map_err(|e| Error::unexpected(format!("libssh2: {e}")))?;
    let mut recorded = checker.db.key_types(&checker.name);
    if let (true, Some(record)) = (recorded.is_empty(), &target.cluster_record) {
        // Nothing on record here: ask for the type the cluster recorded (ssh-rsa).
        recorded = record.key_types();
    }
    if let Some(prefs) = offer(&recorded, target.host_key_algorithms.as_deref(), &supported)? {
        tracing::debug!(prefs, "host key algorithms");
        sess.method_pref(MethodType::HostKey, &prefs)
            .map_err(|e| Error::unexpected(format!("libssh2 host key algorithms: {e}")))?;
    }
    Ok(checker)
}

impl Checker {
    /// Loads every known_hosts file of `target` and its `RevokedHostKeys` file.
    pub fn load(target: &SshTarget) -> Result<Checker> {
        let name = known_hosts::lookup_name(
            &target.hostname,
            target.port,
            target.host_key_alias.as_deref(),
        );
        let files: Vec<PathBuf> = target
            .known_hosts
            .iter()
            .chain(&target.extra_known_hosts)
            .cloned()
            .collect();
        let revoked = match &target.revoked_host_keys {
            Some(file) => read_revoked(file)?,
            None => Vec::new(),
        };
        let portless = (target.host_key_alias.is_none() && target.port != 22)
            .then(|| target.hostname.to_ascii_lowercase());
        Ok(Checker {
            db: KnownHosts::load(&files),
            name,
            portless,
            revoked,
        })
    }

    /// Has any known_hosts file an entry (of any type) for the name looked up?
    pub fn has_entries(&self) -> bool {
        !self.db.key_types(&self.name).is_empty()
    }

    /// The known_hosts verdict: under the name, then (only when that is unknown) under
    /// the bare host, where only a match or a revocation counts.
    fn status(&self, blob: &[u8]) -> HostKeyStatus {
        let status = self.db.check(&self.name, blob);
        let (HostKeyStatus::Unknown, Some(bare)) = (&status, &self.portless) else {
            return status;
        };
        match self.db.check(bare, blob) {
            HostKeyStatus::Known => {
                tracing::debug!(name = %bare, "found a matching key without the port");
                HostKeyStatus::Known
            }
            // Stricter than OpenSSH (which would go on as for an unknown key): a key
            // revoked for the bare host is never accepted for one of its ports.
            revoked @ HostKeyStatus::Revoked { .. } => revoked,
            _ => status,
        }
    }

    /// Checks the key the server presented in the handshake.
    pub(crate) fn verify(&self, sess: &ssh2::Session, target: &SshTarget) -> Result<()> {
        let (blob, _) = sess
            .host_key()
            .ok_or_else(|| Error::ssh(format!("{} sent no host key", target.hostname)))?;
        self.check(target, blob)
    }

    /// Decides about the key `blob`; records it when it is new and `accept-new` is set.
    pub fn check(&self, target: &SshTarget, blob: &[u8]) -> Result<()> {
        let offered = Offered::new(target, &self.name, blob);
        if self.revoked.iter().any(|r| r == blob) {
            let file = target.revoked_host_keys.as_deref().unwrap_or(Path::new(""));
            return Err(offered.revoked(&format!(
                "it is listed in {} (RevokedHostKeys in ~/.ssh/config)",
                display_path(file)
            )));
        }
        match self.status(blob) {
            HostKeyStatus::Known => Ok(()),
            HostKeyStatus::Revoked { line } => {
                Err(offered.revoked(&format!("it is marked @revoked at {line}")))
            }
            HostKeyStatus::Changed {
                recorded,
                other_type: false,
            } => Err(offered.changed(&recorded)),
            HostKeyStatus::Changed {
                recorded,
                other_type: true,
            } => Err(offered.other_type(&recorded)),
            HostKeyStatus::Unknown => match &target.cluster_record {
                Some(record) => offered.vouched(record),
                None => offered.unknown(),
            },
        }
    }
}

/// The key a server offered, with what messages about it need.
struct Offered<'a> {
    target: &'a SshTarget,
    name: &'a str,
    blob: &'a [u8],
    key_type: String,
    fp: String,
    /// `127.0.0.1:2222`
    shown: String,
}

impl<'a> Offered<'a> {
    fn new(target: &'a SshTarget, name: &'a str, blob: &'a [u8]) -> Offered<'a> {
        Offered {
            target,
            name,
            blob,
            key_type: key_type(blob).unwrap_or_else(|| "unknown".into()),
            fp: fingerprint(blob),
            shown: target.address(),
        }
    }

    /// `ed25519`, `ecdsa`, `rsa`: as in `/etc/ssh/ssh_host_<short>_key.pub` and `ssh-keyscan -t`.
    fn short(&self) -> &str {
        let short = self.key_type.strip_prefix("ssh-").unwrap_or(&self.key_type);
        if short.starts_with("ecdsa") {
            "ecdsa"
        } else {
            short
        }
    }

    /// How to check the offered key where no one can intercept it.
    fn verify_first(&self) -> String {
        format!(
            "verify the key first on the host's own console (not over this network): `ssh-keygen -lf /etc/ssh/ssh_host_{}_key.pub` must print {}",
            self.short(),
            self.fp
        )
    }

    /// The known_hosts file to write to or name in hints.
    fn file(&self, fallback: Option<&str>) -> String {
        match (&self.target.known_hosts, fallback) {
            (Some(f), _) => display_path(f),
            (None, Some(f)) => display_path(Path::new(f)),
            (None, None) => self
                .target
                .extra_known_hosts
                .first()
                .map(|f| display_path(f))
                .unwrap_or_else(|| "/etc/ssh/ssh_known_hosts".into()),
        }
    }

    fn revoked(&self, why: &str) -> Error {
        Error::ssh(format!("the host key of {} is revoked", self.shown))
            .cause(format!(
                "the host offers {} key {}; {why}",
                self.key_type, self.fp
            ))
            .hint("do not connect: ask the host's administrator which key is current")
    }

    fn changed(&self, recorded: &[Recorded]) -> Error {
        let lines: Vec<&str> = recorded.iter().map(|r| r.line.as_str()).collect();
        let fps: Vec<&str> = recorded.iter().map(|r| r.fingerprint.as_str()).collect();
        let stale = stale_file(recorded);
        Error::ssh(format!(
            "the host key of {} has CHANGED; refusing to connect",
            self.shown
        ))
        .cause(format!("the host now offers {} key {}", self.key_type, self.fp))
        .cause(format!("{} recorded {}", lines.join(", "), fps.join(", ")))
        .cause("someone may be intercepting the connection, or the host was reinstalled")
        .hint(format!(
            "if the host was really reinstalled, {}; then remove the old key with `ssh-keygen -R '{}' -f {}` and connect again",
            self.verify_first(),
            self.name,
            display_path(Path::new(&stale))
        ))
    }

    fn other_type(&self, recorded: &[Recorded]) -> Error {
        let mut types: Vec<&str> = recorded.iter().map(|r| r.key_type.as_str()).collect();
        types.dedup();
        let mut err = Error::ssh(format!(
            "the host key of {} has CHANGED: a key of another type is on record; refusing to connect",
            self.shown
        ))
        .cause(format!(
            "the host offers only {} key {}",
            self.key_type, self.fp
        ));
        for r in recorded {
            err = err.cause(format!(
                "{} records {} key {} for {}",
                r.line, r.key_type, r.fingerprint, self.name
            ));
        }
        let stale = stale_file(recorded);
        let why = match &self.target.host_key_algorithms {
            Some(allowed) => format!(
                "HostKeyAlgorithms in ~/.ssh/config allows {}: if that excludes the recorded type ({}), allow it there; otherwise someone may be intercepting the connection, or the host's keys were replaced",
                allowed.join(","),
                types.join(", ")
            ),
            None => format!(
                "pxdeploy asked for the recorded type ({}) first; a host that still has that key would have offered it, so someone may be intercepting the connection, or the host's keys were replaced",
                types.join(", ")
            ),
        };
        err.cause(why)
        .hint(format!(
            "do not add this key blindly: {}. Only if it does, add exactly this key: `echo '{} {} {}' >> {}` (and remove a key the host no longer has with `ssh-keygen -R '{}' -f {}`)",
            self.verify_first(),
            self.name,
            self.key_type,
            STANDARD.encode(self.blob),
            self.file(Some(&stale)),
            self.name,
            display_path(Path::new(&stale))
        ))
    }

    fn unknown(&self) -> Result<()> {
        let t = self.target;
        match (&t.known_hosts, t.host_key_check) {
            (Some(file), HostKeyCheck::AcceptNew) => {
                let shown = display_path(file);
                known_hosts::append(file, self.name, self.blob, t.hash_known_hosts).map_err(
                    |e| {
                        Error::ssh(format!(
                            "cannot record the host key of {} in {shown}",
                            self.shown
                        ))
                        .cause(e.to_string())
                    },
                )?;
                tracing::warn!(
                    "added the {} host key {} of {} to {shown} (host_key_check = accept-new)",
                    self.key_type,
                    self.fp,
                    self.shown
                );
                Ok(())
            }
            (None, HostKeyCheck::AcceptNew) => Err(Error::ssh(format!(
                "the host key of {} is unknown and cannot be recorded",
                self.shown
            ))
            .cause(format!("the host offers {} key {}", self.key_type, self.fp))
            .cause("~/.ssh/config sets `UserKnownHostsFile none`: accept-new has no file to write to")
            .hint(format!(
                "{}; then add it to a file in GlobalKnownHostsFile, or set `known_hosts` in pxdeploy.toml",
                self.verify_first()
            ))),
            (_, HostKeyCheck::Strict) => {
                let file = self.file(None);
                let port = if t.port == 22 {
                    String::new()
                } else {
                    format!("-p {} ", t.port)
                };
                Err(Error::ssh(format!("the host key of {} is unknown", self.shown))
                    .cause(format!(
                        "the host offers {} key {}, and no known_hosts file has an entry for {}",
                        self.key_type, self.fp, self.name
                    ))
                    .hint(format!(
                        "{}; then run `ssh-keyscan {port}-t {} {} >> {file}`; or set `host_key_check = \"accept-new\"` in pxdeploy.toml to trust it on first use",
                        self.verify_first(),
                        self.short(),
                        t.hostname
                    )))
            }
        }
    }
}

/// The file of the first recorded line (`file:line`).
fn stale_file(recorded: &[Recorded]) -> String {
    recorded
        .first()
        .and_then(|r| r.line.rsplit_once(':').map(|(f, _)| f.to_string()))
        .unwrap_or_default()
}

/// The host key algorithms to offer (for `method_pref`). With `configured`
/// (`HostKeyAlgorithms`): those libssh2 supports, in that order; none of them supported is
/// a configuration error. Without: libssh2's list with the algorithms of the `recorded` key
/// types first; `None` when nothing is recorded (keep libssh2's order).
pub fn offer(
    recorded: &[String],
    configured: Option<&[String]>,
    supported: &[&str],
) -> Result<Option<String>> {
    if let Some(configured) = configured {
        let mut prefs: Vec<&str> = Vec::new();
        for alg in configured {
            if let Some(s) = supported.iter().find(|s| **s == alg.as_str()) {
                if !prefs.contains(s) {
                    prefs.push(s);
                }
            }
        }
        if prefs.is_empty() {
            return Err(Error::config(format!(
                "HostKeyAlgorithms in ~/.ssh/config ({}) names no host key algorithm pxdeploy supports",
                configured.join(",")
            ))
            .hint(format!("allow one of: {}", supported.join(","))));
        }
        return Ok(Some(prefs.join(",")));
    }
    let mut prefs: Vec<&str> = Vec::new();
    for t in recorded {
        let algs: &[&str] = match t.as_str() {
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => &[other],
        };
        for alg in algs {
            if let Some(s) = supported.iter().find(|s| *s == alg) {
                if !prefs.contains(s) {
                    prefs.push(s);
                }
            }
        }
    }
    if prefs.is_empty() {
        return Ok(None);
    }
    for s in supported {
        if !prefs.contains(s) {
            prefs.push(s);
        }
    }
    Ok(Some(prefs.join(",")))
}

mod revoked;
#[cfg(test)]
mod tests;
pub mod vouched;

pub use revoked::read_revoked;
