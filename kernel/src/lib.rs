//! cordon-kernel: cordon's implementation of the Linux system-call interface.
//!
//! An application never talks to the host kernel. A [`platform`] stops every
//! system call it makes and the [`syscalls`] table serves it, on memory the
//! [`memory`] module owns and files the kernel wrapped itself. This crate knows
//! nothing of actors; the control plane drives it through
//! [`control::KernelControl`], its [`handle::KernelHandle`].

pub mod arch;
pub mod container;
pub mod control;
pub mod entropy;
pub mod errno;
pub mod fs;
pub mod futex;
pub mod handle;
pub mod host_filter;
pub mod kernel;
pub mod limits;
pub mod loader;
pub mod memory;
pub mod platform;
pub mod signal;
pub mod syscalls;
pub mod task;
pub mod timer;
pub mod tty;
pub mod vfs;

pub use kernel::{Credentials, ExitStatus, Kernel, KernelConfig, KernelError, ProcessHandle, ProcessSpec, RootFs};
pub use platform::PlatformKind;
