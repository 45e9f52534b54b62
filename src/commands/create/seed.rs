//! What a new VM is seeded with (contract §2, §3): its SSH host key, generated here, and
//! the cloud-init data: user-data that makes `[vm] user` (sudo without password, key
//! only, the client keys pxdeploy connects with), pins the host key (`ssh_keys`), installs
//! the guest agent and Docker Engine with Compose v2; meta-data with an instance id fixed
//! at create (cloud-init never runs its per-instance modules again, so the host key stays).
//! The user-data is also made without `ssh_keys`, to replace the first one after the first
//! good boot: the private key does not stay on the node.

use std::path::Path;

use super::vm::Seed;
use crate::config::{Config, Vm};
use crate::error::{Error, Result};
use crate::guest::vm::link;

/// The VM's seed: a new host key and the cloud-init texts.
pub(super) fn seed(config: &Config, v: &Vm, node: &str) -> Result<Seed> {
    let target = crate::config::ssh::resolve(config)?;
    let keys = client_keys(&target.identity_files)?;
    let key = generate_host_key(&link::alias(v.vmid, node))?;
    let instance = format!("pxdeploy-{}-{:016x}", v.vmid, rand::random::<u64>());
    Ok(Seed {
        user_data: user_data(v, &keys, Some((&key.0, &key.1))),
        user_data_later: user_data(v, &keys, None),
        meta_data: format!(
            "instance-id: {}\nlocal-hostname: {}\n",
            yaml(&instance),
            yaml(&v.name)
        ),
        host_public_key: key.1,
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

/// A new ed25519 key: (OpenSSH private key file, public line), made by `ssh-keygen` in a
/// private temporary folder.
fn generate_host_key(comment: &str) -> Result<(String, String)> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("pxdeploy-hostkey-{:016x}", rand::random::<u64>()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::unexpected("cannot make a temporary folder").cause(e.to_string()))?;
    let made = made_key(&dir, comment);
    let _ = std::fs::remove_dir_all(&dir);
    made
}

fn made_key(dir: &Path, comment: &str) -> Result<(String, String)> {
    let file = dir.join("key");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&file)
        .output()
        .map_err(|e| Error::unexpected("cannot run `ssh-keygen`").cause(e.to_string()))?;
    if !out.status.success() {
        return Err(
            Error::unexpected("`ssh-keygen` could not make the VM's host key")
                .cause(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        );
    }
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(p)
            .map_err(|e| Error::unexpected("cannot read the VM's host key").cause(e.to_string()))
    };
    Ok((
        read(file.clone())?,
        read(pub_path(&file))?.trim().to_string(),
    ))
}

/// A YAML double-quoted scalar.
fn yaml(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The `#cloud-config` user-data; `host_key`: (private, public) for `ssh_keys`.
fn user_data(v: &Vm, keys: &[String], host_key: Option<(&str, &str)>) -> String {
    let user = yaml(&v.user);
    let mut out = String::from("#cloud-config\n");
    out.push_str(&format!("hostname: {}\n", yaml(&v.name)));
    out.push_str("users:\n");
    out.push_str(&format!("  - name: {user}\n"));
    out.push_str("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n");
    out.push_str("    shell: /bin/bash\n");
    out.push_str("    lock_passwd: true\n");
    out.push_str("    ssh_authorized_keys:\n");
    for k in keys {
        out.push_str(&format!("      - {}\n", yaml(k)));
    }
    out.push_str("ssh_deletekeys: true\n");
    out.push_str("ssh_genkeytypes: []\n");
    if let Some((private, public)) = host_key {
        out.push_str("ssh_keys:\n");
        out.push_str("  ed25519_private: |\n");
        for l in private.lines() {
            out.push_str(&format!("    {l}\n"));
        }
        out.push_str(&format!("  ed25519_public: {}\n", yaml(public)));
    }
    out.push_str("package_update: true\n");
    out.push_str("packages: [qemu-guest-agent, curl, ca-certificates]\n");
    out.push_str("runcmd:\n");
    out.push_str("  - [systemctl, start, qemu-guest-agent]\n");
    out.push_str("  - [sh, -c, \"curl -fsSL https://get.docker.com | sh\"]\n");
    out.push_str(&format!("  - [usermod, -aG, docker, {user}]\n"));
    out
}
