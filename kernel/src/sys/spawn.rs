//! What a child does between fork and exec, for a `std::process::Command`:
//! fds put at fixed numbers, a session of its own, a controlling terminal,
//! a death signal. These are the steps cordon's own processes need (the
//! sandbox process, a container's monitor, a detached exec), written once
//! here so that no caller hands `Command::pre_exec` a closure of its own.
//!
//! Between fork and exec the child of a threaded process has one thread and
//! whatever locks the others held at the fork: only async-signal-safe calls
//! are sound there. Every step is one system call on numbers and flags
//! prepared beforehand; nothing allocates, locks or logs.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// The steps, run in the child in this order once std has set up its
/// stdio: the fds, then the session, the controlling terminal and the death
/// signal. A step that fails makes the spawn fail with its error.
#[derive(Debug, Default)]
pub struct ChildSetup<'fd> {
    /// (fd of this process, number the child gets it at).
    fds: Vec<(BorrowedFd<'fd>, RawFd)>,
    new_session: bool,
    controlling_terminal: bool,
    killed_with_parent: bool,
}

impl<'fd> ChildSetup<'fd> {
    pub fn new() -> ChildSetup<'fd> {
        ChildSetup::default()
    }

    /// The child gets a duplicate of `fd` at fd `number`, not close-on-exec,
    /// whatever numbers the other fds here have. `number` is 3 or above (the
    /// spawn fails with EINVAL otherwise): stdio are the command's own.
    pub fn fd(mut self, fd: BorrowedFd<'fd>, number: RawFd) -> ChildSetup<'fd> {
        self.fds.push((fd, number));
        self
    }

    /// The child leads a new session and process group (setsid(2)), out of
    /// this process's, and has no controlling terminal.
    pub fn new_session(mut self) -> ChildSetup<'fd> {
        self.new_session = true;
        self
    }

    /// In its new session, the child's stdin (a terminal that is no
    /// session's) becomes its controlling terminal (TIOCSCTTY, without
    /// stealing it from another session). Implies [`Self::new_session`].
    pub fn controlling_terminal(mut self) -> ChildSetup<'fd> {
        self.new_session = true;
        self.controlling_terminal = true;
        self
    }

    /// The child gets SIGKILL when the thread that spawned it ends
    /// (PR_SET_PDEATHSIG, which follows the creating thread, not the
    /// process); if this process is already gone by the time it is set,
    /// the spawn fails with ESRCH.
    pub fn killed_with_parent(mut self) -> ChildSetup<'fd> {
        self.killed_with_parent = true;
        self
    }

    /// Spawns `command` with these steps. It takes the command so that the
    /// steps, which refer to fds only for the time of this call, cannot run
    /// again in a later spawn.
    ///
    /// For the time of the spawn, each fd is duplicated above every target
    /// number, so that no step overwrites an fd a later step has yet to
    /// copy; and each target number that is free here is held, so that std's
    /// own spawn (its pipe reporting a failed exec) cannot be given that
    /// number, which the child would then overwrite.
    pub fn spawn(self, mut command: Command) -> io::Result<Child> {
        let above = self
            .fds
            .iter()
            .map(|&(_, number)| number.saturating_add(1))
            .max()
            .unwrap_or(0);
        let mut held = Vec::new();
        let mut moves = Vec::with_capacity(self.fds.len());
        for &(fd, number) in &self.fds {
            if number < 3 {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            let source = duplicate_at_least(fd, above)?;
            // Lands on `number` if it is free; otherwise it is not needed.
            let holder = duplicate_at_least(fd, number)?;
            if holder.as_raw_fd() == number {
                held.push(holder);
            }
            moves.push((source.as_raw_fd(), number));
            held.push(source);
        }
        let ChildSetup {
            new_session,
            controlling_terminal,
            killed_with_parent,
            ..
        } = self;
        let parent = std::process::id();
        let steps = move || -> io::Result<()> {
            for &(source, number) in &moves {
                // SAFETY: dup2 is async-signal-safe and touches no memory;
                // `source` is this child's copy of an fd held open in the
                // parent for the spawn, and above every target, so no
                // earlier dup2 replaced it.
                if unsafe { libc::dup2(source, number) } < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // SAFETY: setsid is async-signal-safe and touches no memory.
            if new_session && unsafe { libc::setsid() } < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal)
            // and touches no memory; fd 0 is the child's stdin.
            if controlling_terminal && unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
            if killed_with_parent {
                // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches
                // no memory.
                if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before the death signal was set.
                // SAFETY: getppid only returns a number.
                if u32::try_from(unsafe { libc::getppid() }).ok() != Some(parent) {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
            }
            Ok(())
        };
        // SAFETY: the steps make only async-signal-safe system calls on
        // numbers captured beforehand, allocate nothing (an io::Error made
        // from an errno does not allocate) and take no lock. The fds they
        // copy stay open until the spawn has returned (`held`), and the
        // command, consumed here, cannot run them again.
        unsafe { command.pre_exec(steps) };
        let child = command.spawn();
        drop(held);
        child
    }
}

/// A close-on-exec duplicate of `fd` at the lowest free number from
/// `lowest` on (F_DUPFD_CLOEXEC).
fn duplicate_at_least(fd: BorrowedFd<'_>, lowest: RawFd) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(lowest))?;
    // SAFETY: F_DUPFD_CLOEXEC has just made this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Read;

    use super::*;

    #[test]
    fn the_child_finds_its_fds_at_their_numbers_in_a_session_of_its_own() {
        let (three_read, three) = nix::unistd::pipe().expect("a pipe");
        let (four_read, four) = nix::unistd::pipe().expect("a pipe");
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "echo $$ >&3; cut -d' ' -f6 /proc/$$/stat >&3; echo four >&4"]);
        let mut child = ChildSetup::new()
            .fd(three.as_fd(), 3)
            .fd(four.as_fd(), 4)
            .new_session()
            .spawn(command)
            .expect("spawned");
        drop((three, four));
        let read = |fd: OwnedFd| {
            let mut text = String::new();
            File::from(fd).read_to_string(&mut text).expect("read a pipe");
            text
        };
        let (on_three, on_four) = (read(three_read), read(four_read));
        assert!(child.wait().expect("waited").success());
        assert_eq!(on_four, "four\n");
        // The shell leads a session of its own: its session id is its pid.
        let lines: Vec<&str> = on_three.lines().collect();
        assert_eq!(lines.len(), 2, "{on_three:?}");
        assert_eq!(lines[0], lines[1]);
    }

    #[test]
    fn a_stdio_number_is_refused() {
        let (_read, write) = nix::unistd::pipe().expect("a pipe");
        let spawned = ChildSetup::new().fd(write.as_fd(), 1).spawn(Command::new("/bin/true"));
        assert_eq!(spawned.err().and_then(|err| err.raw_os_error()), Some(libc::EINVAL));
    }
}
