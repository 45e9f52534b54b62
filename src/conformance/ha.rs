//! HA manager and container lifecycle texts (pve-ha-manager b71218f279d5, pve-container
//! 94f558522ef6, pve-manager 14a22df35955, pve-guest-common 4a8f6cbf78e1).

use crate::cluster::ha::{self, Verdict, Wanted};
use crate::proxmox::pct::{self, Said};
use crate::proxmox::vzdump;

/// `ha-manager status` as printed by a PVE 8/9 node with one managed container.
fn status_with(state: &str) -> String {
    format!(
        "quorum OK\n\
         master pve1 (active, Mon Dec  7 14:17:20 2026)\n\
         lrm pve1 (active, Mon Dec  7 14:17:20 2026)\n\
         service ct:210 (pve1, {state})\n"
    )
}

#[test]
fn a_start_or_stop_of_an_ha_container_only_queues_a_request() {
    // pve-container src/PVE/API2/LXC/Status.pm:171 (pct start)
    let start = "Requesting HA start for CT 210\n";
    // pve-container src/PVE/API2/LXC/Status.pm:274 (pct stop) and :369 (pct shutdown)
    let stop = "Requesting HA stop for CT 210\n";
    assert_eq!(ha::queued(start, 210), Some(Wanted::Started));
    assert_eq!(ha::queued(stop, 210), Some(Wanted::Stopped));
    assert_eq!(ha::queued(start, 21), None);
    // a plain start's task output says nothing of the kind
    assert_eq!(
        ha::queued(
            "WARN: Systemd 252 detected. You may need to enable nesting.\n",
            210
        ),
        None
    );
}

#[test]
fn every_verbose_service_state_is_read_and_only_the_wanted_one_ends_the_wait() {
    // pve-ha-manager src/PVE/API2/HA/Status.pm:331 (`"$sid ($node, $data->{state})"`),
    // printed by src/PVE/CLI/ha_manager.pm:66 (`"$e->{type} $e->{status}\n"`).
    // The states: src/PVE/HA/Tools.pm:216-251 (get_verbose_service_state): 227 `queued`,
    // 236/244 `starting`, 242 `stopping`, 247 `clearing error flag`; the others are the
    // service state itself (src/PVE/HA/Manager.pm: `request_stop`, `stopped`, `started`,
    // `error`, `migrate`, `relocate`, `fence`, `recovery`, `freeze`).
    let pending_start = [
        "queued",
        "starting",
        "request_stop",
        "stopping",
        "stopped",
        "migrate",
        "fence",
        "recovery",
        "freeze",
        "clearing error flag",
    ];
    for state in pending_start {
        let now = ha::service(&status_with(state), 210);
        assert_eq!(now, Some(("pve1".into(), state.into())), "{state}");
        assert!(
            matches!(
                ha::verdict((210, false), Wanted::Started, now.as_ref(), false),
                Verdict::Pending
            ),
            "{state}"
        );
    }
    let now = ha::service(&status_with("started"), 210);
    assert!(matches!(
        ha::verdict((210, false), Wanted::Started, now.as_ref(), false),
        Verdict::Settled(node) if node == "pve1"
    ));
    assert!(matches!(
        ha::verdict((210, false), Wanted::Stopped, now.as_ref(), false),
        Verdict::Pending
    ));
    let now = ha::service(&status_with("stopped"), 210);
    assert!(matches!(
        ha::verdict((210, false), Wanted::Stopped, now.as_ref(), false),
        Verdict::Settled(_)
    ));
}

#[test]
fn a_failed_ha_start_is_an_error_that_names_the_state() {
    // pve-ha-manager src/PVE/HA/Tools.pm:246-249: `error` is shown as it is (the manager gave
    // up: src/PVE/HA/Manager.pm next_state_error, cleared only by `disabled`).
    let now = ha::service(&status_with("error"), 210);
    let Verdict::Failed(err) = ha::verdict((210, false), Wanted::Started, now.as_ref(), false)
    else {
        panic!("`error` must end the wait");
    };
    assert_eq!(err.exit_code(), 5);
    let text = err.render();
    assert!(
        text.contains("container 210 did not start: the HA manager shows it in state `error`"),
        "{text}"
    );
    assert!(text.contains("service ct:210 (pve1, error)"), "{text}");
    assert!(
        text.contains("ha-manager set ct:210 --state disabled"),
        "{text}"
    );
    // the timeout names the last state seen
    let now = ha::service(&status_with("starting"), 210);
    let Verdict::Failed(err) = ha::verdict((210, false), Wanted::Started, now.as_ref(), true)
    else {
        panic!("the deadline must end the wait");
    };
    assert!(
        err.render().contains("still shows it in state `starting`"),
        "{}",
        err.render()
    );
    // gone from the HA manager meanwhile
    let Verdict::Failed(err) = ha::verdict((210, false), Wanted::Stopped, None, false) else {
        panic!("an unmanaged container must end the wait");
    };
    assert!(err.render().contains("not managed by the HA manager"));
    // a VM is named as one, with its `vm:` resource id
    let Verdict::Failed(err) = ha::verdict((220, true), Wanted::Stopped, None, false) else {
        panic!("an unmanaged VM must end the wait");
    };
    assert!(
        err.message.starts_with("VM 220 did not stop"),
        "{}",
        err.render()
    );
    assert!(
        err.render().contains("ha-manager remove vm:220"),
        "{}",
        err.render()
    );
}

#[test]
fn the_lifecycle_refusals_are_told_apart() {
    // pve-container src/PVE/API2/LXC/Status.pm:162
    assert_eq!(
        pct::said("CT 210 already running\n"),
        Some(Said::AlreadyRunning)
    );
    // pve-container src/PVE/API2/LXC/Status.pm:264 (stop), :363 (shutdown)
    assert_eq!(pct::said("CT 210 not running\n"), Some(Said::NotRunning));
    // pve-container src/PVE/API2/LXC/Status.pm:542 (reboot of a stopped CT)
    assert_eq!(pct::said("VM 210 not running\n"), Some(Said::NotRunning));
    // pve-guest-common src/PVE/AbstractConfig.pm:339 (check_lock)
    assert_eq!(
        pct::said("CT is locked (backup)\n"),
        Some(Said::Locked("backup".into()))
    );
    // pve-container src/PVE/LXC.pm:3121: a reboot of a locked CT stops it, then the start is
    // refused by the pre-start hook (src/lxc-pve-prestart-hook:59-60) with this generic text,
    // which must not pass for "not running" (that would start it again) or name a lock.
    assert_eq!(pct::said("startup for container '210' failed\n"), None);
}

#[test]
fn the_lock_that_a_reboot_ignores_is_read_from_pct_config() {
    // pve-container src/PVE/CLI/pct.pm:1082-1092 (`pct config`: sorted `key: value` lines);
    // vzdump sets `lock: backup` (pve-container src/PVE/VZDump/LXC.pm:229).
    let config = "arch: amd64\nhostname: app\nlock: backup\nmemory: 4096\nrootfs: local-lvm:vm-210-disk-0,size=16G\n";
    assert_eq!(pct::parse_config(config).lock(), Some("backup"));
    assert_eq!(
        pct::parse_config("arch: amd64\nhostname: app\n").lock(),
        None
    );
}

#[test]
fn vzdump_refuses_stop_mode_for_an_ha_container() {
    // pve-manager PVE/VZDump.pm:939-945 (the die) through :1340 (`Backup of VM $vmid failed
    // - $err`), task output on stdout, then `job errors` (:1491) on stderr.
    let stdout = "INFO: starting new backup job: vzdump 210 --mode stop --storage local\n\
                  ERROR: Backup of VM 210 failed - Cannot execute a backup with stop mode on a HA managed and enabled Service. Use snapshot mode or disable the Service.\n\
                  INFO: Failed at 2026-12-07 14:17:20\n\
                  INFO: Backup job finished with errors\n";
    let report = vzdump::parse_output(stdout, "local");
    assert_eq!(report.archive, None);
    let reason = report.failure.expect("the failure's reason");
    assert!(ha::refuses_stop_mode(&reason), "{reason}");
    assert!(!ha::refuses_stop_mode("CT is locked (backup)"));
}
