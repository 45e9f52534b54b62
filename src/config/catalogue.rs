//! The built-in catalogue of cloud images a `[vm] image` may name.

/// The names `[vm] image` accepts, in the order messages list them.
pub const NAMES: &[&str] = &["debian-12", "debian-13", "ubuntu-24.04"];
