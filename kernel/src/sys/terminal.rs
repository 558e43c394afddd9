//! The ioctls the kernel makes on a host terminal it holds (the
//! container's stdio): its settings and window size, which stay the host
//! terminal's own.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use crate::abi::structs::{KernelTermios, Winsize};

/// TCGETS: the terminal's settings, in the kernel's `struct termios`.
pub fn get_termios(fd: BorrowedFd<'_>) -> Result<KernelTermios, Errno> {
    let mut termios = KernelTermios::default();
    // SAFETY: TCGETS writes one kernel `struct termios`, which
    // `KernelTermios` is (repr(C), the ABI's layout); `fd` is open.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TCGETS, &raw mut termios) } < 0 {
        return Err(Errno::last());
    }
    Ok(termios)
}

/// TCSETS, TCSETSW or TCSETSF (`request`): changes the terminal's settings.
pub fn set_termios(fd: BorrowedFd<'_>, request: u64, termios: &KernelTermios) -> Result<(), Errno> {
    if ![libc::TCSETS, libc::TCSETSW, libc::TCSETSF].contains(&request) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the TCSETS requests read one kernel `struct termios` from a
    // valid reference; `fd` is open.
    if unsafe { libc::ioctl(fd.as_raw_fd(), request, termios as *const KernelTermios) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// TIOCGWINSZ: the terminal's window size.
pub fn window_size(fd: BorrowedFd<'_>) -> Result<Winsize, Errno> {
    let mut size = Winsize::default();
    // SAFETY: TIOCGWINSZ writes one `struct winsize`; `fd` is open.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &raw mut size) } < 0 {
        return Err(Errno::last());
    }
    Ok(size)
}
