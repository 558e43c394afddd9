//! How each system-call argument is shown by `--strace`.

/// The kind of one system-call argument, for decoding in strace output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A signed integer.
    Int,
    /// An unsigned value best read in hex: flags, masks, modes, addresses of
    /// no particular type.
    Hex,
    /// A file descriptor (AT_FDCWD shown by name).
    Fd,
    /// A user pointer.
    Ptr,
    /// A NUL-terminated string in application memory (a path, a name).
    Str,
    /// A byte count.
    Size,
    /// A signal number.
    Signal,
}
