//! The container's stdio as a terminal: when `cordon run` is given a host
//! terminal, the init has it as its controlling terminal. cordon keeps the
//! job-control bookkeeping (the session, the foreground group that
//! TIOCGPGRP/TIOCSPGRP see); the host terminal itself changes only when the
//! application sets its termios.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use super::{Control, Terminal};
use crate::fs::{File, HostFile};
use crate::vfs::Location;

/// A host terminal some of the init's stdio fds are.
pub struct HostTerminal {
    fd: Arc<OwnedFd>,
    /// The host terminal's device number.
    rdev: u64,
    /// Itself, for the files /dev/tty opens.
    me: Weak<HostTerminal>,
    control: Control,
}

impl HostTerminal {
    /// Wraps the stdio fds: each host terminal among them becomes one
    /// [`HostTerminal`] (fds on the same device share it), and every fd a
    /// [`HostFile`]. Returns the files for fds 0, 1 and 2 and the terminal
    /// the init should control, if any.
    pub fn wrap_stdio(stdio: [OwnedFd; 3]) -> (Vec<Arc<dyn File>>, Option<Arc<HostTerminal>>) {
        let mut terminals: Vec<((u64, u64), Arc<HostTerminal>)> = Vec::new();
        let mut files: Vec<Arc<dyn File>> = Vec::new();
        for fd in stdio {
            let fd = Arc::new(fd);
            let terminal = Self::identity(&fd).map(|id| {
                if let Some((_, terminal)) = terminals.iter().find(|(known, _)| *known == id) {
                    return Arc::clone(terminal);
                }
                let terminal = Arc::new_cyclic(|me| HostTerminal {
                    fd: Arc::clone(&fd),
                    rdev: id.1,
                    me: me.clone(),
                    control: Control::default(),
                });
                terminals.push((id, Arc::clone(&terminal)));
                terminal
            });
            files.push(Arc::new(HostFile::new(fd, terminal)));
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

    /// /dev/tty: the same host open file (as a dup would be).
    fn reopen(&self, _location: Location, _flags: i32) -> Result<Arc<dyn File>, Errno> {
        let me = self.me.upgrade().ok_or(Errno::EIO)?;
        Ok(Arc::new(HostFile::new(Arc::clone(&self.fd), Some(me))))
    }
}
