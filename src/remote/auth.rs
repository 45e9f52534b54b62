//! Public-key authentication: ssh-agent identities one by one (libssh2's `userauth_agent`
//! only tries the first), then key files; encrypted key files are detected here, because
//! libssh2 calls them "Unsupported private key format".

use std::path::{Path, PathBuf};

use base64::Engine;

use super::channel::{is_code, plain};
use super::SshTarget;
use crate::error::{Error, Result};
use crate::output::display_path;

/// sshd's default `MaxAuthTries`: it disconnects after that many failures.
const MAX_ATTEMPTS: usize = 6;

/// What a private key file holds, as far as logging in is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFile {
    Missing,
    /// Usable without a passphrase (or a format we leave to libssh2).
    Plain,
    /// Needs a passphrase.
    Encrypted,
}

/// Looks at a private key file without asking for anything.
pub fn inspect(path: &Path) -> KeyFile {
    let Ok(bytes) = std::fs::read(path) else {
        return KeyFile::Missing;
    };
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return match ssh_key::PrivateKey::from_openssh(text.as_bytes()) {
            Ok(key) if key.is_encrypted() => KeyFile::Encrypted,
            Ok(_) => KeyFile::Plain,
            Err(_) => KeyFile::Plain,
        };
    }
    if text.contains("Proc-Type: 4,ENCRYPTED")
        || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    {
        return KeyFile::Encrypted;
    }
    KeyFile::Plain
}

/// The public key blob of a key file: from `KEY.pub`, else from the (OpenSSH-format)
/// private key, whose public half is never encrypted.
pub fn public_blob(path: &Path) -> Option<Vec<u8>> {
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    if let Ok(text) = std::fs::read_to_string(PathBuf::from(pub_path)) {
        if let Some(b64) = text.split_whitespace().nth(1) {
            if let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(b64) {
                return Some(blob);
            }
        }
    }
    let text = std::fs::read(path).ok()?;
    let key = ssh_key::PrivateKey::from_openssh(&text).ok()?;
    key.public_key().to_bytes().ok()
}

/// Logs in as `target.user`. The session is in blocking mode with a timeout.
pub fn authenticate(sess: &ssh2::Session, target: &SshTarget) -> Result<()> {
    let user = target.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    let mut encrypted: Vec<PathBuf> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let wanted: Vec<(PathBuf, Option<Vec<u8>>)> = target
        .identity_files
        .iter()
        .map(|p| (p.clone(), public_blob(p)))
        .collect();

    // 1. The agent: identities matching our key files first, then (unless the key was
    //    named explicitly or IdentitiesOnly) every other identity, in the agent's order.
    let mut agent_blobs_tried: Vec<Vec<u8>> = Vec::new();
    if let Some(sock) = &target.agent_socket {
        match open_agent(sess, sock) {
            Ok((agent, ids)) => {
                let mut order: Vec<&ssh2::PublicKey> = Vec::new();
                for (_, blob) in &wanted {
                    if let Some(id) = ids.iter().find(|id| Some(id.blob()) == blob.as_deref()) {
                        order.push(id);
                    }
                }
                if !target.explicit_identity {
                    for id in &ids {
                        if !order.iter().any(|o| o.blob() == id.blob()) {
                            order.push(id);
                        }
                    }
                }
                for id in order {
                    if tried.len() >= MAX_ATTEMPTS {
                        break;
                    }
                    let label = format!(
                        "agent key {} {}",
                        super::known_hosts::fingerprint(id.blob()),
                        id.comment()
                    );
                    tracing::debug!(key = %label, "trying");
                    agent_blobs_tried.push(id.blob().to_vec());
                    match agent.userauth(user, id) {
                        Ok(()) if sess.authenticated() => return Ok(()),
                        Ok(()) => tried.push(label),
                        Err(e) => {
                            tried.push(label);
                            if !is_auth_rejection(&e) {
                                return Err(connection_lost(target, &e));
                            }
                        }
                    }
                }
            }
            Err(why) => notes.push(format!("ssh-agent at {} not usable: {why}", sock.display())),
        }
    }

    // 2. Key files that exist.
    for (path, blob) in &wanted {
        if tried.len() >= MAX_ATTEMPTS {
            break;
        }
        match inspect(path) {
            KeyFile::Missing => {
                if target.explicit_identity {
                    notes.push(format!("key file {} does not exist", display_path(path)));
                }
            }
            KeyFile::Encrypted => {
                if !blob.as_ref().is_some_and(|b| agent_blobs_tried.contains(b)) {
                    encrypted.push(path.clone());
                }
            }
            KeyFile::Plain => {
                let label = display_path(path);
                tracing::debug!(key = %label, "trying");
                match sess.userauth_pubkey_file(user, None, path, None) {
                    Ok(()) if sess.authenticated() => return Ok(()),
                    Ok(()) => tried.push(label),
                    Err(e) if is_auth_rejection(&e) => tried.push(label),
                    Err(e) if is_code(&e, -16) => {
                        notes.push(format!(
                            "{label}: libssh2 cannot read this key ({})",
                            e.message()
                        ));
                    }
                    Err(e) => return Err(connection_lost(target, &e)),
                }
            }
        }
    }

    Err(failure(target, &tried, &encrypted, &notes))
}

fn open_agent(
    sess: &ssh2::Session,
    sock: &Path,
) -> Result<(ssh2::Agent, Vec<ssh2::PublicKey>), String> {
    let mut agent = sess.agent().map_err(|e| e.message().to_string())?;
    agent
        .set_identity_path(sock)
        .map_err(|e| e.message().to_string())?;
    agent
        .connect()
        .map_err(|e| format!("cannot connect ({})", e.message()))?;
    agent
        .list_identities()
        .map_err(|e| e.message().to_string())?;
    let ids = agent.identities().map_err(|e| e.message().to_string())?;
    Ok((agent, ids))
}

fn is_auth_rejection(e: &ssh2::Error) -> bool {
    // -18 rejected, -19 signature not verified, -48 key file auth failed, -42 agent failed.
    [-18, -19, -48, -42].iter().any(|c| is_code(e, *c))
}

fn connection_lost(target: &SshTarget, e: &ssh2::Error) -> Error {
    Error::ssh(format!(
        "authentication as {} on {} failed",
        target.user, target.hostname
    ))
    .cause(plain(e))
}

fn failure(target: &SshTarget, tried: &[String], encrypted: &[PathBuf], notes: &[String]) -> Error {
    let dest = format!("{}@{}", target.user, target.hostname);
    let port = if target.port == 22 {
        String::new()
    } else {
        format!("-p {} ", target.port)
    };
    let key = target
        .identity_files
        .iter()
        .find(|p| p.exists())
        .or(target.identity_files.first())
        .map(|p| display_path(p))
        .unwrap_or_else(|| "~/.ssh/id_ed25519".into());
    let copy_id =
        format!("install your public key on the host: `ssh-copy-id -i {key}.pub {port}{dest}`");

    if tried.is_empty() && !encrypted.is_empty() {
        let k = display_path(&encrypted[0]);
        let mut err = Error::ssh(format!(
            "key {k} is encrypted; load it into ssh-agent with `ssh-add {k}`"
        ));
        for n in notes {
            err = err.cause(n.clone());
        }
        return err.hint(format!("run `eval $(ssh-agent)` and `ssh-add {k}` first (pxdeploy never asks for passphrases); in CI use an unencrypted key in PROXMOX_SSH_KEY"));
    }
    if tried.is_empty() {
        let mut err = Error::ssh(format!("no SSH key to log in to {dest}"));
        if target.agent_socket.is_none() {
            err = err.cause("no ssh-agent (SSH_AUTH_SOCK is not set)");
        }
        let files: Vec<String> = target
            .identity_files
            .iter()
            .map(|p| display_path(p))
            .collect();
        err = err.cause(format!(
            "none of these key files exists: {}",
            files.join(", ")
        ));
        for n in notes {
            err = err.cause(n.clone());
        }
        return err.hint(format!(
            "create a key with `ssh-keygen -t ed25519`, then {copy_id}"
        ));
    }
    let mut err = Error::ssh(format!(
        "authentication as {} on {} failed",
        target.user,
        target.address()
    ))
    .cause(format!("the host rejected: {}", tried.join(", ")));
    for k in encrypted {
        let k = display_path(k);
        err = err.cause(format!(
            "key {k} is encrypted; load it into ssh-agent with `ssh-add {k}`"
        ));
    }
    for n in notes {
        err = err.cause(n.clone());
    }
    err.hint(copy_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_encrypted_openssh_keys() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        let enc = dir.path().join("enc");
        for (path, pass) in [(&plain, ""), (&enc, "secret")] {
            let ok = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", pass, "-f"])
                .arg(path)
                .status()
                .expect("ssh-keygen is needed: apt-get install -y openssh-client");
            assert!(ok.success());
        }
        assert_eq!(inspect(&plain), KeyFile::Plain);
        assert_eq!(inspect(&enc), KeyFile::Encrypted);
        assert_eq!(inspect(&dir.path().join("nope")), KeyFile::Missing);
        // The public half is readable from an encrypted key too.
        std::fs::remove_file(dir.path().join("enc.pub")).unwrap();
        assert!(public_blob(&enc).is_some());
    }
}
