//! Conformance: the exact texts real Proxmox prints (each with the source line it comes
//! from), run through pxdeploy's parsers.

mod calendar;
mod vzdump;
