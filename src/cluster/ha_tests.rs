//! Tests of `cluster::ha`'s builders and readers.

use super::*;

#[test]
fn service_line_of_both_status_formats() {
    let old = "quorum OK\nmaster pve1 (active, Wed Dec 18 19:56:46 2024)\nlrm pve1 (active, Wed Dec 18 19:56:46 2024)\nservice ct:100 (pve1, started)\nservice ct:1001 (pve2, stopping)\n";
    assert_eq!(service(old, 100), Some(("pve1".into(), "started".into())));
    assert_eq!(service(old, 1001), Some(("pve2".into(), "stopping".into())));
    assert_eq!(service(old, 10), None);
    let new = "quorum OK\nmaster pve1 (active, Wed Dec 18 19:56:46 2024)\nfencing armed (CRM watchdog active)\nlrm pve1 (active, watchdog active, Wed Dec 18 19:56:46 2024)\nservice ct:100 (pve1, request_stop)\n";
    assert_eq!(
        service(new, 100),
        Some(("pve1".into(), "request_stop".into()))
    );
    assert_eq!(service("quorum OK\n", 100), None);
}

#[test]
fn a_vm_is_vm_colon_a_container_ct_colon() {
    assert_eq!(add(220, true), "ha-manager add vm:220 --state started");
    assert_eq!(add(210, false), "ha-manager add ct:210 --state started");
    assert_eq!(
        set(220, true, Wanted::Stopped),
        "ha-manager set vm:220 --state stopped"
    );
    assert_eq!(remove(220, true), "ha-manager remove vm:220");
}

#[test]
fn a_vms_service_and_request_are_read_too() {
    let status = "quorum OK\nservice vm:220 (pve1, started)\nservice ct:210 (pve2, stopped)\n";
    assert_eq!(
        service(status, 220),
        Some(("pve1".into(), "started".into()))
    );
    assert_eq!(
        service(status, 210),
        Some(("pve2".into(), "stopped".into()))
    );
    assert_eq!(
        queued("Requesting HA start for VM 220\n", 220),
        Some(Wanted::Started)
    );
}

#[test]
fn control_characters_from_the_node_are_escaped() {
    let hostile = "service ct:100 (pve1\x1b[2J, started\x07)\n";
    assert_eq!(
        service(hostile, 100),
        Some(("pve1\\x1b[2J".into(), "started\\x07".into()))
    );
}

#[test]
fn the_storage_warning_names_the_guest_as_it_is() {
    assert_eq!(
        storage_warning(Some(false), "local-lvm", 220, true).as_deref(),
        Some("`ha = true`, but storage `local-lvm` is not shared: if its node fails, the HA manager cannot start VM 220 on another node")
    );
    assert!(storage_warning(None, "x", 210, false)
        .unwrap()
        .ends_with("shared storage is what lets the HA manager recover container 210"));
    assert_eq!(storage_warning(Some(true), "ceph", 220, true), None);
}
