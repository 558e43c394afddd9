//! Who a file operation is done for, as far as files must know: the
//! calling thread's ids, credentials and root, its memory (for ioctl
//! arguments), and the job control of its terminals.
//!
//! Files never see a task. A terminal's ioctl, a read subject to job
//! control, or /proc (whose `self` and whose links depend on who looks)
//! get a [`Caller`]; the task layer implements it for tasks, and
//! [`Internal`] stands for the kernel itself, resolving paths on a
//! process's behalf before it runs.

use std::sync::Arc;

use nix::errno::Errno;

use super::lookup::Resolver;
use super::terminal::Terminal;
use super::{File, Location};
use crate::abi::pod::Pod;
use crate::abi::{Credentials, UserAddr};
use crate::sync::{Block, Uninterruptible, Waker};

/// The calling thread, as file operations see it.
pub trait Caller: Block {
    /// The calling thread's id in the sandbox's PID namespace.
    fn tid(&self) -> i32;

    /// Its process's id.
    fn pid(&self) -> i32;

    fn credentials(&self) -> &Credentials;

    /// Its root directory (chroot(2)): paths shown to it start there.
    fn root(&self) -> Location;

    /// Copies `buf.len()` bytes from the caller's memory at `addr`.
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno>;

    /// Copies `data` into the caller's memory at `addr`.
    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno>;

    /// Installs `file` as a new descriptor of the caller (the lowest free
    /// one) and returns it.
    fn install_fd(&self, file: Arc<dyn File>, close_on_exec: bool) -> Result<i32, Errno>;

    /// The caller's process's controlling terminal, if it has one.
    fn controlling_terminal(&self) -> Option<Arc<dyn Terminal>>;

    /// Whether `terminal` is the caller's controlling terminal.
    fn is_controlling_terminal(&self, terminal: &dyn Terminal) -> bool;

    /// Job control for a read (`SIGTTIN`) or a write or change
    /// (`SIGTTOU`) of `terminal`: Ok, or the errno the call ends with
    /// (EINTR once the caller's group has been sent the signal, EIO).
    fn check_terminal_access(&self, terminal: &dyn Terminal, signo: i32) -> Result<(), Errno>;

    /// TIOCSCTTY: `terminal` becomes the caller's controlling terminal.
    /// `steal` takes it from another session; `readable` says the file
    /// was opened for reading.
    fn set_controlling_terminal(&self, terminal: &Arc<dyn Terminal>, steal: bool, readable: bool) -> Result<(), Errno>;

    /// TIOCNOTTY: the caller gives up `terminal`.
    fn drop_controlling_terminal(&self, terminal: &dyn Terminal) -> Result<(), Errno>;

    /// TIOCSPGRP: `pgrp` becomes the foreground group of `terminal`.
    fn set_foreground(&self, terminal: &dyn Terminal, pgrp: i32) -> Result<(), Errno>;

    /// Sends `signo`, from the kernel, to every process of group `pgrp`
    /// (a terminal's ISIG characters and SIGWINCH).
    fn signal_group(&self, pgrp: i32, signo: i32);
}

/// Typed copies between a caller's memory and the kernel.
pub trait CallerMemory {
    /// Reads a `T` from the caller's memory at `addr`.
    fn read_pod<T: Pod>(&self, addr: UserAddr) -> Result<T, Errno>;

    /// Writes `value` into the caller's memory at `addr`.
    fn write_pod<T: Pod>(&self, addr: UserAddr, value: &T) -> Result<(), Errno>;
}

impl<C: Caller + ?Sized> CallerMemory for C {
    fn read_pod<T: Pod>(&self, addr: UserAddr) -> Result<T, Errno> {
        let mut bytes = vec![0; std::mem::size_of::<T>()];
        self.copy_in(addr, &mut bytes)?;
        Ok(T::from_bytes(&bytes))
    }

    fn write_pod<T: Pod>(&self, addr: UserAddr, value: &T) -> Result<(), Errno> {
        self.copy_out(addr, value.as_bytes())
    }
}

/// The kernel itself acting for a process that does not run yet (the
/// program of an init or an exec is looked up with its credentials), or
/// for nobody (making mount points as root). It has no memory, no
/// terminal, and no signal interrupts it.
pub struct Internal {
    credentials: Credentials,
    root: Location,
    blocker: Uninterruptible,
}

impl Internal {
    pub fn new(credentials: Credentials, root: Location) -> Internal {
        Internal {
            credentials,
            root,
            blocker: Uninterruptible::default(),
        }
    }

    /// A resolver for this caller, from its root, relative paths from `cwd`.
    pub fn resolver(&self, cwd: Location) -> Resolver<'_> {
        Resolver {
            root: self.root.clone(),
            cwd,
            caller: self,
        }
    }
}

impl Block for Internal {
    fn waker(&self) -> &Arc<Waker> {
        self.blocker.waker()
    }

    fn interrupted(&self) -> bool {
        false
    }
}

impl Caller for Internal {
    /// No thread: pid and tid 0, as the kernel's own threads are on Linux.
    fn tid(&self) -> i32 {
        0
    }

    fn pid(&self) -> i32 {
        0
    }

    fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn root(&self) -> Location {
        self.root.clone()
    }

    fn copy_in(&self, _addr: UserAddr, _buf: &mut [u8]) -> Result<(), Errno> {
        Err(Errno::EFAULT)
    }

    fn copy_out(&self, _addr: UserAddr, _data: &[u8]) -> Result<(), Errno> {
        Err(Errno::EFAULT)
    }

    fn install_fd(&self, _file: Arc<dyn File>, _close_on_exec: bool) -> Result<i32, Errno> {
        Err(Errno::EBADF)
    }

    fn controlling_terminal(&self) -> Option<Arc<dyn Terminal>> {
        None
    }

    fn is_controlling_terminal(&self, _terminal: &dyn Terminal) -> bool {
        false
    }

    fn check_terminal_access(&self, _terminal: &dyn Terminal, _signo: i32) -> Result<(), Errno> {
        Ok(())
    }

    fn set_controlling_terminal(
        &self,
        _terminal: &Arc<dyn Terminal>,
        _steal: bool,
        _readable: bool,
    ) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    fn drop_controlling_terminal(&self, _terminal: &dyn Terminal) -> Result<(), Errno> {
        Err(Errno::ENOTTY)
    }

    fn set_foreground(&self, _terminal: &dyn Terminal, _pgrp: i32) -> Result<(), Errno> {
        Err(Errno::ENOTTY)
    }

    fn signal_group(&self, _pgrp: i32, _signo: i32) {}
}

/// A caller for unit tests of files and filesystems: root, over an empty
/// synthetic root directory, never interrupted.
#[cfg(test)]
pub(crate) fn test_caller() -> Internal {
    use super::synthetic::SynthDir;
    use super::{DeviceNumbers, MountFlags, MountNamespace};
    let root = SynthDir::new(1, "/", 0o755, Box::new(Vec::new));
    let mounts = MountNamespace::new(root, "synthetic", MountFlags::default(), DeviceNumbers::default());
    Internal::new(Credentials::default(), mounts.root())
}
