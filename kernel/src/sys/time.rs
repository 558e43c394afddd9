//! The host's clocks, which the sandbox's clocks read.

use nix::errno::Errno;
use nix::time::ClockId;

use crate::abi::structs::Timespec;

fn timespec(ts: nix::sys::time::TimeSpec) -> Timespec {
    Timespec {
        tv_sec: ts.tv_sec(),
        tv_nsec: ts.tv_nsec(),
    }
}

/// The host clock `clock` now.
pub fn clock_gettime(clock: libc::clockid_t) -> Result<Timespec, Errno> {
    nix::time::clock_gettime(ClockId::from_raw(clock)).map(timespec)
}

/// The resolution of the host clock `clock`.
pub fn clock_getres(clock: libc::clockid_t) -> Result<Timespec, Errno> {
    nix::time::clock_getres(ClockId::from_raw(clock)).map(timespec)
}
