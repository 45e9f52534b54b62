//! What the `qm`/`pvesh` builders get from the `[vm]` section (`config` is below `guest`,
//! so it takes the builders' types from `proxmox`, as `CreateSpec::from_container` does).

use super::catalogue;
use super::{Vm, VmImage};
use crate::proxmox::qm::create::VmCreateSpec;
use crate::proxmox::qm::download::DownloadSpec;

impl DownloadSpec {
    /// How the node gets `image`; `None` for a volume id already on the node.
    // dead_code: the VM's create flow (branch vm-guest) calls it.
    #[allow(dead_code)]
    pub(crate) fn from_image(image: &VmImage) -> Option<Self> {
        match image {
            VmImage::Volume(_) => None,
            VmImage::Catalogue(name) => {
                let c = catalogue::find(name)?;
                Some(DownloadSpec {
                    url: c.url.into(),
                    algorithm: c.algorithm.as_str(),
                    checksum: None,
                    checksum_list: Some((c.checksum_list.into(), c.listed_as.into())),
                    stem: c.stem.into(),
                    extension: c.extension.into(),
                })
            }
            VmImage::Url {
                url,
                algorithm,
                checksum,
            } => {
                let (stem, extension) = file_name(url);
                Some(DownloadSpec {
                    url: url.clone(),
                    algorithm: algorithm.as_str(),
                    checksum: Some(checksum.clone()),
                    checksum_list: None,
                    stem,
                    extension,
                })
            }
        }
    }
}

/// The stored name of an image URL's file: its last path segment without query, each
/// character outside `[a-zA-Z0-9-.+=_]` as `_` (what Proxmox's `import` accepts), split
/// into stem and extension; `.raw` and `.vmdk` stay, anything else (`.img`, `.qcow2`, none)
/// is read as QCOW2, which Proxmox then checks when the download ends.
fn file_name(url: &str) -> (String, String) {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-.+=_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (stem, ext) = match clean.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), ext.to_ascii_lowercase()),
        _ => (clean.clone(), String::new()),
    };
    let stem = if stem.trim_matches('.').is_empty() {
        "image".to_string()
    } else {
        stem.trim_start_matches('.').to_string()
    };
    match ext.as_str() {
        "raw" | "vmdk" | "qcow2" => (stem, ext),
        _ => (stem, "qcow2".into()),
    }
}

impl VmCreateSpec {
    /// `qm create`'s settings: the `[vm]` section and the image to import (a volume id).
    // dead_code: the VM's create flow (branch vm-guest) calls it.
    #[allow(dead_code)]
    pub(crate) fn from_vm(v: &Vm, image: &str) -> Self {
        VmCreateSpec {
            vmid: v.vmid,
            name: v.name.clone(),
            memory_mb: v.memory_mb,
            cores: v.cores,
            storage: v.storage.clone(),
            image: image.to_string(),
            bridge: v.bridge.clone(),
            vlan: v.vlan,
            network: v.network.clone(),
            nameserver: v.nameserver.clone(),
            snippets_storage: v.snippets_storage.clone(),
            onboot: v.onboot,
            protection: v.protection,
            tags: v.tags.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ChecksumAlgorithm;

    #[test]
    fn a_catalogue_image_is_fetched_with_its_list() {
        let spec = DownloadSpec::from_image(&VmImage::Catalogue("ubuntu-24.04".into())).unwrap();
        assert_eq!(spec.algorithm, "sha256");
        assert_eq!(spec.checksum, None);
        assert_eq!(
            spec.checksum_list,
            Some((
                "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS".into(),
                "noble-server-cloudimg-amd64.img".into()
            ))
        );
        assert_eq!(
            (spec.stem.as_str(), spec.extension.as_str()),
            ("ubuntu-24.04-server-cloudimg-amd64", "qcow2")
        );
        assert_eq!(
            DownloadSpec::from_image(&VmImage::Volume("local:import/x.qcow2".into())),
            None
        );
    }

    #[test]
    fn a_url_image_keeps_its_checksum_and_gets_a_name_proxmox_accepts() {
        let image = |url: &str| VmImage::Url {
            url: url.into(),
            algorithm: ChecksumAlgorithm::Sha512,
            checksum: "ab".repeat(64),
        };
        let spec =
            DownloadSpec::from_image(&image("https://example.org/a/my image.img?x=1")).unwrap();
        assert_eq!(spec.checksum.as_deref(), Some("ab".repeat(64).as_str()));
        assert_eq!(
            (spec.stem.as_str(), spec.extension.as_str()),
            ("my_image", "qcow2")
        );
        for (url, stem, ext) in [
            ("https://e.org/disk.raw", "disk", "raw"),
            ("https://e.org/disk.VMDK", "disk", "vmdk"),
            ("https://e.org/disk.qcow2#x", "disk", "qcow2"),
            ("https://e.org/", "image", "qcow2"),
            ("https://e.org/.qcow2", "qcow2", "qcow2"),
            ("https://e.org/noext", "noext", "qcow2"),
        ] {
            let spec = DownloadSpec::from_image(&image(url)).unwrap();
            assert_eq!(
                (spec.stem.as_str(), spec.extension.as_str()),
                (stem, ext),
                "{url}"
            );
        }
    }
}
