//! The file status flags of an open file description (open(2)'s O_*
//! flags after creation), for files that keep their own.

use std::sync::atomic::{AtomicU32, Ordering};

/// The file status flags of an open file description, as F_GETFL shows
/// them and F_SETFL changes them.
#[derive(Debug)]
pub struct StatusFlags(AtomicU32);

impl StatusFlags {
    /// F_SETFL changes only these; the access mode and creation flags stay.
    const CHANGEABLE: u32 = (libc::O_APPEND | libc::O_NONBLOCK) as u32;

    /// Read-write, and O_NONBLOCK if asked for at creation.
    pub fn read_write(nonblock: bool) -> Self {
        let extra = if nonblock { libc::O_NONBLOCK as u32 } else { 0 };
        StatusFlags(AtomicU32::new(libc::O_RDWR as u32 | extra))
    }

    pub fn with(flags: u32) -> Self {
        StatusFlags(AtomicU32::new(flags))
    }

    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// F_SETFL.
    pub fn set(&self, flags: u32) {
        let old = self.get();
        self.0.store(
            (old & !Self::CHANGEABLE) | (flags & Self::CHANGEABLE),
            Ordering::Relaxed,
        );
    }

    pub fn nonblocking(&self) -> bool {
        self.get() & libc::O_NONBLOCK as u32 != 0
    }

    pub fn append(&self) -> bool {
        self.get() & libc::O_APPEND as u32 != 0
    }
}
