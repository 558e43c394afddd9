//! Host files: fds the kernel was handed (the container's stdio) and serves
//! I/O on for the application.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::errno::Errno;

use crate::abi::UserAddr;
use crate::abi::structs::Stat;
use crate::fsimpl::host::terminal::HostTerminal;
use crate::fsimpl::tty::termios::KernelTermios;
use crate::sync::Blocking;
use crate::sys;
use crate::vfs::File;
use crate::vfs::Location;
use crate::vfs::caller::{Caller, CallerMemory};
use crate::vfs::terminal::{Side, Terminal, job_control_ioctl};

/// How often a task blocked reading a host fd looks again: the host cannot
/// wake the task's waker.
pub const HOST_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// A host fd wrapped as a file.
pub struct HostFile {
    /// Shared with the files /dev/tty opens on the same host terminal.
    fd: Arc<OwnedFd>,
    /// The terminal the fd is, if it is one.
    terminal: Option<Arc<HostTerminal>>,
    /// Where a terminal is named in the sandbox (/dev/console, or the
    /// /dev/tty it was opened through); its stat is that node's.
    location: Option<Location>,
}

impl HostFile {
    pub fn new(fd: Arc<OwnedFd>, terminal: Option<Arc<HostTerminal>>, location: Option<Location>) -> Self {
        HostFile { fd, terminal, location }
    }

    /// Runs a host I/O call, retrying when a host signal interrupts it.
    fn retry(mut call: impl FnMut() -> nix::Result<usize>) -> Result<usize, Errno> {
        loop {
            match call() {
                Err(Errno::EINTR) => continue,
                result => return result,
            }
        }
    }
}

impl File for HostFile {
    /// Waits until the host fd has data (or EOF, or an error), looking
    /// every HOST_POLL_INTERVAL so that a signal can cut the wait short with
    /// EINTR; then reads. A background process reading its controlling
    /// terminal gets SIGTTIN.
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
        if let Some(terminal) = &self.terminal {
            caller.check_terminal_access(terminal.as_ref(), libc::SIGTTIN)?;
        }
        let nonblocking = self.status_flags()? & libc::O_NONBLOCK as u32 != 0;
        if !nonblocking && !buf.is_empty() {
            let ready = (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) as u16;
            loop {
                if self.poll() & ready != 0 {
                    break;
                }
                let tick = std::time::Instant::now() + HOST_POLL_INTERVAL;
                match caller.block_on::<()>(None, Some(tick), || None) {
                    Err(Errno::ETIMEDOUT) => continue,
                    Err(errno) => return Err(errno),
                    Ok(()) => break,
                }
            }
        }
        Self::retry(|| match offset {
            Some(off) => nix::sys::uio::pread(&self.fd, buf, off as i64),
            None => nix::unistd::read(&self.fd, buf),
        })
    }

    /// With TOSTOP set on the host terminal, a background process writing
    /// its controlling terminal gets SIGTTOU.
    fn write(&self, caller: &dyn Caller, data: &[u8], offset: Option<u64>) -> Result<usize, Errno> {
        if let Some(terminal) = &self.terminal {
            if terminal.stops_background_writes() {
                caller.check_terminal_access(terminal.as_ref(), libc::SIGTTOU)?;
            }
        }
        Self::retry(|| match offset {
            Some(off) => nix::sys::uio::pwrite(&self.fd, data, off as i64),
            None => nix::unistd::write(&self.fd, data),
        })
    }

    fn stat(&self) -> Result<Stat, Errno> {
        match &self.location {
            Some(location) => location.stat(),
            None => nix::sys::stat::fstat(self.fd.as_fd()).map(Stat::from),
        }
    }

    fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        nix::fcntl::fcntl(self.fd.as_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map(|flags| flags as u32 & !(libc::O_CLOEXEC as u32))
    }

    /// Asks the host, without waiting.
    fn poll(&self) -> u16 {
        let interest = nix::poll::PollFlags::POLLIN | nix::poll::PollFlags::POLLOUT | nix::poll::PollFlags::POLLPRI;
        let mut fds = [nix::poll::PollFd::new(self.fd.as_fd(), interest)];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
            Ok(_) => fds[0].revents().map_or(0, |revents| revents.bits() as u16),
            Err(_) => libc::POLLERR as u16,
        }
    }

    fn seek(&self, offset: i64, whence: i32) -> Result<u64, Errno> {
        let whence = match whence {
            libc::SEEK_SET => nix::unistd::Whence::SeekSet,
            libc::SEEK_CUR => nix::unistd::Whence::SeekCur,
            libc::SEEK_END => nix::unistd::Whence::SeekEnd,
            _ => return Err(Errno::EINVAL),
        };
        nix::unistd::lseek(self.fd.as_fd(), offset, whence).map(|at| at as u64)
    }

    fn terminal(&self) -> Option<Arc<dyn Terminal>> {
        self.terminal.clone().map(|terminal| terminal as Arc<dyn Terminal>)
    }

    /// Terminal settings and the window size are the host terminal's own;
    /// the session and foreground group are cordon's bookkeeping.
    fn ioctl(&self, caller: &dyn Caller, request: u64, arg: u64) -> Result<u64, Errno> {
        if let Some(terminal) = &self.terminal {
            let terminal: Arc<dyn Terminal> = terminal.clone();
            let readable = self.status_flags()? as i32 & libc::O_ACCMODE != libc::O_WRONLY;
            if let Some(result) = job_control_ioctl(caller, &terminal, Side::Terminal, readable, request, arg) {
                return result;
            }
        }
        match request {
            libc::TCGETS => {
                caller.write_pod(UserAddr::new(arg), &sys::terminal::get_termios(self.fd.as_fd())?)?;
                Ok(0)
            }
            libc::TCSETS | libc::TCSETSW | libc::TCSETSF if self.terminal.is_some() => {
                let termios: KernelTermios = caller.read_pod(UserAddr::new(arg))?;
                if let Some(terminal) = &self.terminal {
                    caller.check_terminal_access(terminal.as_ref(), libc::SIGTTOU)?;
                }
                sys::terminal::set_termios(self.fd.as_fd(), request, &termios)?;
                Ok(0)
            }
            libc::TIOCGWINSZ => {
                caller.write_pod(UserAddr::new(arg), &sys::terminal::window_size(self.fd.as_fd())?)?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }
}
