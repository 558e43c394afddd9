//! The stdio a new container's init gets, whichever sandbox process creates
//! it (its own, for `create` and `run`, or a pod's, for a subcontainer):
//! the creating command's, a terminal it made, one whose master goes to a
//! console socket, or fds an embedding program chose.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::LifecycleError;
use crate::terminal::Pty;

/// What the sandbox process's stdio are: the init's, or its terminal.
#[derive(Debug)]
pub enum BootStdio {
    /// This command's own: the container's stdio, or (`run` in a
    /// terminal) the host terminal the init has.
    Inherit,
    /// The replica of a pty this command made for the init's terminal:
    /// the sandbox process's fds 0, 1 and 2 and its controlling terminal.
    Terminal(OwnedFd),
    /// Like `Terminal`, for a pty made once the container's id is taken,
    /// whose master goes to the console socket at this path.
    ConsoleSocket(PathBuf),
    /// These three fds (an embedding program's choice).
    Fds([OwnedFd; 3]),
}

/// The stdio a new init gets, once a console socket has had its master.
pub(crate) enum InitStdio {
    /// The creating command's own.
    Inherit,
    /// A terminal's replica: fds 0, 1 and 2 and the controlling terminal.
    Terminal(OwnedFd),
    Fds([OwnedFd; 3]),
}

impl BootStdio {
    /// The stdio the init gets: for a console socket, a pty is made now
    /// and its master sent.
    pub(crate) fn open(self) -> Result<InitStdio, LifecycleError> {
        match self {
            BootStdio::Inherit => Ok(InitStdio::Inherit),
            BootStdio::Terminal(replica) => Ok(InitStdio::Terminal(replica)),
            BootStdio::ConsoleSocket(path) => {
                let pty = Pty::open()?;
                crate::terminal::send_console(&path, pty.master.as_fd())?;
                Ok(InitStdio::Terminal(pty.replica))
            }
            BootStdio::Fds(fds) => Ok(InitStdio::Fds(fds)),
        }
    }
}

/// The sandbox process's stdio for a command that detaches (`create`, `run
/// --detach`), as runc decides: an init with a terminal needs a console
/// socket, which gets the master of a new pty; a console socket needs an
/// init with a terminal.
pub fn console_stdio(
    command: &'static str,
    terminal: bool,
    console_socket: Option<&Path>,
) -> Result<BootStdio, LifecycleError> {
    super::check_console_socket(command, true, terminal, console_socket)?;
    Ok(console_socket.map_or(BootStdio::Inherit, |path| BootStdio::ConsoleSocket(path.to_owned())))
}
