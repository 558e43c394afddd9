//! Who a process is: the ids its permission checks use.

/// The identity a process runs with, as the OCI spec's `process.user` gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}
