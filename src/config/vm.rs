//! `[vm]`: the QEMU virtual machine `create` makes from a cloud image, and where it lives
//! (docs/vm.md, docs/configuration.md). Checked by `vm_rules.rs`.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;

use super::default_local;
use super::guest_keys::{
    default_bridge, default_cores, default_ip, default_memory_mb, default_storage, default_true,
};
use super::IpConfig;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vm {
    /// Required (in the file or `PROXMOX_CONTAINER_ID`); 0 only before validation.
    #[serde(default)]
    pub vmid: u32,
    /// The VM's name in Proxmox and its hostname (cloud-init `hostname`, `local-hostname`).
    pub name: String,
    /// In a Proxmox cluster: the node `create` puts the VM on, or `"auto"` (the online node
    /// with the most free memory). Default: the node connected to.
    #[serde(default)]
    pub node: Option<String>,
    /// `debian-12`, `debian-13`, `ubuntu-24.04` (the built-in catalogue: the distribution's
    /// cloud image and its published checksum list); `{ url = "https://…", sha512 = "…" }`
    /// (or `sha256`); or a volume id already on the node (`local:import/x.qcow2`).
    /// Read [`Vm::image`].
    #[serde(default = "default_image", rename = "image")]
    pub(super) image_key: ImageKey,
    /// `image` parsed once by `load_plan` (not a TOML key).
    #[serde(skip)]
    pub image: VmImage,
    /// Where the image is downloaded to: a storage with content `import` (PVE 8.2+; `iso` before).
    #[serde(default = "default_local")]
    pub image_storage: String,
    /// The boot disk's storage (content `images`).
    #[serde(default = "default_storage")]
    pub storage: String,
    /// Where the cloud-init snippet files go: a storage with content `snippets`.
    #[serde(default = "default_local")]
    pub snippets_storage: String,
    #[serde(default = "default_disk_gb")]
    pub disk_gb: u32,
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    #[serde(default = "default_cores")]
    pub cores: u32,
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// The VLAN tag of net0 (1–4094); none: untagged.
    #[serde(default)]
    pub vlan: Option<u16>,
    /// The raw `ip` key ("dhcp" or a static address in CIDR form); read [`Vm::network`].
    #[serde(default = "default_ip")]
    pub(super) ip: String,
    /// The raw `gateway` key (optional with a static ip); read [`Vm::network`].
    pub(super) gateway: Option<String>,
    /// `ip` + `gateway`, parsed once by `load_plan` (not a TOML key).
    #[serde(skip)]
    pub network: IpConfig,
    /// DNS servers, space-separated IP addresses (`"1.1.1.1 9.9.9.9"`); none: the node's.
    #[serde(default)]
    pub nameserver: Option<String>,
    /// The user cloud-init creates: key-only, passwordless sudo, in the docker group.
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default = "default_true")]
    pub onboot: bool,
    /// Proxmox's `protection` flag: the VM and its disks cannot be removed until it is off.
    #[serde(default)]
    pub protection: bool,
    /// Manage the VM with Proxmox's HA manager (`vm:<vmid>`).
    #[serde(default)]
    pub ha: bool,
    /// Proxmox tags (each `[a-z0-9_][a-z0-9_\-+.]*`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The `image` key as written: a name (catalogue or volume id) or a URL with its checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ImageKey {
    Name(String),
    Url(UrlImage),
}

/// `{ url = "…", sha256 = "…" }` or `{ url = "…", sha512 = "…" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UrlImage {
    pub url: String,
    pub sha256: Option<String>,
    pub sha512: Option<String>,
}

/// The image after validation: what `create` downloads or uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmImage {
    /// A name of the built-in catalogue (`crate::guest::vm::catalogue`).
    Catalogue(String),
    /// An image URL with its checksum (lower-case hex), downloaded by the node.
    Url {
        url: String,
        algorithm: ChecksumAlgorithm,
        checksum: String,
    },
    /// A volume id already on the node: `<storage>:import/<file>` or `<storage>:iso/<file>`.
    Volume(String),
}

impl Default for VmImage {
    fn default() -> Self {
        VmImage::Catalogue(DEFAULT_IMAGE.into())
    }
}

/// The checksum algorithms `download-url` takes that pxdeploy accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha256,
    Sha512,
}

impl ChecksumAlgorithm {
    /// As `--checksum-algorithm` and the config key spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Sha256 => "sha256",
            ChecksumAlgorithm::Sha512 => "sha512",
        }
    }

    /// The length of the hex digest.
    pub fn hex_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Sha256 => 64,
            ChecksumAlgorithm::Sha512 => 128,
        }
    }
}

const DEFAULT_IMAGE: &str = "debian-12";

fn default_image() -> ImageKey {
    ImageKey::Name(DEFAULT_IMAGE.into())
}

fn default_disk_gb() -> u32 {
    32
}

fn default_user() -> String {
    "pxdeploy".into()
}

/// A string, or a table read as [`UrlImage`] (its unknown keys refused at their line).
impl<'de> Deserialize<'de> for ImageKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = ImageKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a catalogue name (debian-12, debian-13, ubuntu-24.04), a volume id, or { url = \"https://…\", sha512 = \"…\" }")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ImageKey, E> {
                Ok(ImageKey::Name(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ImageKey, A::Error> {
                UrlImage::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ImageKey::Url)
            }
        }
        d.deserialize_any(Either)
    }
}

impl JsonSchema for ImageKey {
    fn schema_name() -> Cow<'static, str> {
        "VmImage".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let hex = |n: usize| serde_json::json!({ "type": "string", "pattern": format!("^[0-9a-fA-F]{{{n}}}$") });
        json_schema!({
            "description": "a catalogue name, a volume id already on the node (`local:import/x.qcow2`), or an image URL with its checksum",
            "anyOf": [
                { "type": "string", "examples": ["debian-12", "debian-13", "ubuntu-24.04"] },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["url"],
                    "properties": {
                        "url": { "type": "string", "pattern": "^https?://" },
                        "sha256": hex(64),
                        "sha512": hex(128)
                    }
                }
            ]
        })
    }
}

impl Vm {
    /// What [`super::GuestSpec`]'s default holds before `load_plan` has read the file.
    pub(super) fn placeholder() -> Self {
        Vm {
            vmid: 0,
            name: String::new(),
            node: None,
            image_key: default_image(),
            image: VmImage::default(),
            image_storage: default_local(),
            storage: default_storage(),
            snippets_storage: default_local(),
            disk_gb: default_disk_gb(),
            memory_mb: default_memory_mb(),
            cores: default_cores(),
            bridge: default_bridge(),
            vlan: None,
            ip: default_ip(),
            gateway: None,
            network: IpConfig::Dhcp,
            nameserver: None,
            user: default_user(),
            onboot: true,
            protection: false,
            ha: false,
            tags: Vec::new(),
        }
    }
}
