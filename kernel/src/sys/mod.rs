//! Safe wrappers of the host system calls the kernel makes on its own
//! behalf, and the seccomp filter that allows exactly those. Together with
//! the memory file and the platform, this is where the kernel's `unsafe`
//! lives; every other module forbids it.

pub mod cpu;
pub mod host_filter;
pub mod random;
