//! cordon-kernel: cordon's implementation of the Linux system-call interface.
//!
//! An application never talks to the host kernel. A [`platform`] stops every
//! system call it makes and the [`syscalls`] table serves it, on memory the
//! [`memory`] module owns and files the kernel wrapped itself. This crate knows
//! nothing of actors; the control plane drives it through
//! [`control::KernelControl`], its [`control::handle::KernelHandle`].
//!
//! Its modules are layers, lowest first, each importing only those before
//! it (tests/layers.rs checks it). `unsafe` lives in three of them: the
//! host calls the kernel makes (`sys`), the memory file's mapping
//! (`memory`) and the platform's stub processes (`platform`); every other
//! module denies it.

#![deny(unsafe_code)]

pub mod abi;
pub mod control;
pub mod fsimpl;
pub mod kernel;
#[allow(unsafe_code)]
pub mod memory;
pub mod mm;
#[allow(unsafe_code)]
pub mod platform;
pub mod seccomp;
pub mod sync;
#[allow(unsafe_code)]
pub mod sys;
pub mod syscalls;
pub mod task;
pub mod vfs;

pub use abi::{Credentials, ExitStatus};
pub use kernel::devpts::DevptsOptions;
pub use kernel::mounts::{MountSource, MountSpec};
pub use kernel::{Kernel, KernelConfig, KernelError, ProcessHandle, ProcessSpec, RootFs};
pub use vfs::MountFlags;

use std::sync::Arc;

/// Makes a kernel serving cordon's system-call table: what the sandbox
/// process and `cordon do` run. (The kernel layer never names the table;
/// the crate root wires it in.)
pub fn new_kernel(config: KernelConfig, root: RootFs) -> Result<Arc<Kernel>, KernelError> {
    Kernel::new(config, root, syscalls::dispatch)
}

pub use platform::PlatformKind;
