//! The VM's SSH host key, made by pxdeploy so that the first connection is verified (no
//! trust on first use): an ed25519 key handed to cloud-init (`ssh_keys`), whose public half
//! is recorded in the user's known_hosts under the alias `pxdeploy-vm-<vmid>.<node>` (as
//! OpenSSH's `HostKeyAlias`: a VM's address may be reused on a LAN, so the key is tied to the
//! VM, not to the address) before the VM first starts.

use std::path::Path;

use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::{LineEnding, PrivateKey};
use zeroize::Zeroizing;

use crate::remote::known_hosts::{self, HostKeyStatus, KnownHosts};

/// A fresh host key.
pub(crate) struct HostKey {
    /// The OpenSSH private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`), unencrypted:
    /// cloud-init's `ssh_keys.ed25519_private`. Wiped from memory when dropped.
    pub private_openssh: Zeroizing<String>,
    /// `ssh-ed25519 AAAA… <alias>`: cloud-init's `ssh_keys.ed25519_public`.
    pub public_line: String,
    /// The public key blob (what the VM's sshd presents).
    pub blob: Vec<u8>,
}

impl std::fmt::Debug for HostKey {
    /// Never the private half.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostKey")
            .field("public_line", &self.public_line)
            .finish_non_exhaustive()
    }
}

/// `pxdeploy-vm-<vmid>.<node>`: the name the VM's key is recorded and checked under.
pub(crate) fn alias(vmid: u32, node: &str) -> String {
    format!("pxdeploy-vm-{vmid}.{node}").to_ascii_lowercase()
}

/// A new ed25519 key from the OS's CSPRNG, its public line commented with `comment`.
pub(crate) fn generate(comment: &str) -> Result<HostKey, String> {
    let seed = Zeroizing::new(rand::random::<[u8; 32]>());
    let keypair = Ed25519Keypair::from_seed(&seed);
    let key = PrivateKey::new(KeypairData::Ed25519(keypair), comment)
        .map_err(|e| format!("cannot make the VM's host key: {e}"))?;
    let private_openssh = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("cannot write the VM's host key: {e}"))?;
    let public = key.public_key();
    let public_line = public
        .to_openssh()
        .map_err(|e| format!("cannot write the VM's public host key: {e}"))?;
    let blob = public
        .to_bytes()
        .map_err(|e| format!("cannot encode the VM's public host key: {e}"))?;
    Ok(HostKey {
        private_openssh: Zeroizing::new(private_openssh.to_string()),
        public_line,
        blob,
    })
}

/// Records `key` for `alias` in `path` (appended with known_hosts' own safe append, hashed
/// when `hashed`), unless that exact key is there already. Returns the line written, `None`
/// when nothing had to be.
pub(crate) fn record(
    path: &Path,
    alias: &str,
    key: &HostKey,
    hashed: bool,
) -> std::io::Result<Option<String>> {
    let known = KnownHosts::load(&[path.to_path_buf()]);
    if known.check(alias, &key.blob) == HostKeyStatus::Known {
        return Ok(None);
    }
    known_hosts::append(path, alias, &key.blob, hashed).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_openssh_format_with_its_public_line() {
        let key = generate("pxdeploy-vm-220.pve1").unwrap();
        assert!(key
            .private_openssh
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(key
            .private_openssh
            .ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
        assert!(key
            .public_line
            .starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"));
        assert!(key.public_line.ends_with(" pxdeploy-vm-220.pve1"));
        assert_eq!(
            known_hosts::key_type(&key.blob).as_deref(),
            Some("ssh-ed25519")
        );
        // The private file reads back as the same key (what sshd loads).
        let back = PrivateKey::from_openssh(key.private_openssh.as_bytes()).unwrap();
        assert_eq!(back.public_key().to_bytes().unwrap(), key.blob);
        assert!(!format!("{key:?}").contains("PRIVATE"));
        // Every key is new.
        assert_ne!(generate("x").unwrap().blob, key.blob);
    }

    #[test]
    fn ssh_keygen_reads_the_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate("pxdeploy-vm-220.pve1").unwrap();
        let file = dir.path().join("ssh_host_ed25519_key");
        std::fs::write(&file, key.private_openssh.as_bytes()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .args(["-y", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let derived = String::from_utf8(out.stdout).unwrap();
        let ours: Vec<&str> = key.public_line.split(' ').take(2).collect();
        assert!(derived.starts_with(&ours.join(" ")), "{derived}");
    }

    #[test]
    fn recorded_once_under_the_alias_and_then_verified_by_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh/known_hosts");
        let key = generate("c").unwrap();
        let name = alias(220, "PVE1");
        assert_eq!(name, "pxdeploy-vm-220.pve1");
        let line = record(&path, &name, &key, false).unwrap().unwrap();
        assert!(
            line.starts_with("pxdeploy-vm-220.pve1 ssh-ed25519 AAAA"),
            "{line}"
        );
        assert_eq!(
            record(&path, &name, &key, false).unwrap(),
            None,
            "not twice"
        );
        let known = KnownHosts::load(std::slice::from_ref(&path));
        assert_eq!(known.check(&name, &key.blob), HostKeyStatus::Known);
        // Another key for the same VM is a changed key (the connection is refused: exit 4).
        let other = generate("c").unwrap();
        assert!(matches!(
            known.check(&name, &other.blob),
            HostKeyStatus::Changed { .. }
        ));
        // Hashed, as with `HashKnownHosts yes`: still found by the alias.
        let hashed = dir.path().join("hashed");
        let line = record(&hashed, &name, &key, true).unwrap().unwrap();
        assert!(line.starts_with("|1|"), "{line}");
        assert_eq!(
            KnownHosts::load(&[hashed]).check(&name, &key.blob),
            HostKeyStatus::Known
        );
    }
}
