//! `RevokedHostKeys`: the file of keys that are never accepted.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::key_type;
use crate::error::{Error, Result};
use crate::output::display_path;

/// The first bytes of an OpenSSH key revocation list (`PROTOCOL.krl`).
const KRL_MAGIC: &[u8] = b"SSHKRL\n\0";

/// The keys of a `RevokedHostKeys` file: public keys, one a line (`type base64 [comment]`),
/// as `ssh-keygen` writes them. A binary KRL is refused (pxdeploy cannot read one), and so
/// is a file that cannot be read (OpenSSH does not connect then either).
pub fn read_revoked(path: &Path) -> Result<Vec<Vec<u8>>> {
    let shown = display_path(path);
    let bytes = std::fs::read(path).map_err(|e| {
        Error::config(format!(
            "cannot read {shown}, the RevokedHostKeys file of ~/.ssh/config"
        ))
        .cause(e.to_string())
        .hint("create the file (it may be empty), or remove RevokedHostKeys from ~/.ssh/config")
    })?;
    if bytes.starts_with(KRL_MAGIC) {
        return Err(Error::config(format!(
            "{shown} (RevokedHostKeys in ~/.ssh/config) is a binary key revocation list (KRL), which pxdeploy cannot read"
        ))
        .hint("list the revoked keys as plain public keys instead, one `type base64` line each (for example the .pub files, concatenated)"));
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let key = words.windows(2).find_map(|w| {
            let blob = STANDARD.decode(w[1]).ok()?;
            (key_type(&blob).as_deref() == Some(w[0])).then_some(blob)
        });
        match key {
            Some(blob) => keys.push(blob),
            None => {
                tracing::debug!(file = %shown, line = i + 1, "skipping a line that is not a public key")
            }
        }
    }
    Ok(keys)
}
