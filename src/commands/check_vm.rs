//! What `pxdeploy check` says about a `[vm]` target: what a VM needs on the node, each
//! failure with the command that enables it (docs/vm.md). Read-only probes: `/dev/kvm`,
//! the storages' content types (`pvesh get /nodes/localhost/storage`), `pvesm path` of an
//! image given as a volume id, `qm config`/`pct config` of the vmid.

use super::check::Check;
use crate::config::{Config, Vm, VmImage};
use crate::error::Result;
use crate::proxmox::qm::config::parse_config;
use crate::remote::host::Host;
use crate::remote::quote::join;

/// `/dev/kvm` is what qemu-server checks before it starts a VM with KVM (the default).
const KVM: &str = "test -e /dev/kvm";
/// Every storage of this node with its content types.
const STORAGES: &str = "pvesh get /nodes/localhost/storage --output-format json";

/// Storage types whose volumes are files: the only ones `download-url` writes to and that
/// hold snippets (pve-storage: `can't upload to storage type '<t>', not a file based storage!`).
const FILE_BASED: &[&str] = &["dir", "nfs", "cifs", "cephfs", "glusterfs", "btrfs"];

/// One storage of the node as `pvesh get /nodes/<node>/storage` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(super) struct NodeStorage {
    pub storage: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `iso,vztmpl,backup`: in Proxmox's order.
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub active: Option<u8>,
}

impl NodeStorage {
    fn contents(&self) -> Vec<&str> {
        self.content.split(',').filter(|c| !c.is_empty()).collect()
    }
    fn has(&self, content: &str) -> bool {
        self.contents().contains(&content)
    }
}

pub(super) fn parse_storages(json: &str) -> Vec<NodeStorage> {
    serde_json::from_str(json.trim()).unwrap_or_default()
}

/// The checks of a VM target, after the node and `qm` were found.
pub(super) fn checks(
    host: &Host,
    config: &Config,
    vm: &Vm,
    version: Option<&str>,
) -> Result<Vec<Check>> {
    let mut checks = vec![kvm(host.probe(KVM)?.status.code == 0)];
    let storages = parse_storages(&host.probe_ok(STORAGES)?.stdout_str());
    match &vm.image {
        VmImage::Volume(volid) => {
            let out = host.probe(&join(&["pvesm", "path", volid]))?;
            checks.push(if out.status.success() {
                Check::pass("image", format!("`{volid}` is on the node"))
            } else {
                Check::fail(
                    "image",
                    format!("`{volid}` is not on the node: {}", out.stderr_str().trim()),
                    "upload the image to that storage, or set `vm.image` to a catalogue name (debian-12, debian-13, ubuntu-24.04) or { url, sha512 }",
                )
            });
        }
        _ => checks.push(content(
            "image storage",
            "vm.image_storage",
            &vm.image_storage,
            image_content(version),
            true,
            &storages,
        )),
    }
    checks.push(content(
        "storage",
        "vm.storage",
        &vm.storage,
        "images",
        false,
        &storages,
    ));
    checks.push(content(
        "snippets storage",
        "vm.snippets_storage",
        &vm.snippets_storage,
        "snippets",
        true,
        &storages,
    ));
    checks.push(vmid(host, config.vmid(), &vm.name)?);
    Ok(checks)
}

fn kvm(present: bool) -> Check {
    if present {
        Check::pass(
            "kvm",
            "/dev/kvm is there: VMs run with hardware virtualization",
        )
    } else {
        Check::fail(
            "kvm",
            "/dev/kvm is missing on the node: Proxmox refuses to start a VM with KVM (\"KVM virtualisation configured, but not available\")",
            "enable virtualization (Intel VT-x / AMD-V) in the node's BIOS/UEFI, or nested virtualization if the node is itself a VM; then `modprobe kvm_intel` (or `kvm_amd`) on the node",
        )
    }
}

/// The content type the image is downloaded as: `import` from PVE 8.2 (pve-manager 8.2),
/// `iso` before (reference §0 version map).
pub(super) fn image_content(version: Option<&str>) -> &'static str {
    let at_least_8_2 = version
        .and_then(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .map_or(true, |(major, minor)| (major, minor) >= (8, 2));
    if at_least_8_2 {
        "import"
    } else {
        "iso"
    }
}

/// Storage `id` (the config's `key`) exists, is active, holds `wanted` content (and is
/// file-based when `files`); the fix adds the content with the full list, since
/// `pvesm set --content` replaces it.
pub(super) fn content(
    name: &'static str,
    key: &str,
    id: &str,
    wanted: &str,
    files: bool,
    storages: &[NodeStorage],
) -> Check {
    let suitable: Vec<&str> = storages
        .iter()
        .filter(|s| s.has(wanted) && (!files || FILE_BASED.contains(&s.kind.as_str())))
        .map(|s| s.storage.as_str())
        .collect();
    let others = if suitable.is_empty() {
        String::new()
    } else {
        format!(
            ", or set `{key}` to one that has it: {}",
            suitable.join(", ")
        )
    };
    let Some(s) = storages.iter().find(|s| s.storage == id) else {
        let fix = if suitable.is_empty() {
            format!("set `{key}` to a storage and give it content `{wanted}`: `pvesm set <storage> --content <its current list>,{wanted}`")
        } else {
            format!(
                "set `{key}` to a storage with content `{wanted}`: {}",
                suitable.join(", ")
            )
        };
        return Check::fail(
            name,
            format!("there is no storage `{id}` on this node"),
            fix,
        );
    };
    if files && !FILE_BASED.contains(&s.kind.as_str()) {
        return Check::fail(
            name,
            format!(
                "`{id}` is a {} storage: `{wanted}` needs files (a directory storage)",
                s.kind
            ),
            format!("set `{key}` to a directory storage such as `local`{others}"),
        );
    }
    if s.active == Some(0) {
        return Check::fail(
            name,
            format!("`{id}` is not active"),
            format!("enable it (`pvesm set {id} --disable 0`){others}"),
        );
    }
    if s.has(wanted) {
        return Check::pass(name, format!("`{id}` ({}) has content `{wanted}`", s.kind));
    }
    let mut list = s.contents();
    list.push(wanted);
    Check::fail(
        name,
        format!(
            "`{id}` does not hold `{wanted}` (its content: {})",
            if s.content.is_empty() {
                "none"
            } else {
                &s.content
            }
        ),
        format!(
            "`{}` on the node (the list is replaced: this is the whole list){others}",
            join(&["pvesm", "set", id, "--content", &list.join(",")])
        ),
    )
}

/// The vmid is free, or it is our VM (same name).
fn vmid(host: &Host, vmid: u32, name: &str) -> Result<Check> {
    let out = host.probe(&format!("qm config {vmid}"))?;
    if out.status.success() {
        let theirs = parse_config(&out.stdout_str())
            .name()
            .unwrap_or_default()
            .to_string();
        return Ok(if theirs == name {
            Check::pass("vmid", format!("{vmid} exists and is ours (name `{name}`)"))
        } else {
            Check::fail(
                "vmid",
                format!("{vmid} is taken by another VM (name `{theirs}`)"),
                "choose a free vmid (`pvesh get /cluster/nextid` on the host suggests one) for `vm.vmid`",
            )
        });
    }
    let ct = host.probe(&format!("pct config {vmid}"))?;
    Ok(if ct.status.success() {
        Check::fail(
            "vmid",
            format!("{vmid} is taken by a container"),
            "choose a free vmid (`pvesh get /cluster/nextid` on the host suggests one) for `vm.vmid`",
        )
    } else {
        Check::pass(
            "vmid",
            format!("{vmid} is free: `pxdeploy create` will create the VM"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pvesh get /nodes/pve1/storage --output-format json` of a fresh node, whose `local`
    /// lacks `import` and `snippets`.
    const FRESH: &str = r#"[{"active":1,"avail":50000,"content":"iso,vztmpl,backup","enabled":1,"shared":0,"storage":"local","total":100000,"type":"dir","used":50000},{"active":1,"content":"images,rootdir","enabled":1,"shared":0,"storage":"local-lvm","type":"lvmthin"},{"active":0,"content":"images,snippets,import","enabled":1,"shared":1,"storage":"nas","type":"nfs"}]"#;

    fn check(key: &str, id: &str, wanted: &str, files: bool) -> Check {
        content("x", key, id, wanted, files, &parse_storages(FRESH))
    }

    #[test]
    fn a_missing_content_gets_the_whole_list_plus_it() {
        let c = check("vm.image_storage", "local", "import", true);
        assert!(!c.ok);
        assert_eq!(
            c.detail,
            "`local` does not hold `import` (its content: iso,vztmpl,backup)"
        );
        assert_eq!(
            c.fix.as_deref(),
            Some("`pvesm set local --content iso,vztmpl,backup,import` on the node (the list is replaced: this is the whole list), or set `vm.image_storage` to one that has it: nas")
        );
        let c = check("vm.snippets_storage", "local", "snippets", true);
        assert!(c
            .fix
            .unwrap()
            .starts_with("`pvesm set local --content iso,vztmpl,backup,snippets`"));
    }

    #[test]
    fn content_present_passes_and_block_storages_cannot_hold_files() {
        let c = check("vm.storage", "local-lvm", "images", false);
        assert!(c.ok, "{c:?}");
        assert_eq!(c.detail, "`local-lvm` (lvmthin) has content `images`");
        let c = check("vm.image_storage", "local-lvm", "import", true);
        assert!(!c.ok);
        assert!(c.detail.contains("is a lvmthin storage"), "{}", c.detail);
        assert!(c
            .fix
            .unwrap()
            .starts_with("set `vm.image_storage` to a directory storage such as `local`"));
        let c = check("vm.snippets_storage", "nas", "snippets", true);
        assert_eq!(c.detail, "`nas` is not active");
        assert_eq!(c.fix.as_deref(), Some("enable it (`pvesm set nas --disable 0`), or set `vm.snippets_storage` to one that has it: nas"));
    }

    #[test]
    fn an_unknown_storage_names_the_ones_that_fit() {
        let c = check("vm.image_storage", "nope", "import", true);
        assert_eq!(c.detail, "there is no storage `nope` on this node");
        assert_eq!(
            c.fix.as_deref(),
            Some("set `vm.image_storage` to a storage with content `import`: nas")
        );
        let c = check("vm.storage", "nope", "vztmpl-x", false);
        assert!(c
            .fix
            .unwrap()
            .contains("`pvesm set <storage> --content <its current list>,vztmpl-x`"));
        // Hostile ids from the config are quoted in the command shown.
        let storages = parse_storages(r#"[{"storage":"a b","type":"dir","content":"iso"}]"#);
        let c = content("x", "vm.image_storage", "a b", "import", true, &storages);
        assert!(c
            .fix
            .unwrap()
            .starts_with("`pvesm set 'a b' --content iso,import`"));
        assert!(parse_storages("not json").is_empty());
    }

    #[test]
    fn import_from_8_2_iso_before() {
        assert_eq!(image_content(Some("9.2.11")), "import");
        assert_eq!(image_content(Some("8.2.4")), "import");
        assert_eq!(image_content(Some("8.1.10")), "iso");
        assert_eq!(image_content(Some("7.4-3")), "iso");
        assert_eq!(image_content(None), "import");
    }

    #[test]
    fn kvm_says_how_to_enable_it() {
        assert!(kvm(true).ok);
        let c = kvm(false);
        assert!(!c.ok);
        assert!(c.fix.unwrap().contains("VT-x"));
    }
}
