//! Terminals: pseudo-terminals served inside the sandbox and the job-control
//! side of every terminal (pty(7), tty_ioctl(4), credentials(7)).
//!
//! Lock order: the task set's lock (`TaskSet::inner`) before a terminal's
//! `Control` lock (the session it controls and its foreground group), never
//! after. `Control` is a leaf: the ioctls here take it alone and write the
//! answer to memory after letting go of it.
//!
//! - `termios`: the kernel's termios structures and a new replica's settings;
//! - `line`: the line discipline (Linux's n_tty) as plain data;
//! - `pty`: master/replica pairs, the table of live ones, their files;
//! - `host`: the container's stdio when it is a host terminal.
//!
//! Job control is the task set's: each process may have a controlling
//! terminal ([`Terminal`]), and each terminal records the session it
//! controls and its foreground process group ([`Control`]).

use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use super::caller::{Caller, CallerMemory};
use crate::abi::UserAddr;
use crate::abi::capability::Capability;
use crate::vfs::File;
use crate::vfs::Location;

/// Which side of a terminal a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A terminal applications run on (a pty replica, a host terminal).
    Terminal,
    /// A pty master: its job-control queries answer for its replica, and
    /// without the controlling-terminal check (Linux's `real_tty != tty`).
    Master,
}

/// What job control knows of a terminal (Linux's tty->ctrl).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ControlState {
    /// The session this terminal controls.
    pub session: Option<i32>,
    /// The foreground process group.
    pub foreground: Option<i32>,
}

/// The job-control state of one terminal, under its own lock (taken after
/// the task set's).
#[derive(Debug, Default)]
pub struct Control {
    state: Mutex<ControlState>,
}

impl Control {
    pub fn lock(&self) -> MutexGuard<'_, ControlState> {
        self.state.lock().expect("terminal control poisoned")
    }
}

/// A terminal that can be a controlling terminal.
pub trait Terminal: Send + Sync {
    /// The session and foreground group.
    fn control(&self) -> &Control;

    /// Its device number (/proc/PID/stat's tty_nr).
    fn device(&self) -> u64;

    /// /dev/tty: a new open file description of this terminal, named at
    /// `location`.
    fn reopen(&self, location: Location, flags: i32) -> Result<Arc<dyn File>, Errno>;

    /// TOSTOP: background writers get SIGTTOU.
    fn stops_background_writes(&self) -> bool {
        false
    }
}

/// Whether `a` and `b` are the same terminal.
pub fn same_terminal(a: &dyn Terminal, b: &dyn Terminal) -> bool {
    std::ptr::eq(a.control(), b.control())
}

/// The job-control ioctls every terminal shares: TIOCGPGRP, TIOCSPGRP,
/// TIOCGSID, TIOCSCTTY and TIOCNOTTY. None for any other request.
/// `readable`: the file was opened for reading (TIOCSCTTY wants it, or
/// privilege).
pub fn job_control_ioctl(
    caller: &dyn Caller,
    terminal: &Arc<dyn Terminal>,
    side: Side,
    readable: bool,
    request: u64,
    arg: u64,
) -> Option<Result<u64, Errno>> {
    let own_check = || -> Result<(), Errno> {
        if side == Side::Terminal && !caller.is_controlling_terminal(terminal.as_ref()) {
            return Err(Errno::ENOTTY);
        }
        Ok(())
    };
    let result = match request {
        libc::TIOCGPGRP => own_check().and_then(|()| {
            let foreground = terminal.control().lock().foreground.unwrap_or(0);
            caller.write_pod(UserAddr::new(arg), &foreground).map(|()| 0)
        }),
        libc::TIOCGSID => own_check().and_then(|()| {
            let session = terminal.control().lock().session.ok_or(Errno::ENOTTY)?;
            caller.write_pod(UserAddr::new(arg), &session).map(|()| 0)
        }),
        libc::TIOCSPGRP => caller
            .read_pod::<i32>(UserAddr::new(arg))
            .and_then(|pgrp| caller.set_foreground(terminal.as_ref(), pgrp))
            .map(|()| 0),
        libc::TIOCSCTTY => {
            let privileged = caller.credentials().has(Capability::SYS_ADMIN);
            if side == Side::Master {
                // A master as a controlling terminal is allowed by Linux
                // and used by nothing; cordon does not offer it.
                Err(Errno::EINVAL)
            } else {
                caller
                    .set_controlling_terminal(terminal, arg == 1 && privileged, readable || privileged)
                    .map(|()| 0)
            }
        }
        libc::TIOCNOTTY => {
            if side == Side::Master {
                Err(Errno::ENOTTY)
            } else {
                caller.drop_controlling_terminal(terminal.as_ref()).map(|()| 0)
            }
        }
        _ => return None,
    };
    Some(result)
}
