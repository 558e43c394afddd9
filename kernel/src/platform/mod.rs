//! Platforms: what executes application code and stops it at every system
//! call (DESIGN.md §3.2).
//!
//! A platform gives an [`AddressSpace`], whose mappings the memory manager
//! keeps in step with its VMAs, and a [`Context`] that runs one application
//! thread in it until the next [`Event`].

pub mod ptrace;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::abi::arch::Registers;
use crate::memory::{MemoryFile, Prot};

/// The platforms cordon can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformKind {
    /// One stub process per address space, driven with PTRACE_SYSEMU.
    Ptrace,
}

impl FromStr for PlatformKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "ptrace" => Ok(PlatformKind::Ptrace),
            "kvm" | "systrap" => Err(format!("platform {name:?} is not built yet; use ptrace")),
            _ => Err(format!("unknown platform {name:?}; use ptrace")),
        }
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformKind::Ptrace => f.write_str("ptrace"),
        }
    }
}

/// Why the application stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The registers hold a system call (number in `orig_rax`); the return
    /// address is already past the `syscall` instruction.
    Syscall,
    /// The CPU raised a synchronous signal (a fault, int3, a bad instruction).
    Fault(Fault),
    /// The application was stopped from outside ([`ThreadHandle::interrupt`]),
    /// so the kernel can deliver a signal; nothing happened to it.
    Interrupted,
}

/// What other OS threads may do to an application thread. Callable from
/// any thread.
pub trait ThreadHandle: Send + Sync {
    /// Kicks the thread out of application code back into the kernel.
    fn interrupt(&self);
    /// CPU time the thread has used in application code; zero once gone.
    fn cpu_time(&self) -> std::time::Duration;
}

/// A synchronous signal raised by the application's own instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGTRAP.
    pub signal: i32,
    /// The siginfo `si_code` (SEGV_MAPERR, SEGV_ACCERR, …).
    pub code: i32,
    /// The faulting address, where the signal has one.
    pub addr: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("failed to create the stub process: {0}")]
    StubCreate(#[source] nix::Error),
    #[error("the stub process failed to start (exit status {0})")]
    StubStart(i32),
    #[error("ptrace {op} on stub {pid}: {source}")]
    Ptrace {
        op: &'static str,
        pid: i32,
        #[source]
        source: nix::Error,
    },
    #[error("stub {pid} stopped unexpectedly: {what}")]
    UnexpectedStop { pid: i32, what: String },
    /// The stub process is gone (killed from outside the sandbox, or by its
    /// own seccomp filter).
    #[error("stub {pid} died: {what}")]
    StubDied { pid: i32, what: String },
    #[error("host {call} in stub {pid} failed: {errno}")]
    Injected {
        call: &'static str,
        pid: i32,
        errno: nix::errno::Errno,
    },
}

/// The application's view of memory on the host: the mappings a platform
/// makes so that application addresses reach pages of the memory file.
pub trait AddressSpace: Send + Sync {
    /// Maps `len` bytes of the memory file at `file_offset` to `addr`,
    /// replacing whatever was mapped there.
    fn map(&self, addr: u64, len: u64, prot: Prot, file_offset: u64) -> Result<(), PlatformError>;
    /// Removes the mappings in `[addr, addr + len)`.
    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError>;
    /// Changes the protection of `[addr, addr + len)`.
    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError>;
}

/// An address space that accepts every call without making it, for tests
/// about the kernel's own bookkeeping (VMAs, loaded images), which read and
/// write application memory through the memory file.
#[cfg(test)]
pub(crate) struct NoSpace;

#[cfg(test)]
impl AddressSpace for NoSpace {
    fn map(&self, _: u64, _: u64, _: Prot, _: u64) -> Result<(), PlatformError> {
        Ok(())
    }
    fn unmap(&self, _: u64, _: u64) -> Result<(), PlatformError> {
        Ok(())
    }
    fn protect(&self, _: u64, _: u64, _: Prot) -> Result<(), PlatformError> {
        Ok(())
    }
}

/// One application thread's execution context.
pub trait Context: Send {
    /// The address space, operated through this thread (with ptrace, only
    /// the tracer of a stub thread can make it run mmap).
    fn address_space(&self) -> &dyn AddressSpace;
    /// Starts a new thread in the same address space; another OS thread
    /// turns it into its context with [`ThreadSeed::start`].
    fn spawn_thread(&self) -> Result<Box<dyn ThreadSeed>, PlatformError>;
    /// Runs the application with `regs` until the next event, and leaves the
    /// registers it stopped with in `regs`.
    fn switch(&mut self, regs: &mut Registers) -> Result<Event, PlatformError>;
    /// The registers a new thread starts from (segment selectors and flags
    /// as the host set them), with every general register cleared.
    fn initial_registers(&self) -> Registers;
    /// CPU time the application thread has used on the host.
    fn cpu_time(&self) -> std::time::Duration;
    /// The thread's extended FPU state in XSAVE layout (with the
    /// sw_reserved bytes Linux puts in signal frames).
    fn fp_state(&self) -> Result<Vec<u8>, PlatformError>;
    /// Restores the extended FPU state from an XSAVE image.
    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError>;
    /// A handle other threads use to reach this context.
    fn handle(&self) -> Arc<dyn ThreadHandle>;
}

/// A thread started by [`Context::spawn_thread`], waiting for the OS thread
/// that will run it.
pub trait ThreadSeed: Send {
    /// Makes the calling OS thread the runner of this thread. With
    /// `pin_cpu`, both share one CPU.
    fn start(self: Box<Self>, pin_cpu: bool) -> Result<Box<dyn Context>, PlatformError>;
}

/// Creates an address space and the context of its first thread.
///
/// Precondition: called on the OS thread that will run the returned context
/// (ptrace is per thread).
pub fn new_address_space(
    kind: PlatformKind,
    pin_cpu: bool,
    memory_file: &Arc<MemoryFile>,
) -> Result<Box<dyn Context>, PlatformError> {
    match kind {
        PlatformKind::Ptrace => Ok(Box::new(ptrace::StubThread::new_process(memory_file, pin_cpu)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_names_parse() {
        assert_eq!("ptrace".parse::<PlatformKind>(), Ok(PlatformKind::Ptrace));
        assert!("kvm".parse::<PlatformKind>().unwrap_err().contains("not built yet"));
        assert!("bogus".parse::<PlatformKind>().is_err());
    }
}
