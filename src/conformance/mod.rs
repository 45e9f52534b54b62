//! Conformance: the exact texts a real Proxmox VE node prints that pxdeploy depends on,
//! each with the source line that prints it, run through pxdeploy's own parsers and
//! classifiers.
//!
//! pxdeploy's integration tests run against a simulator (`sim/`), so a simulator that drifts
//! from real Proxmox would let pxdeploy drift with it without any test failing. This module
//! is the anchor on the other side: every [`Real`] holds a text as the real source prints it
//! (read at the commits of [`COMMITS`], see `docs/proxmox-compatibility.md`), the file and
//! line that prints it, and, where the simulator prints the same text, the fragment of the
//! simulator's code that does. The tests check that
//!
//! - pxdeploy's parser or classifier reads the real text as pxdeploy needs it, and
//! - the simulator's code still holds its fragment ([`sim_says`]): changing a text in the
//!   simulator fails here, and the change has to be argued against the real source.
//!
//! One file per area. Texts are given with a sample vmid (210), node (`pve`) and storage;
//! where the real code interpolates a value, the sample stands for it.

mod calendar;
mod firewall;
mod ha;
mod pct;
mod pveam;
mod pvesh;
mod pvesm;
mod pveversion;
mod vzdump;

/// The commits of the real sources the texts were read at (the audit of 2026-12-07,
/// docs/proxmox-compatibility.md).
pub(crate) const COMMITS: &[(&str, &str)] = &[
    ("proxmox/pve-container", "94f558522ef6"),
    ("proxmox/pve-manager", "14a22df35955"),
    ("proxmox/pve-common", "f665029eac78"),
    ("proxmox/pve-guest-common", "4a8f6cbf78e1"),
    ("proxmox/pve-storage", "0c56bad8b2a7"),
    ("proxmox/pve-ha-manager", "b71218f279d5"),
    ("proxmox/pve-firewall", "6f1311f349da"),
    ("proxmox/pve-cluster", "7091d92e5949"),
    ("proxmox/proxmox (proxmox-time)", "214dbdf9a5a8"),
];

/// One text as a real node prints it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Real {
    /// Exactly as printed, with sample values.
    pub text: &'static str,
    /// `<repository> <path>:<line>` of the code that prints it, at [`COMMITS`].
    pub source: &'static str,
    /// The simulator's code that prints it: a file of `sim/pvesim/` and a fragment of it.
    pub sim: Option<(&'static str, &'static str)>,
}

impl Real {
    pub(crate) const fn new(text: &'static str, source: &'static str) -> Self {
        Real {
            text,
            source,
            sim: None,
        }
    }

    pub(crate) const fn sim(self, file: &'static str, fragment: &'static str) -> Self {
        Real {
            sim: Some((file, fragment)),
            ..self
        }
    }
}

/// The simulator still prints `real` the way it did when the text was pinned.
#[track_caller]
pub(crate) fn sim_says(real: &Real) {
    let Some((file, fragment)) = real.sim else {
        return;
    };
    let path = format!("{}/sim/pvesim/{file}", env!("CARGO_MANIFEST_DIR"));
    let code = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        code.contains(fragment),
        "the simulator ({path}) no longer holds `{fragment}`, which prints the real text {:?} ({}): follow the real source, not the other way round",
        real.text,
        real.source
    );
}

#[test]
fn every_source_names_a_pinned_repository() {
    let all = [
        pct::ALL,
        pveam::ALL,
        pvesm::ALL,
        pvesh::ALL,
        firewall::ALL,
        pveversion::ALL,
    ];
    for real in all.iter().flat_map(|a| a.iter()) {
        let repo = real.source.split_whitespace().next().unwrap_or_default();
        assert!(
            COMMITS.iter().any(|(r, _)| r.ends_with(repo)),
            "{:?}: {repo} has no pinned commit",
            real.text
        );
        assert!(real.source.contains(':'), "{}: no line number", real.source);
        sim_says(real);
    }
}
