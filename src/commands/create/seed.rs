//! What a new VM is seeded with (contract §2, §3), from `guest::vm::host_key` and
//! `guest::vm::cloud_init`: a new host key, the user-data with it and without it (written
//! again after the first good boot: the private key does not stay on the node), the
//! meta-data with an instance id fixed now; and the client public keys it lets in: the
//! identity pxdeploy uses for the node.

use std::path::Path;

use super::vm::Seed;
use crate::config::{Config, Vm};
use crate::error::{Error, Result};
use crate::guest::vm::cloud_init::{self, UserData};
use crate::guest::vm::host_key;

/// The VM's seed: a new host key and the cloud-init texts.
pub(super) fn seed(config: &Config, v: &Vm, node: &str) -> Result<Seed> {
    let target = crate::config::ssh::resolve(config)?;
    let keys = client_keys(&target.identity_files)?;
    let alias = host_key::alias(v.vmid, node);
    let key = host_key::generate(&alias).map_err(Error::unexpected)?;
    let data = |with_key: bool| {
        cloud_init::user_data(&UserData {
            hostname: &v.name,
            user: &v.user,
            authorized_keys: &keys,
            host_key: with_key.then_some(&key),
        })
    };
    Ok(Seed {
        user_data: data(true),
        user_data_later: data(false),
        meta_data: cloud_init::meta_data(&cloud_init::instance_id(v.vmid), &v.name),
        host_key: key,
    })
}

/// The public keys of the client identity pxdeploy uses for the node: each identity
/// file's `.pub`, else the public half read from the private key file.
fn client_keys(files: &[std::path::PathBuf]) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for f in files {
        if let Ok(text) = std::fs::read_to_string(pub_path(f)) {
            if let Some(line) = text
                .lines()
                .find(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-"))
            {
                keys.push(line.trim().to_string());
                continue;
            }
        }
        if let Ok(text) = std::fs::read_to_string(f) {
            if let Ok(k) = ssh_key::PrivateKey::from_openssh(text.as_bytes()) {
                if let Ok(line) = k.public_key().to_openssh() {
                    keys.push(line);
                }
            }
        }
    }
    if keys.is_empty() {
        return Err(Error::config(
            "no public key to put into the VM: pxdeploy connects to the VM with the key it uses for the node",
        )
        .hint("name the key file with `[proxmox] identity_file` (its `.pub` beside it)"));
    }
    Ok(keys)
}

fn pub_path(f: &Path) -> std::path::PathBuf {
    let mut s = f.as_os_str().to_owned();
    s.push(".pub");
    s.into()
}
