//! Safe wrappers of the host system calls the kernel makes on its own
//! behalf, and the seccomp filter that allows exactly those. Together with
//! the memory file and the platform, this is where the kernel's `unsafe`
//! lives; every other module forbids it.
//!
//! The CLI and the actors, which forbid `unsafe` too, find here the host
//! calls they need that nix has no safe form of: inherited fds ([`fd`]),
//! pidfds and an immediate exit ([`process`]), fds received over a socket
//! ([`socket`]) and the steps between fork and exec ([`spawn`]).

pub mod cpu;
pub mod fd;
pub mod fs;
pub mod host_filter;
pub mod process;
pub mod random;
pub mod socket;
pub mod spawn;
pub mod terminal;
pub mod time;
