//! The text of the file `init` writes: every key it decided, the other keys commented out
//! with their defaults, and a line of explanation for each.

use std::fmt::Write;

use super::vars::Var;
use super::{Given, InitArgs};

/// The settings that do not come straight from a flag with a default.
pub(crate) struct Settings {
    pub host: Given,
    pub user: Option<Given>,
    pub identity_file: Option<Given>,
    pub vmid: Given,
    pub ip: Option<Given>,
    pub gateway: Option<Given>,
    pub hostname: String,
    pub name: String,
    pub source: String,
    pub compose_file: String,
}

impl Settings {
    /// The variables that gave a value: from the Taskfile (`taskfile`) or the environment.
    pub(super) fn vars_used(&self, taskfile: bool) -> Vec<&'static str> {
        [
            Some(&self.host),
            self.user.as_ref(),
            self.identity_file.as_ref(),
            Some(&self.vmid),
            self.ip.as_ref(),
            self.gateway.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter(|g| g.taskfile == taskfile)
        .filter_map(|g| g.var)
        .collect()
    }
}

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `key = value`, with ` # from VAR` when a variable gave it; `commented` when not given.
fn line(out: &mut String, key: &str, given: Option<&Given>, quote: bool, default: &str) {
    match given {
        Some(g) => {
            let value = if quote { q(&g.value) } else { g.value.clone() };
            let _ = write!(out, "{key} = {value}");
            match (g.var, g.taskfile) {
                (Some(var), true) => {
                    let _ = write!(out, "  # from {var} in the Taskfile");
                }
                (Some(var), false) => {
                    let _ = write!(out, "  # from {var}");
                }
                (None, _) => {}
            }
            out.push('\n');
        }
        None => {
            let _ = writeln!(out, "# {key} = {default}");
        }
    }
}

fn opt<T: ToString>(out: &mut String, key: &str, value: Option<T>, default: &str, quote: bool) {
    let given = value.map(|v| Given {
        value: v.to_string(),
        var: None,
        taskfile: false,
    });
    line(out, key, given.as_ref(), quote, default);
}

pub(crate) fn render(args: &InitArgs, s: &Settings, services: &[String], vars: &[Var]) -> String {
    let mut o = String::new();
    o.push_str(
        "# pxdeploy.toml, written by `pxdeploy init`. Every key, its default and its rules:\n\
         # docs/configuration.md; `pxdeploy schema` prints the JSON Schema for editors.\n\
         # Unknown keys are errors. The PROXMOX_* variables still override the keys they name\n\
         # (PROXMOX_HOST, PROXMOX_USER, PROXMOX_SSH_KEY, PROXMOX_CONTAINER_ID/_IP/_GATEWAY).\n\n",
    );
    o.push_str("[proxmox]\n# The Proxmox VE node: a name, an IP address, or a Host alias from ~/.ssh/config.\n");
    line(&mut o, "host", Some(&s.host), true, "");
    o.push_str("# SSH user and port. Default: ~/.ssh/config, else root and 22.\n");
    line(&mut o, "user", s.user.as_ref(), true, "\"root\"");
    opt(&mut o, "port", args.port, "22", false);
    o.push_str("# Private key. Default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa.\n");
    line(
        &mut o,
        "identity_file",
        s.identity_file.as_ref(),
        true,
        "\"~/.ssh/id_ed25519\"",
    );
    o.push_str("# \"strict\" (default) or \"accept-new\" (trust an unknown host key once and pin it).\n# host_key_check = \"strict\"\n\n");

    if args.vm {
        vm_section(&mut o, args, s);
    } else {
        container_section(&mut o, args, s);
    }
    o.push('\n');

    o.push_str("[app]\n# Compose project name.\n");
    let _ = writeln!(o, "name = {}", q(&s.name));
    o.push_str("# The folder pushed into the container (relative to this file) and the compose file in it.\n");
    let _ = writeln!(o, "source = {}", q(&s.source));
    let _ = writeln!(o, "compose_file = {}", q(&s.compose_file));
    o.push_str("# Inside the container. Default \"/opt/<name>\".\n");
    let _ = writeln!(o, "# remote_dir = {}\n", q(&format!("/opt/{}", s.name)));

    env_tables(&mut o, vars);

    o.push_str(
        "[health]\n# The services waited for after deploy/start/restart ([] waits for none).\n",
    );
    let list: Vec<String> = services.iter().map(|x| q(x)).collect();
    let _ = writeln!(o, "services = [{}]", list.join(", "));
    o.push_str("# timeout_secs = 120\n# interval_secs = 2\n\n");
    o.push_str("[backup]\n# vzdump: storage, mode (snapshot | suspend | stop), compression, how many to keep.\n");
    o.push_str(
        "# storage = \"local\"\n# mode = \"snapshot\"\n# compress = \"zstd\"\n# keep_last = 7\n",
    );
    o
}

/// `[env.secrets]` and `[env.values]`: the `.env` that the compose file reads.
fn env_tables(o: &mut String, vars: &[Var]) {
    o.push_str(
        "# [env] is the .env beside the compose file, from the variables the compose file uses.\n",
    );
    o.push_str(
        "[env.secrets]\n# name = length: generated once (letters and digits), then kept forever.\n",
    );
    for v in vars.iter().filter(|v| v.is_secret()) {
        if v.default.is_some() {
            o.push_str("# (the compose file's default is not used: a secret is generated)\n");
        }
        let _ = writeln!(o, "{} = 32", v.name);
    }
    o.push_str("\n[env.values]\n# Written again on every deploy.\n");
    for v in vars.iter().filter(|v| !v.is_secret()) {
        match &v.default {
            Some(d) => {
                let _ = writeln!(o, "{} = {}  # the compose file's default", v.name, q(d));
            }
            None if v.required => {
                let _ = writeln!(
                    o,
                    "{} = \"\"  # required by the compose file: set it",
                    v.name
                );
            }
            None => {
                let _ = writeln!(o, "{} = \"\"", v.name);
            }
        }
    }
    o.push('\n');
}

/// `[container]`: an LXC container.
fn container_section(o: &mut String, args: &InitArgs, s: &Settings) {
    o.push_str("[container]\n# Proxmox id of the container, 100–999999999.\n");
    line(o, "vmid", Some(&s.vmid), false, "");
    o.push_str("# DNS name: lowercase letters, digits and `-`.\n");
    let _ = writeln!(o, "hostname = {}", q(&s.hostname));
    o.push_str("# Template (name prefix or volume id), storage, size and network.\n");
    opt(
        o,
        "template",
        args.template.as_deref(),
        "\"debian-12-standard\"",
        true,
    );
    opt(o, "storage", args.storage.as_deref(), "\"local-lvm\"", true);
    opt(o, "disk_gb", args.disk_gb, "16", false);
    opt(o, "memory_mb", args.memory_mb, "4096", false);
    opt(o, "cores", args.cores, "2", false);
    opt(o, "bridge", args.bridge.as_deref(), "\"vmbr0\"", true);
    o.push_str("# \"dhcp\" (default) or a static a.b.c.d/n with a gateway in its subnet.\n");
    line(o, "ip", s.ip.as_ref(), true, "\"dhcp\"");
    line(o, "gateway", s.gateway.as_ref(), true, "\"192.168.1.1\"");
    o.push_str("# How Docker is installed: \"script\" (default), \"apt\", or a command of your own.\n# docker_install = \"script\"\n");
}

/// `[vm]` (`init --vm`): a QEMU VM from a cloud image.
fn vm_section(o: &mut String, args: &InitArgs, s: &Settings) {
    o.push_str("[vm]\n# Proxmox id of the VM, 100–999999999.\n");
    line(o, "vmid", Some(&s.vmid), false, "");
    o.push_str("# The VM's name and hostname: lowercase letters, digits and `-`.\n");
    let _ = writeln!(o, "name = {}", q(&s.hostname));
    o.push_str("# The cloud image: debian-12 (default), debian-13, ubuntu-24.04, { url = \"https://…\", sha512 = \"…\" }\n# or a volume id on the node. It is downloaded to image_storage (content `import`).\n");
    opt(o, "image", args.image.as_deref(), "\"debian-12\"", true);
    o.push_str(
        "# image_storage = \"local\"\n# Storage of the boot disk, its size, memory and cores.\n",
    );
    opt(o, "storage", args.storage.as_deref(), "\"local-lvm\"", true);
    opt(o, "disk_gb", args.disk_gb, "32", false);
    opt(o, "memory_mb", args.memory_mb, "4096", false);
    opt(o, "cores", args.cores, "2", false);
    o.push_str(
        "# Where the cloud-init files go (content `snippets`).\n# snippets_storage = \"local\"\n",
    );
    opt(o, "bridge", args.bridge.as_deref(), "\"vmbr0\"", true);
    o.push_str("# \"dhcp\" (default) or a static a.b.c.d/n (the gateway is optional).\n");
    line(o, "ip", s.ip.as_ref(), true, "\"dhcp\"");
    line(o, "gateway", s.gateway.as_ref(), true, "\"192.168.1.1\"");
    o.push_str("# The user cloud-init creates and pxdeploy logs in as (key only, sudo, docker group).\n# user = \"pxdeploy\"\n");
}
