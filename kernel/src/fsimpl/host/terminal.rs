//! The container's stdio as a terminal: when a process started from outside
//! (the init, an exec) is given a host terminal (cordon's own, or the
//! replica of a pty the CLI made), it has it as its controlling terminal.
//! cordon keeps the job-control bookkeeping (the session, the foreground
//! group that TIOCGPGRP/TIOCSPGRP see); the host terminal itself changes
//! only when the application sets its termios.
//!
//! The init's host terminal is its console: it is named /dev/console (as
//! runc binds the console there), so that ttyname(3) finds it; a terminal
//! given to an exec'd process has no name in the sandbox.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use crate::fsimpl::HostFile;
use crate::vfs::File;
use crate::vfs::terminal::{Control, Terminal};

use crate::vfs::Location;

/// A host terminal some of the init's stdio fds are.
pub struct HostTerminal {
    fd: Arc<OwnedFd>,
    /// The device number /proc/PID/stat shows: /dev/console's for the
    /// init's console, else the host terminal's own.
    rdev: u64,
    /// Itself, for the files /dev/tty opens.
    me: Weak<HostTerminal>,
    control: Control,
}

impl HostTerminal {
    /// Wraps the stdio fds: each host terminal among them becomes one
    /// [`HostTerminal`] (fds on the same device share it), and every fd a
    /// [`HostFile`]. Returns the files for fds 0, 1 and 2 and the terminal
    /// the process should control, if any. `console`: where /dev/console
    /// is, for the init; its terminals are named there.
    pub fn wrap_stdio(
        stdio: [OwnedFd; 3],
        console: Option<Location>,
    ) -> (Vec<Arc<dyn File>>, Option<Arc<HostTerminal>>) {
        let mut terminals: Vec<((u64, u64), Arc<HostTerminal>)> = Vec::new();
        let mut files: Vec<Arc<dyn File>> = Vec::new();
        for fd in stdio {
            let fd = Arc::new(fd);
            let terminal = Self::identity(&fd).map(|id| {
                if let Some((_, terminal)) = terminals.iter().find(|(known, _)| *known == id) {
                    return Arc::clone(terminal);
                }
                let rdev = console
                    .as_ref()
                    .and_then(|console| console.stat().ok())
                    .map_or(id.1, |st| st.st_rdev);
                let terminal = Arc::new_cyclic(|me| HostTerminal {
                    fd: Arc::clone(&fd),
                    rdev,
                    me: me.clone(),
                    control: Control::default(),
                });
                terminals.push((id, Arc::clone(&terminal)));
                terminal
            });
            let location = terminal.as_ref().and(console.clone());
            files.push(Arc::new(HostFile::new(fd, terminal, location)));
        }
        let first = terminals.into_iter().next().map(|(_, terminal)| terminal);
        (files, first)
    }

    /// (st_dev, st_rdev) of a host fd that is a terminal.
    fn identity(fd: &OwnedFd) -> Option<(u64, u64)> {
        if !nix::unistd::isatty(fd.as_fd()).unwrap_or(false) {
            return None;
        }
        let st = nix::sys::stat::fstat(fd.as_fd()).ok()?;
        Some((st.st_dev, st.st_rdev))
    }
}

impl Terminal for HostTerminal {
    fn control(&self) -> &Control {
        &self.control
    }

    fn device(&self) -> u64 {
        self.rdev
    }

    /// Asks the host terminal (one TCGETS), whose settings are the
    /// application's own.
    fn stops_background_writes(&self) -> bool {
        nix::sys::termios::tcgetattr(self.fd.as_fd())
            .is_ok_and(|termios| termios.local_flags.contains(nix::sys::termios::LocalFlags::TOSTOP))
    }

    /// /dev/tty, /dev/console: the same host open file (as a dup would
    /// be), named where it was opened.
    fn reopen(&self, location: Location, _flags: i32) -> Result<Arc<dyn File>, Errno> {
        let me = self.me.upgrade().ok_or(Errno::EIO)?;
        Ok(Arc::new(HostFile::new(Arc::clone(&self.fd), Some(me), Some(location))))
    }
}
