//! Fds a process was started with beyond its stdio (a listening socket or a
//! pipe its parent put at a fixed number, as systemd's socket activation
//! does), taken over as owned fds.
//!
//! Owning a number is sound only if nothing else in the process owns it.
//! The numbers open when the process started are recorded before `main`,
//! before any code of the program could have opened a file there; each can
//! be taken once. A number the program opened itself, or one taken already,
//! is refused, never handed out twice.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

/// Fds 3 to 63 that were open at the start and are not taken yet, one bit
/// each. Fds 0, 1 and 2 are std's stdio and never taken.
static INHERITED: AtomicU64 = AtomicU64::new(0);

/// Runs [`record_inherited`] as the process starts (from the ELF
/// `.init_array`, before `main` and before std's runtime is set up).
#[used]
// SAFETY: `.init_array` holds functions the C runtime calls with argc, argv
// and envp, which an `extern "C" fn()` may ignore; this one is sound to run
// before `main` (it only makes system calls and one atomic store).
#[unsafe(link_section = ".init_array")]
static RECORD_INHERITED: extern "C" fn() = record_inherited;

extern "C" fn record_inherited() {
    let mut open = 0;
    for fd in 3..64 {
        // SAFETY: F_GETFD reads the flags of fd number `fd`, open or not,
        // and touches no memory.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            open |= 1u64 << fd;
        }
    }
    INHERITED.store(open, Ordering::Relaxed);
}

/// Takes fd `fd`, which this process was started with, as an owned fd
/// (with its flags as inherited: not close-on-exec). What a caller may rely
/// on: the fd was open when the process started, so its parent put it
/// there and this program did not open it, and no other call of this
/// function returns it. Fails with EBADF for a number that was not open at
/// the start (or is not between 3 and 63) and for one already taken.
pub fn take_inherited(fd: RawFd) -> Result<OwnedFd, Errno> {
    // Keeps the recording function linked in wherever this one is.
    std::hint::black_box(&RECORD_INHERITED);
    let bit = match fd {
        3..64 => 1u64 << fd,
        _ => return Err(Errno::EBADF),
    };
    if INHERITED.fetch_and(!bit, Ordering::Relaxed) & bit == 0 {
        return Err(Errno::EBADF);
    }
    // SAFETY: `fd` was open before any code of the program ran, so it was
    // inherited and nothing here opened it; the bit just cleared makes this
    // the only owner this function ever makes of it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn only_an_inherited_number_is_taken() {
        assert_eq!(take_inherited(0).err(), Some(Errno::EBADF));
        assert_eq!(take_inherited(64).err(), Some(Errno::EBADF));
        // A file this program opened was not there at the start.
        let file = std::fs::File::open("/dev/null").expect("open /dev/null");
        assert_eq!(take_inherited(file.as_raw_fd()).err(), Some(Errno::EBADF));
    }
}
