//! The cloud-init data pxdeploy writes for a VM (the contract in docs/vm.md): the user-data
//! snippet (`pxdeploy-<vmid>-user.yaml`) that creates the user pxdeploy logs in as, pins
//! the SSH host key and installs the guest agent and Docker; the meta-data snippet
//! (`pxdeploy-<vmid>-meta.yaml`) with an instance id fixed at `create`, so that cloud-init
//! never takes a later boot for a new instance (which would make new host keys and run
//! `runcmd` again). After the first good boot the user-data is written again without the
//! private key ([`UserData::host_key`] `None`): the fixed instance id means `cc_ssh` never
//! runs again, so the keys in the VM stay.
//!
//! YAML is emitted by hand, and every value that comes from the user (hostname, user name,
//! authorized keys) is a double-quoted scalar with everything but printable ASCII escaped,
//! so no value can end its line or start a new key.

use std::fmt::Write;

use zeroize::Zeroizing;

use super::host_key::HostKey;

/// What the user-data says.
pub(crate) struct UserData<'a> {
    /// The VM's hostname (`[vm] name`).
    pub hostname: &'a str,
    /// The user cloud-init creates (`[vm] user`).
    pub user: &'a str,
    /// The public keys allowed to log in as `user` (the one pxdeploy connects with).
    pub authorized_keys: &'a [String],
    /// The host key to install; `None` once the VM has it (the rewrite after the first boot).
    pub host_key: Option<&'a HostKey>,
}

/// Packages cloud-init installs: the guest agent (not in stock cloud images: reference
/// §4.4), and what Docker's convenience script needs.
pub(crate) const PACKAGES: &[&str] = &["qemu-guest-agent", "curl", "ca-certificates"];

/// Docker Engine with the Compose v2 plugin, by Docker's convenience script. Downloaded to
/// a file first: with `curl … | sh` a failed download would run an empty script and
/// "succeed".
pub(crate) const INSTALL_DOCKER: &str =
    "curl -fsSL https://get.docker.com -o /tmp/get-docker.sh && sh /tmp/get-docker.sh";

/// A YAML double-quoted scalar: `"`, `\` escaped, and every character outside printable
/// ASCII as `\uXXXX` (`\UXXXXXXXX` beyond the BMP), which YAML 1.1 (PyYAML, cloud-init) and
/// 1.2 read back as the same text.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// The `#cloud-config` user-data; wiped from memory when dropped (it may hold the private
/// host key).
pub(crate) fn user_data(d: &UserData) -> Zeroizing<String> {
    let user = quoted(d.user);
    // Room for all of it up front: a reallocation would leave a copy of the key behind.
    let mut o = Zeroizing::new(String::with_capacity(16 * 1024));
    o.push_str("#cloud-config\n");
    let _ = writeln!(o, "hostname: {}", quoted(d.hostname));
    o.push_str("manage_etc_hosts: true\n");
    o.push_str("users:\n");
    let _ = writeln!(o, "  - name: {user}");
    o.push_str("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n");
    o.push_str("    shell: /bin/bash\n");
    o.push_str("    lock_passwd: true\n");
    o.push_str("    ssh_authorized_keys:\n");
    for key in d.authorized_keys {
        let _ = writeln!(o, "      - {}", quoted(key.trim()));
    }
    o.push_str("ssh_pwauth: false\n");
    o.push_str("ssh_deletekeys: true\n");
    o.push_str("ssh_genkeytypes: []\n");
    if let Some(key) = d.host_key {
        o.push_str("ssh_keys:\n  ed25519_private: |\n");
        for line in key.private_openssh.lines() {
            let _ = writeln!(o, "    {line}");
        }
        let _ = writeln!(o, "  ed25519_public: {}", quoted(&key.public_line));
    }
    o.push_str("package_update: true\n");
    o.push_str("packages:\n");
    for p in PACKAGES {
        let _ = writeln!(o, "  - {p}");
    }
    o.push_str("runcmd:\n");
    o.push_str("  - [systemctl, start, qemu-guest-agent]\n");
    let _ = writeln!(o, "  - [sh, -c, {}]", quoted(INSTALL_DOCKER));
    let _ = writeln!(o, "  - [usermod, -aG, docker, {user}]");
    o
}

/// `pxdeploy-<vmid>-<16 random hex digits>`: fixed at `create`, kept in the meta-data.
pub(crate) fn instance_id(vmid: u32) -> String {
    format!("pxdeploy-{vmid}-{:016x}", rand::random::<u64>())
}

/// The meta-data: the fixed instance id and the hostname.
pub(crate) fn meta_data(instance_id: &str, hostname: &str) -> String {
    format!(
        "instance-id: {}\nlocal-hostname: {}\n",
        quoted(instance_id),
        quoted(hostname)
    )
}

/// The instance id of a meta-data file pxdeploy wrote (to keep it when rewriting).
// dead_code: nothing rewrites the meta-data yet (vm-guest's create writes it once).
#[allow(dead_code)]
pub(crate) fn parse_instance_id(meta: &str) -> Option<String> {
    let value: serde_norway::Value = serde_norway::from_str(meta).ok()?;
    value.get("instance-id")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::super::host_key::generate;
    use super::*;
    use serde_norway::Value;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPxdeployTestKeyPxdeployTestKeyPxdeploy0 me@laptop";

    fn parse(text: &str) -> Value {
        serde_norway::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn the_user_data_without_the_host_key_exactly() {
        let keys = [KEY.to_string()];
        let text = user_data(&UserData {
            hostname: "myapp",
            user: "pxdeploy",
            authorized_keys: &keys,
            host_key: None,
        });
        assert_eq!(
            text.as_str(),
            format!(
                "#cloud-config\n\
                 hostname: \"myapp\"\n\
                 manage_etc_hosts: true\n\
                 users:\n  - name: \"pxdeploy\"\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    shell: /bin/bash\n    lock_passwd: true\n    ssh_authorized_keys:\n      - \"{KEY}\"\n\
                 ssh_pwauth: false\n\
                 ssh_deletekeys: true\n\
                 ssh_genkeytypes: []\n\
                 package_update: true\n\
                 packages:\n  - qemu-guest-agent\n  - curl\n  - ca-certificates\n\
                 runcmd:\n  - [systemctl, start, qemu-guest-agent]\n  - [sh, -c, \"curl -fsSL https://get.docker.com -o /tmp/get-docker.sh && sh /tmp/get-docker.sh\"]\n  - [usermod, -aG, docker, \"pxdeploy\"]\n"
            )
        );
    }

    #[test]
    fn the_user_data_reads_back_as_cloud_init_reads_it() {
        let key = generate("pxdeploy-vm-220.pve1").unwrap();
        let keys = [KEY.to_string(), "ssh-rsa AAAAB3 second".to_string()];
        let text = user_data(&UserData {
            hostname: "myapp",
            user: "deploy",
            authorized_keys: &keys,
            host_key: Some(&key),
        });
        assert!(text.starts_with("#cloud-config\n"));
        let v = parse(&text);
        assert_eq!(v["hostname"], "myapp");
        let user = &v["users"][0];
        assert_eq!(user["name"], "deploy");
        assert_eq!(user["sudo"], "ALL=(ALL) NOPASSWD:ALL");
        assert_eq!(user["lock_passwd"], true);
        assert_eq!(user["ssh_authorized_keys"][0], KEY);
        assert_eq!(user["ssh_authorized_keys"][1], "ssh-rsa AAAAB3 second");
        assert_eq!(v["ssh_deletekeys"], true);
        assert_eq!(v["ssh_genkeytypes"].as_sequence().unwrap().len(), 0);
        assert_eq!(
            v["ssh_keys"]["ed25519_private"].as_str().unwrap(),
            key.private_openssh.as_str()
        );
        assert_eq!(v["ssh_keys"]["ed25519_public"], key.public_line.as_str());
        assert_eq!(v["package_update"], true);
        let packages: Vec<&str> = v["packages"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(packages, PACKAGES);
        let runcmd = v["runcmd"].as_sequence().unwrap();
        assert_eq!(runcmd[0][2], "qemu-guest-agent");
        assert_eq!(runcmd[1][2], INSTALL_DOCKER);
        assert_eq!(runcmd[2][3], "deploy");
        // The rewrite after the first boot: the same, without `ssh_keys`.
        let again = user_data(&UserData {
            host_key: None,
            hostname: "myapp",
            user: "deploy",
            authorized_keys: &keys,
        });
        assert!(parse(&again).get("ssh_keys").is_none());
        assert!(!again.contains("PRIVATE KEY"));
    }

    #[test]
    fn hostile_values_stay_values() {
        let keys = ["ssh-ed25519 AAAA x\"\nruncmd: [[reboot]]\n#".to_string()];
        let text = user_data(&UserData {
            hostname: "a\": b\u{2028}c: d",
            user: "u\\ser'x",
            authorized_keys: &keys,
            host_key: None,
        });
        let v = parse(&text);
        assert_eq!(v["hostname"], "a\": b\u{2028}c: d");
        assert_eq!(v["users"][0]["name"], "u\\ser'x");
        assert_eq!(v["users"][0]["ssh_authorized_keys"][0], keys[0].as_str());
        assert_eq!(v["runcmd"].as_sequence().unwrap().len(), 3);
        assert_eq!(text.lines().filter(|l| l.starts_with("runcmd:")).count(), 1);
        assert_eq!(quoted("\u{1F600}"), "\"\\U0001F600\"");
    }

    #[test]
    fn the_meta_data_keeps_a_fixed_instance_id() {
        let id = instance_id(220);
        assert!(id.starts_with("pxdeploy-220-") && id.len() == "pxdeploy-220-".len() + 16);
        assert_ne!(instance_id(220), id);
        let meta = meta_data(&id, "myapp");
        assert_eq!(
            meta,
            format!("instance-id: \"{id}\"\nlocal-hostname: \"myapp\"\n")
        );
        let v = parse(&meta);
        assert_eq!(v["local-hostname"], "myapp");
        assert_eq!(parse_instance_id(&meta), Some(id));
        assert_eq!(parse_instance_id("nothing: here\n"), None);
    }
}
