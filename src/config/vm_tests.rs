//! `[vm]`: defaults, every invalid case naming its key (exit 3), exactly one guest section
//! per target, the Taskfile-era variables, and containers and VMs mixed in targets.

use super::tests::{assert_config_error, Project, BASE};
use std::path::Path;

use super::*;

/// BASE with its `[container]` replaced by a `[vm]` section.
fn vm_base() -> String {
    BASE.replacen(
        "[container]\nvmid = 210\nhostname = \"myapp\"\nip = \"dhcp\"\n",
        "[vm]\nvmid = 220\nname = \"myapp\"\n",
        1,
    )
}

fn load_vm(extra: &str) -> Result<Config, crate::error::Error> {
    let text = vm_base().replacen(
        "name = \"myapp\"\n",
        &format!("name = \"myapp\"\n{extra}\n"),
        1,
    );
    Project::new(&text).load(&[])
}

fn vm_ok(extra: &str) -> Config {
    load_vm(extra).unwrap_or_else(|e| panic!("should be valid:\n{}", e.render()))
}

#[test]
fn a_vm_section_loads_with_the_spec_defaults() {
    let cfg = vm_ok("");
    assert_eq!(cfg.kind(), GuestKind::Vm);
    assert!(cfg.container().is_none());
    let v = cfg.vm().unwrap();
    assert_eq!((cfg.vmid(), cfg.hostname()), (220, "myapp"));
    assert_eq!(v.image, VmImage::Catalogue("debian-12".into()));
    assert_eq!(
        (
            v.image_storage.as_str(),
            v.storage.as_str(),
            v.snippets_storage.as_str()
        ),
        ("local", "local-lvm", "local")
    );
    assert_eq!((v.disk_gb, v.memory_mb, v.cores), (32, 4096, 2));
    assert_eq!((v.bridge.as_str(), v.vlan), ("vmbr0", None));
    assert_eq!(cfg.network(), &IpConfig::Dhcp);
    assert_eq!(v.user, "pxdeploy");
    assert!(v.onboot && !v.protection && !v.ha && v.tags.is_empty());
    assert_eq!(v.nameserver, None);
}

#[test]
fn every_key_of_the_issue_is_read() {
    let cfg = vm_ok(
        "node = \"auto\"\nimage = \"ubuntu-24.04\"\nimage_storage = \"images\"\nstorage = \"fast\"\nsnippets_storage = \"snips\"\ndisk_gb = 40\nmemory_mb = 2048\ncores = 4\nbridge = \"vmbr1\"\nvlan = 30\nip = \"10.0.0.5/24\"\ngateway = \"10.0.0.1\"\nnameserver = \"10.0.0.1 1.1.1.1\"\nuser = \"deploy\"\nonboot = false\nprotection = true\nha = true\ntags = [\"pxdeploy\", \"web-1\"]",
    );
    let v = cfg.vm().unwrap();
    assert_eq!(cfg.node(), Some("auto"));
    assert_eq!(v.image, VmImage::Catalogue("ubuntu-24.04".into()));
    assert_eq!(
        (
            v.image_storage.as_str(),
            cfg.storage(),
            v.snippets_storage.as_str()
        ),
        ("images", "fast", "snips")
    );
    assert_eq!((v.disk_gb, v.memory_mb, v.cores), (40, 2048, 4));
    assert_eq!((cfg.bridge(), cfg.vlan()), ("vmbr1", Some(30)));
    assert_eq!(cfg.network().ip(), "10.0.0.5/24");
    assert_eq!(cfg.network().gateway(), Some([10, 0, 0, 1].into()));
    assert_eq!(v.nameserver.as_deref(), Some("10.0.0.1 1.1.1.1"));
    assert_eq!(v.user, "deploy");
    assert!(!cfg.onboot() && cfg.protection() && cfg.ha());
    assert_eq!(cfg.tags(), ["pxdeploy", "web-1"]);
}

#[test]
fn a_static_ip_without_gateway_is_allowed_for_a_vm() {
    let cfg = vm_ok("ip = \"127.0.200.7/8\"");
    assert_eq!(cfg.network().static_addr(), Some([127, 0, 200, 7].into()));
    assert_eq!(cfg.network().gateway(), None);
}

#[test]
fn images_by_url_and_by_volume_id() {
    let sha512 = "ab".repeat(64);
    let cfg = vm_ok(&format!(
        "image = {{ url = \"https://example.org/x.qcow2\", sha512 = \"{}\" }}",
        sha512.to_uppercase()
    ));
    assert_eq!(
        cfg.vm().unwrap().image,
        VmImage::Url {
            url: "https://example.org/x.qcow2".into(),
            algorithm: ChecksumAlgorithm::Sha512,
            checksum: sha512,
        }
    );
    // Tests serve images from the loopback over plain http.
    for url in [
        "http://127.0.0.1:8080/x.qcow2",
        "http://127.9.9.9/x.img",
        "http://[::1]:81/x.raw",
    ] {
        let cfg = vm_ok(&format!(
            "image = {{ url = \"{url}\", sha256 = \"{}\" }}",
            "0".repeat(64)
        ));
        assert!(
            matches!(
                cfg.vm().unwrap().image,
                VmImage::Url {
                    algorithm: ChecksumAlgorithm::Sha256,
                    ..
                }
            ),
            "{url}"
        );
    }
    for volid in ["local:import/debian-12.qcow2", "nfs-1:iso/noble.img"] {
        let cfg = vm_ok(&format!("image = \"{volid}\""));
        assert_eq!(cfg.vm().unwrap().image, VmImage::Volume(volid.into()));
    }
}

#[test]
fn an_unknown_catalogue_name_lists_the_names() {
    let err = assert_config_error(load_vm("image = \"debian-11\""), "vm.image");
    assert!(
        err.message.contains(
            "\"debian-11\" is not in pxdeploy's catalogue (debian-12, debian-13, ubuntu-24.04)"
        ),
        "{}",
        err.message
    );
}

/// One test per invalid `[vm]` value: (extra lines => the key named).
macro_rules! invalid_vm {
    ($($name:ident: $extra:expr => $field:expr;)*) => {
        mod invalid_vm {
            use super::*;
            $(
                #[test]
                fn $name() {
                    assert_config_error(load_vm($extra), $field);
                }
            )*
        }
    };
}

invalid_vm! {
    vmid_below_100: "vmid = 5" => "vm.vmid";
    vlan_zero: "vlan = 0" => "vm.vlan";
    vlan_4095: "vlan = 4095" => "vm.vlan";
    tag_uppercase: "tags = [\"Web\"]" => "vm.tags";
    tag_leading_dash: "tags = [\"-web\"]" => "vm.tags";
    tag_semicolon: "tags = [\"a;b\"]" => "vm.tags";
    gateway_with_dhcp: "gateway = \"10.0.0.1\"" => "vm.gateway";
    gateway_outside: "ip = \"10.0.0.5/24\"\ngateway = \"10.0.1.1\"" => "vm.gateway";
    ip_bad: "ip = \"10.0.0.5\"" => "vm.ip";
    nameserver_word: "nameserver = \"dns.lan\"" => "vm.nameserver";
    user_root: "user = \"root\"" => "vm.user";
    user_shell: "user = \"a;b\"" => "vm.user";
    storage_bad: "storage = \"Local\"" => "vm.storage";
    snippets_storage_bad: "snippets_storage = \"a b\"" => "vm.snippets_storage";
    image_storage_bad: "image_storage = \"\"" => "vm.image_storage";
    disk_zero: "disk_gb = 0" => "vm.disk_gb";
    memory_small: "memory_mb = 8" => "vm.memory_mb";
    cores_zero: "cores = 0" => "vm.cores";
    bridge_bad: "bridge = \"vmbr0;x\"" => "vm.bridge";
    node_bad: "node = \"a b\"" => "vm.node";
    url_http: "image = { url = \"http://example.org/x.qcow2\", sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\" }" => "vm.image.url";
    url_ftp: "image = { url = \"ftp://example.org/x.qcow2\", sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\" }" => "vm.image.url";
    url_http_lookalike: "image = { url = \"http://127.0.0.1.evil.example/x\", sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\" }" => "vm.image.url";
    url_without_checksum: "image = { url = \"https://example.org/x.qcow2\" }" => "vm.image";
    url_two_checksums: "image = { url = \"https://e.org/x\", sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\", sha512 = \"00\" }" => "vm.image";
    sha256_short: "image = { url = \"https://e.org/x\", sha256 = \"abc\" }" => "vm.image.sha256";
    sha512_of_sha256_length: "image = { url = \"https://e.org/x\", sha512 = \"0000000000000000000000000000000000000000000000000000000000000000\" }" => "vm.image.sha512";
    sha256_not_hex: "image = { url = \"https://e.org/x\", sha256 = \"zz00000000000000000000000000000000000000000000000000000000000000\" }" => "vm.image.sha256";
    url_unknown_key: "image = { url = \"https://e.org/x\", md5 = \"00\" }" => "md5";
    volume_other_content: "image = \"local:vztmpl/x.tar.zst\"" => "vm.image";
    volume_path: "image = \"local:import/../x.qcow2\"" => "vm.image";
    unknown_key: "hostname = \"myapp\"" => "hostname";
    container_key_in_vm: "template = \"debian-12-standard\"" => "template";
}

#[test]
fn a_bad_vm_name_names_the_key() {
    let text = vm_base().replacen("name = \"myapp\"", "name = \"my_app\"", 1);
    assert_config_error(Project::new(&text).load(&[]), "vm.name");
}

#[test]
fn both_sections_or_neither_is_exit_3() {
    let both = format!("{BASE}\n[vm]\nvmid = 220\nname = \"myapp\"\n");
    let err = assert_config_error(Project::new(&both).load(&[]), "vm");
    assert!(
        err.message.contains("both [container] and [vm]"),
        "{}",
        err.message
    );
    let neither = BASE.replacen(
        "[container]\nvmid = 210\nhostname = \"myapp\"\nip = \"dhcp\"\n",
        "",
        1,
    );
    let err = assert_config_error(Project::new(&neither).load(&[]), "container");
    assert!(
        err.message.contains("neither [container] nor [vm]"),
        "{}",
        err.message
    );
}

#[test]
fn taskfile_variables_set_the_vm() {
    let cfg = Project::new(&vm_base())
        .load(&[
            ("PROXMOX_CONTAINER_ID", "321"),
            ("PROXMOX_CONTAINER_IP", "10.1.2.3/16"),
        ])
        .unwrap();
    assert_eq!(cfg.vmid(), 321);
    assert_eq!(cfg.network().ip(), "10.1.2.3/16");
    let err = Project::new(&vm_base())
        .load(&[("PROXMOX_CONTAINER_ID", "x")])
        .unwrap_err();
    assert!(
        err.message.contains("vm.vmid (from PROXMOX_CONTAINER_ID)")
            && err.message.contains("not a VM id"),
        "{}",
        err.message
    );
}

#[test]
fn targets_mix_containers_and_vms_and_name_the_target() {
    let body = BASE.replacen(
        "[container]\nvmid = 210\nhostname = \"myapp\"\nip = \"dhcp\"\n",
        "",
        1,
    );
    let text = format!("{body}[targets.ct.container]\nvmid = 210\nhostname = \"myapp\"\n[targets.vm.vm]\nvmid = 220\nname = \"myapp\"\n");
    let project = Project::new(&text);
    let plan = parse_plan(&text, &project.path(), &|_| None, false).unwrap();
    let kinds: Vec<_> = plan
        .targets
        .iter()
        .map(|(_, c)| (c.kind(), c.vmid()))
        .collect();
    assert_eq!(kinds, [(GuestKind::Container, 210), (GuestKind::Vm, 220)]);
    // A target that adds [vm] to a top-level [container] has both.
    let text = format!("{BASE}[targets.prod.vm]\nvmid = 220\nname = \"myapp\"\n");
    let project = Project::new(&text);
    let err = parse_plan(&text, &project.path(), &|_| None, false).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.message.contains("targets.prod.vm")
            && err.message.contains("both [container] and [vm]"),
        "{}",
        err.message
    );
}

#[test]
fn the_container_gets_vlan_nameserver_protection_and_tags() {
    let text = BASE.replacen(
        "ip = \"dhcp\"\n",
        "ip = \"dhcp\"\nvlan = 12\nnameserver = \"9.9.9.9\"\nprotection = true\ntags = [\"pxdeploy\"]\n",
        1,
    );
    let cfg = Project::new(&text).load(&[]).unwrap();
    let c = cfg.container().unwrap();
    assert_eq!(
        (c.vlan, c.nameserver.as_deref(), c.protection),
        (Some(12), Some("9.9.9.9"), true)
    );
    assert_eq!(cfg.tags(), ["pxdeploy"]);
    for (extra, field) in [
        ("vlan = 5000", "container.vlan"),
        ("tags = [\"A\"]", "container.tags"),
        ("nameserver = \"x\"", "container.nameserver"),
    ] {
        let text = BASE.replacen("ip = \"dhcp\"\n", &format!("ip = \"dhcp\"\n{extra}\n"), 1);
        assert_config_error(Project::new(&text).load(&[]), field);
    }
}

/// Every key of `[vm]`: each is written in examples/pxdeploy-vm.toml (which loads) and
/// documented in docs/configuration.md.
const EVERY_VM_KEY: &[&str] = &[
    "vmid",
    "name",
    "node",
    "image",
    "image_storage",
    "storage",
    "snippets_storage",
    "disk_gb",
    "memory_mb",
    "cores",
    "bridge",
    "vlan",
    "ip",
    "gateway",
    "nameserver",
    "user",
    "onboot",
    "protection",
    "ha",
    "tags",
];

#[test]
fn the_shipped_vm_example_is_valid_and_complete() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pxdeploy-vm.toml");
    let cfg = load_from(&path, &|_| None).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(cfg.kind(), GuestKind::Vm);
    assert_eq!(
        cfg.vm().unwrap().image,
        VmImage::Catalogue("debian-12".into())
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let section = text
        .split("\n[vm]\n")
        .nth(1)
        .unwrap()
        .split("\n[app]")
        .next()
        .unwrap();
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .unwrap();
    let vm_docs = docs
        .split("## `[vm]`")
        .nth(1)
        .expect("docs/configuration.md has a `[vm]` section");
    for key in EVERY_VM_KEY {
        assert!(
            section.lines().any(|l| l
                .trim_start_matches(['#', ' '])
                .starts_with(&format!("{key} ="))),
            "examples/pxdeploy-vm.toml does not show `{key}`"
        );
        assert!(
            vm_docs.contains(&format!("`{key}`")),
            "docs/configuration.md's [vm] section does not describe `{key}`"
        );
    }
}
