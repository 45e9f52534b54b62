//! What ships (issue 13): a binary that needs only the C library.

use std::process::Command;


/// What `ldd` may list: the kernel's vDSO, the dynamic loader, and glibc's own libraries —
/// with `libgcc_s`, GCC's unwinder, which Debian's and Ubuntu's `libc6` package depends on
/// (glibc loads it itself for thread cancellation), so it is wherever libc is.
fn c_library_object(name: &str) -> bool {
    name.starts_with("linux-vdso.so")
        || name.starts_with("ld-linux")
        || [
            "libc.so.6",
            "libm.so.6",
            "libgcc_s.so.1",
            "libpthread.so.0",
            "libdl.so.2",
            "librt.so.1",
        ]
        .contains(&name)
}

#[test]
fn the_binary_links_only_the_c_library() {
    // Debug and release link the same libraries (only the optimisation differs).
    let bin = env!("CARGO_BIN_EXE_pxdeploy");
    let out = Command::new("ldd").arg(bin).output().expect("ldd runs");
    assert!(out.status.success(), "ldd {bin} failed: {out:?}");
    let listing = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|path| path.rsplit('/').next().unwrap_or(path))
        .collect();
    assert!(names.contains(&"libc.so.6"), "{listing}");
    let other: Vec<&&str> = names.iter().filter(|n| !c_library_object(n)).collect();
    assert!(
        other.is_empty(),
        "pxdeploy needs more than the C library: {other:?}\n{listing}"
    );
}
