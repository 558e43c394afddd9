//! Controlling terminals (credentials(7), tty_ioctl(4)): which terminal a
//! process has, who may read and write it, and what happens when its
//! session leader or its master goes.
//!
//! Lock order: the task set's lock (`TaskSet::inner`: which process has
//! which controlling terminal) before a terminal's `Control` lock (the
//! session it controls and its foreground group), never the other way
//! round. A pty takes its own `state` with neither held, and the task set's
//! lock only with its `state` let go of (a master's close, a signal
//! character).

use std::sync::Arc;

use nix::errno::Errno;

use super::{Inner, Life, TaskSet};
use crate::abi::signal::{self, SIG_IGN, SigInfo, SigSet};
use crate::vfs::terminal::{Terminal, same_terminal};

impl TaskSet {
    /// Whether `terminal` is the controlling terminal of process `pid`.
    pub fn is_controlling_terminal(&self, pid: i32, terminal: &dyn Terminal) -> bool {
        let inner = self.lock();
        Self::has_terminal(&inner, pid, terminal)
    }

    fn has_terminal(inner: &Inner, pid: i32, terminal: &dyn Terminal) -> bool {
        inner
            .processes
            .get(&pid)
            .and_then(|entry| entry.ctty.as_deref())
            .is_some_and(|ctty| same_terminal(ctty, terminal))
    }

    /// The controlling terminal of process `pid` (what /dev/tty opens).
    pub fn controlling_terminal(&self, pid: i32) -> Option<Arc<dyn Terminal>> {
        self.lock().processes.get(&pid)?.ctty.clone()
    }

    /// open(2) of a terminal without O_NOCTTY, for reading: a session leader
    /// without a controlling terminal takes one no session has (Linux's
    /// tty_open_proc_set_tty).
    pub fn acquire_terminal_on_open(&self, pid: i32, terminal: &Arc<dyn Terminal>) {
        let mut inner = self.lock();
        let Some(entry) = inner.processes.get(&pid) else {
            return;
        };
        if entry.sid != pid || entry.ctty.is_some() || terminal.control().lock().session.is_some() {
            return;
        }
        Self::attach_terminal(&mut inner, pid, terminal);
    }

    /// The terminal becomes `pid`'s session's: its session and foreground
    /// group are the caller's (proc_set_tty).
    fn attach_terminal(inner: &mut Inner, pid: i32, terminal: &Arc<dyn Terminal>) {
        let Some(entry) = inner.processes.get_mut(&pid) else {
            return;
        };
        *terminal.control().lock() = crate::vfs::terminal::ControlState {
            session: Some(entry.sid),
            foreground: Some(entry.pgid),
        };
        entry.ctty = Some(Arc::clone(terminal));
    }

    /// Every process of `session` whose controlling terminal is `terminal`
    /// loses it.
    fn detach_session(inner: &mut Inner, session: i32, terminal: &dyn Terminal) {
        for entry in inner.processes.values_mut() {
            if entry.sid == session && entry.ctty.as_deref().is_some_and(|ctty| same_terminal(ctty, terminal)) {
                entry.ctty = None;
            }
        }
    }

    /// TIOCSCTTY: the caller, a session leader without a controlling
    /// terminal, takes `terminal`. One another session has is EPERM unless
    /// `steal` (arg 1 and CAP_SYS_ADMIN). `may` says the file was opened
    /// for reading or the caller is privileged.
    pub fn set_controlling_terminal(
        &self,
        pid: i32,
        terminal: &Arc<dyn Terminal>,
        steal: bool,
        may: bool,
    ) -> Result<(), Errno> {
        let mut inner = self.lock();
        let entry = inner.processes.get(&pid).ok_or(Errno::ESRCH)?;
        let (sid, leader) = (entry.sid, entry.sid == pid);
        let owner = terminal.control().lock().session;
        if leader && owner == Some(sid) {
            return Ok(());
        }
        if !leader || entry.ctty.is_some() {
            return Err(Errno::EPERM);
        }
        if let Some(owner) = owner {
            if !steal {
                return Err(Errno::EPERM);
            }
            Self::detach_session(&mut inner, owner, terminal.as_ref());
        }
        if !may {
            return Err(Errno::EPERM);
        }
        Self::attach_terminal(&mut inner, pid, terminal);
        Ok(())
    }

    /// TIOCNOTTY: the caller gives up its controlling terminal; a session
    /// leader takes the whole session off it, and its foreground group gets
    /// SIGHUP and SIGCONT.
    pub fn drop_controlling_terminal(&self, pid: i32, terminal: &dyn Terminal) -> Result<(), Errno> {
        let mut inner = self.lock();
        if !Self::has_terminal(&inner, pid, terminal) {
            return Err(Errno::ENOTTY);
        }
        let entry = inner.processes.get_mut(&pid).expect("has a terminal, so exists");
        if entry.sid == pid {
            Self::disassociate(&mut inner, pid, terminal, false);
        } else {
            entry.ctty = None;
        }
        Ok(())
    }

    /// A session leader's terminal leaves the session (disassociate_ctty):
    /// the foreground group gets SIGHUP (and SIGCONT unless the leader is
    /// exiting), and the terminal controls no session any more.
    pub(super) fn disassociate(inner: &mut Inner, session: i32, terminal: &dyn Terminal, on_exit: bool) {
        let foreground = terminal.control().lock().foreground;
        if let Some(pgrp) = foreground {
            Self::signal_group_locked(inner, pgrp, libc::SIGHUP);
            if !on_exit {
                Self::signal_group_locked(inner, pgrp, libc::SIGCONT);
            }
        }
        *terminal.control().lock() = crate::vfs::terminal::ControlState::default();
        Self::detach_session(inner, session, terminal);
    }

    /// The terminal hangs up (its master closed): every process loses it,
    /// the session leader gets SIGHUP and SIGCONT (tty_signal_session_leader).
    pub fn hang_up(&self, terminal: &dyn Terminal) {
        let mut inner = self.lock();
        let session = terminal.control().lock().session;
        for entry in inner.processes.values_mut() {
            if entry.ctty.as_deref().is_some_and(|ctty| same_terminal(ctty, terminal)) {
                entry.ctty = None;
            }
        }
        if let Some(leader) = session {
            for signo in [libc::SIGHUP, libc::SIGCONT] {
                let _ = Self::send_locked(&mut inner, leader, SigInfo::from_kernel(signo));
            }
        }
        *terminal.control().lock() = crate::vfs::terminal::ControlState::default();
    }

    /// May thread `tid` (blocking `blocked`) read (`SIGTTIN`) or write or
    /// change (`SIGTTOU`) `terminal`? Only a background process of the
    /// terminal's own session is held back: its group gets the signal and
    /// the call is interrupted (EINTR, restarted after the stop), unless the
    /// signal is ignored or blocked (EIO for reads, allowed otherwise) or
    /// the group is orphaned (EIO). Linux's __tty_check_change.
    pub fn check_terminal_access(
        &self,
        tid: i32,
        blocked: SigSet,
        terminal: &dyn Terminal,
        signo: i32,
    ) -> Result<(), Errno> {
        let mut inner = self.lock();
        let Some(pid) = inner.threads.get(&tid).map(|thread| thread.tgid) else {
            return Ok(());
        };
        if !Self::has_terminal(&inner, pid, terminal) {
            return Ok(());
        }
        let entry = inner.processes.get(&pid).expect("has a terminal, so exists");
        let pgrp = entry.pgid;
        let foreground = terminal.control().lock().foreground;
        if foreground.is_none_or(|foreground| foreground == pgrp) {
            return Ok(());
        }
        let ignored = blocked & signal::bit(signo) != 0 || entry.actions.get(signo).handler == SIG_IGN;
        if ignored {
            return if signo == libc::SIGTTIN {
                Err(Errno::EIO)
            } else {
                Ok(())
            };
        }
        if Self::is_orphaned_group(&inner, pgrp) {
            return Err(Errno::EIO);
        }
        Self::signal_group_locked(&mut inner, pgrp, signo);
        Err(Errno::EINTR)
    }

    /// TIOCSPGRP: makes `pgrp` the foreground group of `terminal`, which
    /// must be the caller's controlling terminal and its session's; the
    /// group must exist (ESRCH) in the caller's session (EPERM). A
    /// background caller is first subject to SIGTTOU.
    pub fn set_foreground(&self, tid: i32, blocked: SigSet, terminal: &dyn Terminal, pgrp: i32) -> Result<(), Errno> {
        match self.check_terminal_access(tid, blocked, terminal, libc::SIGTTOU) {
            Err(Errno::EIO) => return Err(Errno::ENOTTY),
            other => other?,
        }
        if pgrp < 0 {
            return Err(Errno::EINVAL);
        }
        let inner = self.lock();
        let pid = inner.threads.get(&tid).map(|thread| thread.tgid).ok_or(Errno::ESRCH)?;
        let sid = inner.processes.get(&pid).ok_or(Errno::ESRCH)?.sid;
        let mut control = terminal.control().lock();
        if !Self::has_terminal(&inner, pid, terminal) || control.session != Some(sid) {
            return Err(Errno::ENOTTY);
        }
        let group_session = inner
            .processes
            .values()
            .find(|entry| entry.pgid == pgrp && !matches!(entry.life, Life::Zombie { .. }))
            .map(|entry| entry.sid)
            .ok_or(Errno::ESRCH)?;
        if group_session != sid {
            return Err(Errno::EPERM);
        }
        control.foreground = Some(pgrp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::set::INIT_PID;
    use crate::task::set::testing::set_with_child;

    /// A terminal with nothing behind it but its job-control state.
    #[derive(Default)]
    struct BareTerminal(crate::vfs::terminal::Control);

    impl Terminal for BareTerminal {
        fn control(&self) -> &crate::vfs::terminal::Control {
            &self.0
        }
        fn device(&self) -> u64 {
            libc::makedev(136, 0)
        }
        fn reopen(&self, _: crate::vfs::Location, _: i32) -> Result<Arc<dyn crate::vfs::File>, Errno> {
            Err(Errno::EIO)
        }
    }

    #[test]
    fn controlling_terminals_follow_sessions() {
        let (tasks, child) = set_with_child();
        let terminal: Arc<dyn Terminal> = Arc::new(BareTerminal::default());
        tasks.acquire_terminal_on_open(child, &terminal);
        assert!(tasks.controlling_terminal(child).is_none(), "not a session leader");
        assert_eq!(
            tasks.set_controlling_terminal(child, &terminal, false, true),
            Err(Errno::EPERM)
        );
        tasks.setsid(child).unwrap();
        tasks.acquire_terminal_on_open(child, &terminal);
        assert!(tasks.is_controlling_terminal(child, terminal.as_ref()));
        assert_eq!(
            *terminal.control().lock(),
            crate::vfs::terminal::ControlState {
                session: Some(child),
                foreground: Some(child)
            }
        );
        assert_eq!(
            tasks.set_controlling_terminal(INIT_PID, &terminal, false, true),
            Err(Errno::EPERM),
            "another session has it"
        );
        let (grandchild, _) = tasks.create_child(child, libc::SIGCHLD, false).unwrap();
        assert!(
            tasks.is_controlling_terminal(grandchild, terminal.as_ref()),
            "fork inherits it"
        );
        tasks.setpgid(grandchild, grandchild, grandchild).unwrap();
        assert_eq!(
            tasks.check_terminal_access(grandchild, 0, terminal.as_ref(), libc::SIGTTIN),
            Err(Errno::EINTR),
            "a background reader is stopped"
        );
        assert_ne!(tasks.pending(grandchild) & signal::bit(libc::SIGTTIN), 0);
        assert_eq!(
            tasks.check_terminal_access(grandchild, signal::bit(libc::SIGTTIN), terminal.as_ref(), libc::SIGTTIN),
            Err(Errno::EIO),
            "a blocked SIGTTIN makes the read EIO"
        );
        assert_eq!(
            tasks.check_terminal_access(grandchild, signal::bit(libc::SIGTTOU), terminal.as_ref(), libc::SIGTTOU),
            Ok(()),
            "a blocked SIGTTOU lets the write through"
        );
        assert_eq!(
            tasks.set_foreground(child, 0, terminal.as_ref(), 999),
            Err(Errno::ESRCH)
        );
        assert_eq!(
            tasks.set_foreground(child, 0, terminal.as_ref(), INIT_PID),
            Err(Errno::EPERM)
        );
        assert_eq!(
            tasks.set_foreground(INIT_PID, 0, terminal.as_ref(), INIT_PID),
            Err(Errno::ENOTTY)
        );
        assert_eq!(tasks.set_foreground(child, 0, terminal.as_ref(), grandchild), Ok(()));
        assert_eq!(
            tasks.check_terminal_access(grandchild, 0, terminal.as_ref(), libc::SIGTTIN),
            Ok(())
        );
        let (other, _) = tasks.create_child(child, libc::SIGCHLD, false).unwrap();
        tasks.setsid(other).unwrap();
        assert!(tasks.controlling_terminal(other).is_none(), "setsid drops it");
        tasks.hang_up(terminal.as_ref());
        assert!(tasks.controlling_terminal(child).is_none());
        assert_eq!(
            *terminal.control().lock(),
            crate::vfs::terminal::ControlState::default()
        );
        assert_ne!(
            tasks.pending(child) & signal::bit(libc::SIGHUP),
            0,
            "the leader hears the hang-up"
        );
    }
}
