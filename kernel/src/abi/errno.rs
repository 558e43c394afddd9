//! Error numbers returned to the application.
//!
//! The kernel speaks Linux's x86-64 errno values, which are the host's, so
//! nix's `Errno` serves as the type.

pub use nix::errno::Errno;

/// The symbolic name of an errno, as strace prints it ("EFAULT").
pub fn name(errno: Errno) -> String {
    format!("{errno:?}")
}

/// Result of a system-call handler: the value placed in rax, or an errno
/// (returned to the application as `-errno`).
pub type SyscallResult = Result<u64, Errno>;
