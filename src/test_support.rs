//! Helpers shared by the unit tests of several modules.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A `sync` that logs instead of syncing, first on a `PATH`: the host scripts' order of
/// writes, flushes and renames made visible.
pub(crate) struct SyncShim {
    bin: tempfile::TempDir,
    /// `PATH` with the shim's folder first.
    pub path: String,
}

impl SyncShim {
    /// One line per call: its arguments, ` | `, and what the watched file held then.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.bin.path().join("log")).unwrap_or_default()
    }
}

/// A [`SyncShim`] that logs what `watched` (relative: to the caller's folder) held at each
/// call.
pub(crate) fn sync_shim(watched: &Path) -> SyncShim {
    let bin = tempfile::tempdir().unwrap();
    let shim = bin.path().join("sync");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nprintf '%s | %s\\n' \"$*\" \"$(cat {} 2>/dev/null)\" >> {}\n",
            crate::remote::quote::quote(&watched.to_string_lossy()),
            crate::remote::quote::quote(&bin.path().join("log").to_string_lossy()),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = path_with(bin.path());
    SyncShim { bin, path }
}

/// This process's `PATH` with `dir` first.
pub(crate) fn path_with(dir: &Path) -> String {
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}
