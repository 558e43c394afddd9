//! The terminal device numbers: /dev/tty, /dev/console, /dev/ptmx and the
//! pty replicas, opened for a caller.

use std::sync::Arc;

use nix::errno::Errno;

use super::{Kernel, pty};
use crate::task::INIT_PID;
use crate::vfs::caller::Caller;
use crate::vfs::{File, Location};

/// /dev/tty's device number.
const CONTROLLING_TTY: (u32, u32) = (5, 0);
/// /dev/console's device number.
const CONSOLE: (u32, u32) = (5, 1);
/// /dev/ptmx's device number.
const PTMX: (u32, u32) = (5, 2);

/// Whether `rdev` names a terminal: /dev/tty, /dev/ptmx or a pty replica.
pub fn is_terminal_device(rdev: u64) -> bool {
    let number = (libc::major(rdev), libc::minor(rdev));
    number == CONTROLLING_TTY || number == CONSOLE || number == PTMX || pty::replica_index(rdev).is_some()
}

/// Opens the terminal `rdev` of `kernel` for `caller`: /dev/tty is its controlling
/// terminal (ENXIO without one), /dev/console the container's console, the
/// init's controlling terminal (as runc binds the console there; ENXIO
/// without one), /dev/ptmx a new pty master, a replica
/// number that pty's replica (EIO while locked or without its master).
pub fn open_device(
    kernel: &Kernel,
    caller: &dyn Caller,
    location: Location,
    rdev: u64,
    flags: i32,
) -> Result<Arc<dyn File>, Errno> {
    match (libc::major(rdev), libc::minor(rdev)) {
        CONTROLLING_TTY => {
            let terminal = caller.controlling_terminal().ok_or(Errno::ENXIO)?;
            terminal.reopen(location, flags)
        }
        CONSOLE => {
            let terminal = kernel.tasks().controlling_terminal(INIT_PID).ok_or(Errno::ENXIO)?;
            terminal.reopen(location, flags)
        }
        PTMX => {
            let creds = caller.credentials();
            kernel.ptys.open_master(kernel, creds.fsuid, creds.fsgid, flags)
        }
        _ => {
            let index = pty::replica_index(rdev).ok_or(Errno::ENXIO)?;
            kernel.ptys.open_replica(index, Some(location), flags)
        }
    }
}
