//! Blocking a task in the kernel, interruptibly.

use std::sync::Arc;
use std::time::Instant;

use nix::errno::Errno;

use super::set::TaskSet;
use crate::abi::signal::SigSet;
use crate::sync::{WaitQueue, Waker};

/// What a blocking operation needs to sleep on behalf of a task: its waker,
/// and how to tell whether a signal should cut the sleep short.
pub struct Blocker<'a> {
    waker: &'a Arc<Waker>,
    tasks: &'a TaskSet,
    /// The blocked thread's id.
    pid: i32,
    blocked: SigSet,
}

impl<'a> Blocker<'a> {
    pub fn new(waker: &'a Arc<Waker>, tasks: &'a TaskSet, pid: i32, blocked: SigSet) -> Self {
        Blocker {
            waker,
            tasks,
            pid,
            blocked,
        }
    }

    /// The thread this blocker sleeps for.
    pub fn tid(&self) -> i32 {
        self.pid
    }

    /// The task set the thread belongs to.
    pub fn tasks(&self) -> &TaskSet {
        self.tasks
    }

    /// Job control for a read (`SIGTTIN`) or write (`SIGTTOU`) of
    /// `terminal` by the blocked task; see
    /// [`TaskSet::check_terminal_access`].
    pub fn check_terminal_access(
        &self,
        terminal: &dyn crate::vfs::terminal::Terminal,
        signo: i32,
    ) -> Result<(), Errno> {
        self.tasks
            .check_terminal_access(self.pid, self.blocked, terminal, signo)
    }

    /// Whether a signal waits to be acted on.
    pub fn interrupted(&self) -> bool {
        self.tasks.has_deliverable(self.pid, self.blocked)
    }

    /// Like [`block_on`](Self::block_on), waking on any of `queues`.
    pub fn block_on_any<T>(
        &self,
        queues: &[&WaitQueue],
        deadline: Option<Instant>,
        attempt: impl FnMut() -> Option<Result<T, Errno>>,
    ) -> Result<T, Errno> {
        for queue in queues {
            queue.register(self.waker);
        }
        let result = self.block_on(None, deadline, attempt);
        for queue in queues {
            queue.unregister(self.waker);
        }
        result
    }

    /// Runs `attempt` until it gives an answer. Between attempts the task
    /// sleeps until `queue` (if any) is notified, a signal arrives (EINTR)
    /// or `deadline` passes (ETIMEDOUT).
    pub fn block_on<T>(
        &self,
        queue: Option<&WaitQueue>,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Option<Result<T, Errno>>,
    ) -> Result<T, Errno> {
        if let Some(queue) = queue {
            queue.register(self.waker);
        }
        let result = loop {
            let seen = self.waker.sequence();
            if let Some(result) = attempt() {
                break result;
            }
            if self.interrupted() {
                break Err(Errno::EINTR);
            }
            if !self.waker.wait(seen, deadline) {
                break Err(Errno::ETIMEDOUT);
            }
        };
        if let Some(queue) = queue {
            queue.unregister(self.waker);
        }
        result
    }
}
