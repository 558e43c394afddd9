//! Host processes: a pidfd to watch one end, and ending this one at once.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// Opens a pidfd of process `pid` (pidfd_open(2), no flags): an fd that
/// polls readable once that process has ended. The fd is close-on-exec and
/// owned by the caller alone. Fails with ESRCH if there is no such process.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and touches no memory of
    // ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(fd)?;
    let fd = RawFd::try_from(fd).expect("an fd number fits in an int");
    // SAFETY: pidfd_open has just made this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Ends the whole process with `status` at once (_exit(2)): no atexit
/// handlers, no destructors, no flush of stdio buffers, whatever the other
/// threads are doing. For a thread that must end the process while others
/// still run, where `std::process::exit` would run the C library's exit
/// handlers under their feet.
pub fn exit_immediately(status: i32) -> ! {
    // SAFETY: _exit only ends the process; it reads and frees nothing.
    unsafe { libc::_exit(status) }
}
