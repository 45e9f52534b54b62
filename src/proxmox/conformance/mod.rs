//! Conformance: the exact texts real Proxmox VE prints, each with the source line it comes
//! from, run through pxdeploy's parsers and classifiers. A text changed upstream fails here
//! first, not on a user's node.

mod calendar;
mod ha;
mod vzdump;
