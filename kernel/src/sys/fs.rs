//! Host file calls nix does not wrap as the kernel makes them: on the
//! kernel's own O_PATH fds, with an empty path (AT_EMPTY_PATH), so that no
//! name is resolved on the host; and fstatfs into the application's
//! `struct statfs`.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use crate::abi::structs::{Statfs, Timespec};

fn check(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// chmod of the file `fd` names (fchmodat2 with AT_EMPTY_PATH, which works
/// on O_PATH fds where fchmod does not).
pub fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    // SAFETY: fchmodat2 reads the empty NUL-terminated path; `fd` is open
    // for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            fd.as_raw_fd(),
            c"".as_ptr(),
            mode,
            libc::AT_EMPTY_PATH,
        )
    })
}

/// utimensat of the file `fd` names, with AT_EMPTY_PATH: `times` are the
/// access and modification times (UTIME_NOW and UTIME_OMIT as usual).
pub fn set_times_fd(fd: BorrowedFd<'_>, times: &[Timespec; 2]) -> Result<(), Errno> {
    let host = times.map(|t| libc::timespec {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec,
    });
    // SAFETY: utimensat reads the empty path and two timespecs, all valid
    // for the call; `fd` is open for it.
    check(unsafe { libc::utimensat(fd.as_raw_fd(), c"".as_ptr(), host.as_ptr(), libc::AT_EMPTY_PATH) }.into())
}

/// fstatfs(2) of the filesystem holding `fd`.
pub fn fstatfs(fd: BorrowedFd<'_>) -> Result<Statfs, Errno> {
    let mut st = Statfs::default();
    // SAFETY: `Statfs` is x86-64's `struct statfs`, field for field
    // (repr(C), its size checked against libc's in abi::structs); fstatfs
    // fills it, and `fd` is open for the call.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), (&raw mut st).cast()) }.into())?;
    Ok(st)
}
