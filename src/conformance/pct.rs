//! `pct status|config|start|stop|shutdown|reboot|exec|create|destroy`: the messages
//! pxdeploy classifies ([`crate::proxmox::pct::said`]) and the formats it parses.

use super::{sim_says, Real};
use crate::proxmox::pct::{self, CtState, Said};
use crate::proxmox::{purge, task_warnings};

pub(super) const STATUS_RUNNING: Real =
    Real::new("status: running\n", "pve-container src/PVE/CLI/pct.pm:81").sim(
        "pct_config.py",
        "out(f\"status: {'running' if info else 'stopped'}\")",
    );
pub(super) const MISSING: Real = Real::new(
    "Configuration file 'nodes/pve/lxc/210.conf' does not exist\n",
    "pve-guest-common src/PVE/AbstractConfig.pm:57",
)
.sim(
    "config.py",
    "f\"Configuration file '{conf_rel(vmid, kind)}' does not exist\"",
);
pub(super) const ALREADY_RUNNING: Real = Real::new(
    "CT 210 already running\n",
    "pve-container src/PVE/API2/LXC/Status.pm:162",
)
.sim("pct_lifecycle.py", "f\"CT {vmid} already running\"");
pub(super) const NOT_RUNNING: Real = Real::new(
    "CT 210 not running\n",
    "pve-container src/PVE/API2/LXC/Status.pm:264",
)
.sim("pct_lifecycle.py", "f\"CT {vmid} not running\"");
pub(super) const REBOOT_NOT_RUNNING: Real = Real::new(
    "VM 210 not running\n",
    "pve-container src/PVE/API2/LXC/Status.pm:542",
)
.sim("pct_lifecycle.py", "f\"VM {vmid} not running\"");
pub(super) const LOCKED: Real = Real::new(
    "CT is locked (backup)\n",
    "pve-guest-common src/PVE/AbstractConfig.pm:339",
)
.sim("tasks.py", "f\"CT is locked ({keys['lock']})\"");
pub(super) const PROTECTED: Real = Real::new(
    "can't remove CT 210 - protection mode enabled\n",
    "pve-container src/PVE/API2/LXC.pm:859",
)
.sim(
    "pct_lifecycle.py",
    "f\"can't remove CT {vmid} - protection mode enabled\"",
);
pub(super) const EXEC_NOT_RUNNING: Real = Real::new(
    "container '210' not running!\n",
    "pve-container src/PVE/CLI/pct.pm:244",
)
.sim("pct_exec.py", "f\"container '{vmid}' not running!\"");
pub(super) const ALREADY_EXISTS: Real = Real::new(
    "CT 210 already exists on node 'pve'\n",
    "pve-cluster src/PVE/Cluster.pm:795",
)
.sim(
    "pct_lifecycle.py",
    "{vmid} already exists on node '{own[1]}'",
);
pub(super) const CREATE_FAILED: Real = Real::new(
    "unable to create CT 210 - can't find file 'local:vztmpl/x.tar.zst'\n",
    "pve-container src/PVE/API2/LXC.pm:417",
)
.sim("pct_lifecycle.py", "f\"unable to create CT {vmid} - {e}\"");
/// Inside the create task (stderr goes to stdout there), then the task's summary on stderr.
pub(super) const NESTING_WARNING: Real = Real::new(
    "WARN: Systemd 252 detected. You may need to enable nesting.\n",
    "pve-container src/PVE/LXC/Setup/Base.pm:675",
)
.sim("tasks.py", "You may need to enable nesting.");
pub(super) const WARNINGS_SUMMARY: Real = Real::new(
    "Task finished with 1 warning(s)!\n",
    "pve-common src/PVE/RESTEnvironment.pm:497",
)
.sim(
    "tasks.py",
    "f\"Task finished with {t.warnings} warning(s)!\"",
);
/// Not classified: pxdeploy stops the container first and shows this as the error.
pub(super) const DESTROY_RUNNING: Real = Real::new(
    "unable to destroy CT 210 - container is running\n",
    "pve-container src/PVE/API2/LXC.pm:879",
)
.sim(
    "pct_lifecycle.py",
    "f\"unable to destroy CT {vmid} - container is running\"",
);
pub(super) const PURGING: Real = Real::new(
    "purging CT 210 from related configurations..\n",
    "pve-container src/PVE/API2/LXC.pm:909",
)
.sim(
    "pct_lifecycle.py",
    "f\"purging CT {vmid} from related configurations..\"",
);
pub(super) const HA_REMOVED: Real = Real::new(
    "NOTE: removed CT 210 from HA resource configuration.\n",
    "pve-container src/PVE/API2/LXC.pm:915",
)
.sim(
    "pct_lifecycle.py",
    "f\"NOTE: removed CT {vmid} from HA resource configuration.\"",
);
pub(super) const HA_WITHOUT_PURGE: Real = Real::new(
    "unable to remove CT 210 - used in HA resources and purge parameter not set.\n",
    "pve-container src/PVE/API2/LXC.pm:866",
)
.sim(
    "pct_lifecycle.py",
    "f\"unable to remove CT {vmid} - used in HA resources and purge parameter not set.\"",
);
/// The PATH every `pct exec` command runs with (`$ENV{'PATH'} = …` in the CLI handler, kept
/// by `lxc-attach --keep-env`): nothing under `/usr/local` is found by name.
pub(super) const EXEC_PATH: Real = Real::new(
    "/sbin:/bin:/usr/sbin:/usr/bin",
    "pve-common src/PVE/CLIHandler.pm:688",
)
.sim(
    "pct_exec.py",
    "env[\"PATH\"] = \"/sbin:/bin:/usr/sbin:/usr/bin\"",
);
/// `pct config`: keys sorted, then the raw `lxc.*` lines (`print "$lxc_opt->[0]: …"`).
pub(super) const CONFIG: Real = Real::new(
    "arch: amd64\ncores: 2\nfeatures: nesting=1,keyctl=1\nhostname: app\nmemory: 4096\nnet0: name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:2E:3F:40,ip=dhcp,type=veth\nonboot: 1\nostype: debian\nprotection: 1\nrootfs: local-lvm:vm-210-disk-0,size=16G\nswap: 512\nunprivileged: 1\nlxc.apparmor.profile: unconfined\n",
    "pve-container src/PVE/CLI/pct.pm:1090",
);

pub(super) const ALL: &[Real] = &[
    STATUS_RUNNING,
    MISSING,
    ALREADY_RUNNING,
    NOT_RUNNING,
    REBOOT_NOT_RUNNING,
    LOCKED,
    PROTECTED,
    EXEC_NOT_RUNNING,
    ALREADY_EXISTS,
    CREATE_FAILED,
    NESTING_WARNING,
    WARNINGS_SUMMARY,
    DESTROY_RUNNING,
    PURGING,
    HA_REMOVED,
    HA_WITHOUT_PURGE,
    EXEC_PATH,
    CONFIG,
];

#[test]
fn status_and_refusals_are_classified() {
    assert_eq!(
        pct::parse_status(STATUS_RUNNING.text),
        Some(CtState::Running)
    );
    assert_eq!(
        pct::parse_status(&STATUS_RUNNING.text.replace("running", "stopped")),
        Some(CtState::Stopped)
    );
    for (real, want) in [
        (MISSING, Some(Said::Missing)),
        (ALREADY_RUNNING, Some(Said::AlreadyRunning)),
        (NOT_RUNNING, Some(Said::NotRunning)),
        (REBOOT_NOT_RUNNING, Some(Said::NotRunning)),
        (LOCKED, Some(Said::Locked("backup".into()))),
        (PROTECTED, Some(Said::Protected)),
        (EXEC_NOT_RUNNING, Some(Said::ExecNotRunning)),
        (ALREADY_EXISTS, Some(Said::AlreadyExists)),
        (
            CREATE_FAILED,
            Some(Said::CreateFailed(
                "can't find file 'local:vztmpl/x.tar.zst'".into(),
            )),
        ),
        (DESTROY_RUNNING, None),
        (HA_WITHOUT_PURGE, None),
    ] {
        assert_eq!(
            pct::said(real.text),
            want,
            "{} ({})",
            real.text,
            real.source
        );
        sim_says(&real);
    }
}

#[test]
fn task_warnings_are_counted() {
    let w = task_warnings(NESTING_WARNING.text, WARNINGS_SUMMARY.text);
    assert_eq!(w.count, 1);
    assert_eq!(
        w.lines,
        ["Systemd 252 detected. You may need to enable nesting."]
    );
}

#[test]
fn the_destroy_tasks_ha_note_is_read() {
    let out = format!("{}{}", PURGING.text, HA_REMOVED.text);
    assert!(purge::ha_removed(&out, 210));
    assert!(!purge::ha_removed(PURGING.text, 210));
}

#[test]
fn exec_path_has_no_usr_local() {
    assert!(!EXEC_PATH
        .text
        .split(':')
        .any(|d| d.starts_with("/usr/local")));
    sim_says(&EXEC_PATH);
}

#[test]
fn the_config_is_parsed() {
    let c = pct::parse_config(CONFIG.text);
    assert_eq!(c.hostname(), Some("app"));
    assert_eq!(c.memory_mb(), Some(4096));
    assert_eq!(c.swap_mb(), Some(512));
    assert_eq!(c.cores(), Some(2));
    assert!(c.onboot());
    assert!(c.protection());
    let net = c.net0().expect("net0");
    assert_eq!(net.all.get("firewall").map(String::as_str), Some("1"));
    assert_eq!(net.all.get("bridge").map(String::as_str), Some("vmbr0"));
    assert_eq!(
        c.rootfs().map(|r| r.volume),
        Some("local-lvm:vm-210-disk-0".to_string())
    );
    assert_eq!(
        c.lxc,
        [("lxc.apparmor.profile".to_string(), "unconfined".to_string())]
    );
}
