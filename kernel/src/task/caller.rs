//! A task as the layers below see it: the thread a blocking operation
//! sleeps for ([`Block`]) and the caller of a file operation
//! ([`Caller`]).
//!
//! Lock order: each method takes one lock, a part of the task's (`fs`,
//! `mm`, `fds`, `rlimits`) or the task set's, and lets go of it before it
//! returns, so a file operation may call them with its own locks held (an
//! open file's `position` while /proc generates text).

use std::sync::Arc;

use nix::errno::Errno;

use super::Task;
use crate::abi::signal::SigSet;
use crate::abi::{Credentials, UserAddr};
use crate::sync::{Block, Waker};
use crate::vfs::caller::Caller;
use crate::vfs::terminal::Terminal;
use crate::vfs::{File, Location};

impl Block for Task {
    fn waker(&self) -> &Arc<Waker> {
        &self.waker
    }

    /// A signal the task does not block waits to be acted on.
    fn interrupted(&self) -> bool {
        self.tasks().has_deliverable(self.tid, self.signal_mask)
    }
}

impl Caller for Task {
    fn tid(&self) -> i32 {
        self.tid
    }

    fn pid(&self) -> i32 {
        self.pid
    }

    fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn root(&self) -> Location {
        self.fs().root.clone()
    }

    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        self.mm().copy_in(addr, buf)
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        self.mm().copy_out(addr, data)
    }

    fn install_fd(&self, file: Arc<dyn File>, close_on_exec: bool) -> Result<i32, Errno> {
        let limit = self.limit(libc::RLIMIT_NOFILE);
        self.fds().install(file, close_on_exec, 0, limit)
    }

    fn controlling_terminal(&self) -> Option<Arc<dyn Terminal>> {
        self.tasks().controlling_terminal(self.pid)
    }

    fn is_controlling_terminal(&self, terminal: &dyn Terminal) -> bool {
        self.tasks().is_controlling_terminal(self.pid, terminal)
    }

    fn check_terminal_access(&self, terminal: &dyn Terminal, signo: i32) -> Result<(), Errno> {
        self.tasks()
            .check_terminal_access(self.tid, self.signal_mask, terminal, signo)
    }

    fn set_controlling_terminal(&self, terminal: &Arc<dyn Terminal>, steal: bool, readable: bool) -> Result<(), Errno> {
        self.tasks()
            .set_controlling_terminal(self.pid, terminal, steal, readable)
    }

    fn drop_controlling_terminal(&self, terminal: &dyn Terminal) -> Result<(), Errno> {
        self.tasks().drop_controlling_terminal(self.pid, terminal)
    }

    fn set_foreground(&self, terminal: &dyn Terminal, pgrp: i32) -> Result<(), Errno> {
        self.tasks().set_foreground(self.tid, self.signal_mask, terminal, pgrp)
    }

    fn signal_group(&self, pgrp: i32, signo: i32) {
        self.tasks().signal_group(pgrp, signo);
    }
}

/// The task sleeping as if it blocked `blocked` rather than its mask:
/// rt_sigtimedwait(2) counts the signals it waits for as unblocked.
pub struct MaskedBlock<'a> {
    task: &'a Task,
    blocked: SigSet,
}

impl Task {
    /// A [`Block`] for this task with `blocked` as its signal mask.
    pub fn block_with_mask(&self, blocked: SigSet) -> MaskedBlock<'_> {
        MaskedBlock { task: self, blocked }
    }
}

impl Block for MaskedBlock<'_> {
    fn waker(&self) -> &Arc<Waker> {
        &self.task.waker
    }

    fn interrupted(&self) -> bool {
        self.task.tasks().has_deliverable(self.task.tid, self.blocked)
    }
}
