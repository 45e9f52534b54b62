//! The built-in catalogue of cloud images a `[vm] image` may name: where each image and its
//! distribution's published checksum list are, and the name the node stores it under.
//!
//! Sources (checked 2026-12-07 with the documentation search pxdeploy's engineers have):
//! - Ubuntu: "Ubuntu cloud image artefacts", documentation.ubuntu.com/public-images/en/latest/
//!   public-images-reference/artefacts (images on cloud-images.ubuntu.com named
//!   `noble-server-cloudimg-amd64…`). The `current/` folder and its `SHA256SUMS` list
//!   (lines `<sha256> *<file>`) are **UNCONFIRMED** there: they are what third-party Proxmox
//!   scripts use. That the `.img` is QCOW2 inside is **UNCONFIRMED** (reference §1.1); Proxmox's
//!   `import` content refuses the `.img` name, so it is stored as `.qcow2` and Proxmox checks
//!   the file as an untrusted QCOW2 on download (a raw file would fail that check loudly).
//! - Debian: cloud.debian.org/images/cloud/ is Debian's cloud team's download site (named as
//!   such by osinfo-db's merge request 713, "Debian Official Cloud Images"); the
//!   `<codename>/latest/debian-<N>-genericcloud-amd64.qcow2` names and the `SHA512SUMS` list
//!   (lines `<sha512>  <file>`) beside them are **UNCONFIRMED** from a Debian page: the search
//!   found them only in third-party scripts and Terraform/Packer configurations.
//!
//! `genericcloud` is Debian's image for virtual machines (no drivers for physical hardware).

use super::ChecksumAlgorithm;

/// One image of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueImage {
    /// The name `[vm] image` uses.
    pub name: &'static str,
    /// The image.
    pub url: &'static str,
    /// The distribution's list of checksums, one `<hex> [*]<file>` line per file.
    pub checksum_list: &'static str,
    /// Which checksum that list has.
    pub algorithm: ChecksumAlgorithm,
    /// The image's file name in that list.
    pub listed_as: &'static str,
    /// The name it is stored under on the node, without the extension: `create` adds the
    /// first 16 hex digits of the checksum, so a newer image is a new file and the same one
    /// is found again (`download-url` with the same checksum reuses the file).
    pub stem: &'static str,
    /// The extension Proxmox's `import` content needs and reads the format from.
    pub extension: &'static str,
}

/// The catalogue, in the order messages list it.
pub const IMAGES: &[CatalogueImage] = &[
    CatalogueImage {
        name: "debian-12",
        url: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
        checksum_list: "https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS",
        algorithm: ChecksumAlgorithm::Sha512,
        listed_as: "debian-12-genericcloud-amd64.qcow2",
        stem: "debian-12-genericcloud-amd64",
        extension: "qcow2",
    },
    CatalogueImage {
        name: "debian-13",
        url: "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2",
        checksum_list: "https://cloud.debian.org/images/cloud/trixie/latest/SHA512SUMS",
        algorithm: ChecksumAlgorithm::Sha512,
        listed_as: "debian-13-genericcloud-amd64.qcow2",
        stem: "debian-13-genericcloud-amd64",
        extension: "qcow2",
    },
    CatalogueImage {
        name: "ubuntu-24.04",
        url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        checksum_list: "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS",
        algorithm: ChecksumAlgorithm::Sha256,
        listed_as: "noble-server-cloudimg-amd64.img",
        stem: "ubuntu-24.04-server-cloudimg-amd64",
        extension: "qcow2",
    },
];

/// The names `[vm] image` accepts, in the order messages list them.
pub const NAMES: &[&str] = &["debian-12", "debian-13", "ubuntu-24.04"];

/// The catalogue's image of this name.
pub fn find(name: &str) -> Option<&'static CatalogueImage> {
    IMAGES.iter().find(|i| i.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_images_agree() {
        let names: Vec<&str> = IMAGES.iter().map(|i| i.name).collect();
        assert_eq!(names, NAMES);
        for image in IMAGES {
            assert!(image.url.starts_with("https://"), "{}", image.name);
            assert!(
                image.checksum_list.starts_with("https://"),
                "{}",
                image.name
            );
            // The list sits beside the image, and names it by its file name.
            let (folder, file) = image.url.rsplit_once('/').unwrap();
            assert!(image.checksum_list.starts_with(folder), "{}", image.name);
            assert_eq!(file, image.listed_as);
            // Proxmox's `import` content: `[a-zA-Z0-9\-.+=_]+\.(ova|qcow2|raw|vmdk)`.
            assert_eq!(image.extension, "qcow2");
            assert!(image
                .stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.+=_".contains(c)));
        }
        assert_eq!(
            find("ubuntu-24.04").unwrap().algorithm,
            ChecksumAlgorithm::Sha256
        );
        assert_eq!(
            find("debian-13").unwrap().algorithm,
            ChecksumAlgorithm::Sha512
        );
        assert!(find("debian-11").is_none());
    }
}
