//! Signals: dispositions, masks and pending sets, sending to a thread, a
//! process or a group with Linux's rules (send_signal, kill(2)'s
//! permission check), dequeueing for delivery, and the job-control stop and
//! continue the parent hears of.
//!
//! Lock order: everything here runs under the task set's lock
//! (`TaskSet::inner`), which comes before the wakers (`Waker::sequence`) of
//! the threads a signal wakes and the `waiters` of a process's signal queue
//! (its signalfds, and epoll instances watching them); nothing else is
//! taken under it.

use std::sync::Arc;

use nix::errno::Errno;

use super::{INIT_PID, Inner, Life, TaskSet, WaitEvent};
use crate::abi::capability::Capability;
use crate::abi::credentials::Credentials;
use crate::abi::signal::{self, SIG_DFL, SIG_IGN, SigAction, SigInfo, SigSet, SignalActions};
use crate::sync::WaitQueue;

impl TaskSet {
    /// Runs `f` on the signal dispositions of `pid`.
    pub fn with_actions<T>(&self, pid: i32, f: impl FnOnce(&mut SignalActions) -> T) -> T {
        let mut inner = self.lock();
        let entry = inner
            .processes
            .get_mut(&pid)
            .expect("a running task is in the task set");
        f(&mut entry.actions)
    }

    /// Records thread `tid`'s blocked signals.
    pub fn set_blocked(&self, tid: i32, blocked: SigSet) {
        if let Some(thread) = self.lock().threads.get_mut(&tid) {
            thread.blocked = blocked;
        }
    }

    /// Whether some thread of process `pid` blocks `signo`: such a signal is
    /// queued even if ignored, since the handler may change before it is
    /// unblocked (Linux's sig_ignored()).
    fn blocked_in(inner: &Inner, pid: i32, signo: i32) -> bool {
        inner.processes.get(&pid).is_some_and(|process| {
            process.threads.iter().any(|tid| {
                inner
                    .threads
                    .get(tid)
                    .is_some_and(|t| t.blocked & signal::bit(signo) != 0)
            })
        })
    }

    /// The signals pending for thread `tid`: its own and its process's.
    pub fn pending(&self, tid: i32) -> SigSet {
        let inner = self.lock();
        let Some(thread) = inner.threads.get(&tid) else {
            return 0;
        };
        let process = inner.processes.get(&thread.tgid).map_or(0, |p| p.pending.set());
        thread.pending.set() | process
    }

    /// The signals pending for process `pid` as a whole.
    pub fn process_pending(&self, pid: i32) -> SigSet {
        self.lock().processes.get(&pid).map_or(0, |p| p.pending.set())
    }

    /// Where signalfds of process `pid` hear of its signals.
    pub fn signal_queue(&self, pid: i32) -> Option<Arc<WaitQueue>> {
        self.lock()
            .processes
            .get(&pid)
            .map(|process| Arc::clone(&process.signal_queue))
    }

    /// Whether thread `tid` has a signal to act on when `blocked` is its
    /// mask, or must go.
    pub fn has_deliverable(&self, tid: i32, blocked: SigSet) -> bool {
        let inner = self.lock();
        let Some(thread) = inner.threads.get(&tid) else {
            return true;
        };
        let Some(process) = inner.processes.get(&thread.tgid) else {
            return true;
        };
        let ready = (thread.pending.set() | process.pending.set()) & !(blocked & !signal::UNBLOCKABLE);
        // A PTRACE_INTERRUPT cuts a sleep short as a signal would.
        let interrupt = thread.trace.as_ref().is_some_and(|link| link.interrupt);
        ready != 0 || process.group_exit.is_some() || thread.doomed || interrupt
    }

    /// Takes the next signal for thread `tid` to act on, with its
    /// disposition: its own signals first, then its process's. Ignored
    /// signals are dropped on the way.
    pub fn dequeue_signal(&self, tid: i32, blocked: SigSet) -> Option<(SigInfo, SigAction)> {
        let mut inner = self.lock();
        let Inner { threads, processes, .. } = &mut *inner;
        let thread = threads.get_mut(&tid)?;
        let process = processes.get_mut(&thread.tgid)?;
        let blocked = blocked & !signal::UNBLOCKABLE;
        loop {
            let info = thread
                .pending
                .dequeue(blocked)
                .or_else(|| process.pending.dequeue(blocked))?;
            let action = process.actions.get(info.signo);
            if action.handler == SIG_IGN && info.signo != libc::SIGKILL && info.signo != libc::SIGSTOP {
                continue;
            }
            return Some((info, action));
        }
    }

    /// Drops pending instances of the signals in `set` for process `pid`
    /// and all its threads.
    pub fn discard_pending(&self, pid: i32, set: SigSet) {
        let mut inner = self.lock();
        let Inner { threads, processes, .. } = &mut *inner;
        if let Some(process) = processes.get_mut(&pid) {
            process.pending.discard(set);
            for tid in &process.threads {
                if let Some(thread) = threads.get_mut(tid) {
                    thread.pending.discard(set);
                }
            }
        }
    }

    /// Takes a pending signal in `set` out of the queues (sigtimedwait).
    pub fn take_signal(&self, tid: i32, set: SigSet) -> Option<SigInfo> {
        let mut inner = self.lock();
        let Inner { threads, processes, .. } = &mut *inner;
        let thread = threads.get_mut(&tid)?;
        let ready = thread.pending.set() & set;
        if ready != 0 {
            return thread.pending.take(ready.trailing_zeros() as i32 + 1);
        }
        let process = processes.get_mut(&thread.tgid)?;
        let ready = process.pending.set() & set;
        (ready != 0)
            .then(|| process.pending.take(ready.trailing_zeros() as i32 + 1))
            .flatten()
    }

    /// Sends a signal to one thread (tkill, tgkill, faults). With `tgid`,
    /// the thread must belong to that process.
    pub fn send_thread(&self, tid: i32, tgid: Option<i32>, sender: &Credentials, info: SigInfo) -> Result<(), Errno> {
        let mut inner = self.lock();
        let owner = inner.threads.get(&tid).map(|thread| thread.tgid).ok_or(Errno::ESRCH)?;
        if tgid.is_some_and(|tgid| tgid != owner) {
            return Err(Errno::ESRCH);
        }
        if !Self::may_signal(&inner, sender, owner) {
            return Err(Errno::EPERM);
        }
        Self::send_thread_locked(&mut inner, tid, info)
    }

    /// Sends a signal to thread `tid` with no permission check (the
    /// kernel's own: ptrace's SIGSTOP, PTRACE_O_EXITKILL's SIGKILL).
    pub(super) fn send_thread_locked(inner: &mut Inner, tid: i32, info: SigInfo) -> Result<(), Errno> {
        let owner = inner.threads.get(&tid).map(|thread| thread.tgid).ok_or(Errno::ESRCH)?;
        let blocked = inner
            .threads
            .get(&tid)
            .is_some_and(|t| t.blocked & signal::bit(info.signo.max(1)) != 0);
        let process = inner.processes.get(&owner).ok_or(Errno::ESRCH)?;
        let action = process.actions.get(info.signo.max(1));
        let fault = is_fault(&info);
        let ignored = process.actions.ignores(info.signo.max(1)) && info.signo != libc::SIGKILL && !fault && !blocked;
        let init_protected = owner == INIT_PID && action.handler == SIG_DFL && !fault && !blocked;
        if info.signo == 0 || ignored || init_protected || matches!(process.life, Life::Zombie { .. }) {
            return Ok(());
        }
        if STOP_SIGNALS & signal::bit(info.signo) != 0 || info.signo == libc::SIGCONT {
            // Job control acts on the whole process.
            return Self::send_locked(inner, owner, info);
        }
        let thread = inner.threads.get_mut(&tid).expect("looked up above");
        thread.pending.enqueue(info);
        thread.wake();
        inner.processes[&owner].signal_queue.notify_all();
        Ok(())
    }

    /// Sends a signal, applying the rules of Linux's send_signal: ignored
    /// signals are dropped at once, the namespace's init only receives
    /// signals it handles, SIGCONT resumes a stopped process and cancels
    /// pending stops, a stop signal cancels a pending SIGCONT.
    pub fn send(&self, pid: i32, info: SigInfo) -> Result<(), Errno> {
        let mut inner = self.lock();
        Self::send_locked(&mut inner, pid, info)
    }

    pub(super) fn send_locked(inner: &mut Inner, pid: i32, info: SigInfo) -> Result<(), Errno> {
        let blocked = Self::blocked_in(inner, pid, info.signo.max(1));
        let entry = inner.processes.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if matches!(entry.life, Life::Zombie { .. }) || info.signo == 0 {
            return Ok(());
        }
        let signo = info.signo;
        let action = entry.actions.get(signo);
        if pid == INIT_PID && action.handler == SIG_DFL && !is_fault(&info) && !blocked {
            // An init only gets the signals it has handlers for (pid_namespaces(7)).
            return Ok(());
        }
        if signo == libc::SIGCONT {
            Self::trace_continue_locked(inner, pid);
            let entry = inner.processes.get_mut(&pid).expect("looked up above");
            entry.pending.discard(STOP_SIGNALS);
            if let Life::Stopped { .. } = entry.life {
                entry.life = Life::Running;
                entry.continued = true;
                let ppid = entry.ppid;
                Self::notify_parent_locked(inner, ppid, pid, WaitEvent::Continued);
            }
        } else if STOP_SIGNALS & signal::bit(signo) != 0 {
            entry.pending.discard(signal::bit(libc::SIGCONT));
        }
        let entry = inner.processes.get_mut(&pid).expect("looked up above");
        if entry.actions.ignores(signo) && signo != libc::SIGKILL && !is_fault(&info) && !blocked {
            return Ok(());
        }
        entry.pending.enqueue(info);
        entry.signal_queue.notify_all();
        inner.wake_process(pid);
        Ok(())
    }

    /// Whether a sender with credentials `sender` may signal `target`
    /// (kill(2)): with CAP_KILL, or when its real or effective uid is the
    /// target's real or saved set-user-id. The kernel's own signals carry
    /// full credentials.
    fn may_signal(inner: &Inner, sender: &Credentials, target: i32) -> bool {
        let Some(entry) = inner.processes.get(&target) else {
            return false;
        };
        sender.has(Capability::KILL)
            || [sender.ruid, sender.euid]
                .iter()
                .any(|&uid| uid == entry.ruid || uid == entry.suid)
    }

    /// kill(2): `pid` > 0 one process, 0 the caller's group, -1 everyone
    /// but init and the caller, < -1 the group -pid.
    pub fn kill(&self, sender: i32, creds: &Credentials, pid: i32, info: SigInfo) -> Result<(), Errno> {
        let mut inner = self.lock();
        let targets: Vec<i32> = match pid {
            p if p > 0 => vec![p],
            0 => {
                let pgid = inner.processes.get(&sender).map_or(0, |entry| entry.pgid);
                Self::group_members(&inner, pgid)
            }
            -1 => inner
                .processes
                .keys()
                .copied()
                .filter(|&p| p != INIT_PID && p != sender)
                .collect(),
            p => Self::group_members(&inner, p.checked_neg().ok_or(Errno::ESRCH)?),
        };
        let alive: Vec<i32> = targets
            .into_iter()
            .filter(|p| {
                inner
                    .processes
                    .get(p)
                    .is_some_and(|entry| !matches!(entry.life, Life::Zombie { .. }) || pid > 0)
            })
            .collect();
        if alive.is_empty() {
            return Err(Errno::ESRCH);
        }
        let permitted: Vec<i32> = alive
            .iter()
            .copied()
            .filter(|&p| p == sender || Self::may_signal(&inner, creds, p))
            .collect();
        if permitted.is_empty() {
            return Err(Errno::EPERM);
        }
        for target in permitted {
            Self::send_locked(&mut inner, target, info)?;
        }
        Ok(())
    }

    /// Sends `signo` from the kernel to every live member of group `pgrp`
    /// (ISIG characters, SIGWINCH).
    pub fn signal_group(&self, pgrp: i32, signo: i32) {
        let mut inner = self.lock();
        Self::signal_group_locked(&mut inner, pgrp, signo);
    }

    pub(super) fn signal_group_locked(inner: &mut Inner, pgrp: i32, signo: i32) {
        for member in Self::group_members(inner, pgrp) {
            let _ = Self::send_locked(inner, member, SigInfo::from_kernel(signo));
        }
    }

    /// A job-control stop takes effect: the parent hears of it.
    pub fn stop(&self, pid: i32, signal: i32) {
        let mut inner = self.lock();
        let Some(entry) = inner.processes.get_mut(&pid) else {
            return;
        };
        entry.life = Life::Stopped {
            signal,
            reported: false,
        };
        let ppid = entry.ppid;
        Self::notify_parent_locked(&mut inner, ppid, pid, WaitEvent::Stopped(signal));
    }

    /// Whether `pid` is stopped (and must stay off the CPU).
    pub fn is_stopped(&self, pid: i32) -> bool {
        self.lock()
            .processes
            .get(&pid)
            .is_some_and(|entry| matches!(entry.life, Life::Stopped { .. }))
    }

    /// Tells the parent about a stop or continue: SIGCHLD unless
    /// SA_NOCLDSTOP, and a wake-up for its waits.
    fn notify_parent_locked(inner: &mut Inner, ppid: i32, child: i32, event: WaitEvent) {
        inner.notify_process(ppid);
        let Some(parent) = inner.processes.get(&ppid) else {
            return;
        };
        let action = parent.actions.get(libc::SIGCHLD);
        if action.flags & signal::SA_NOCLDSTOP == 0 {
            let code = match event {
                WaitEvent::Stopped(_) => 5, // CLD_STOPPED
                _ => 6,                     // CLD_CONTINUED
            };
            let status = match event {
                WaitEvent::Stopped(signal) => signal,
                _ => libc::SIGCONT,
            };
            let uid = inner.processes.get(&child).map_or(0, |entry| entry.ruid);
            let info = SigInfo {
                signo: libc::SIGCHLD,
                code,
                pid: child,
                uid,
                status,
                ..Default::default()
            };
            let _ = Self::send_locked(inner, ppid, info);
        }
    }
}

/// Job-control stop signals.
const STOP_SIGNALS: SigSet =
    signal::bit(libc::SIGSTOP) | signal::bit(libc::SIGTSTP) | signal::bit(libc::SIGTTIN) | signal::bit(libc::SIGTTOU);

/// Whether a signal was raised for the thread's own instruction: by the
/// CPU, or by a seccomp filter's TRAP (delivered even when blocked or
/// ignored, as Linux's force_sig does).
pub fn is_fault(info: &SigInfo) -> bool {
    info.code > 0
        && info.code != signal::SI_KERNEL
        && matches!(
            info.signo,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP | libc::SIGSYS
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::set::testing::set_with_child;

    #[test]
    fn init_ignores_default_signals_but_children_get_them() {
        let (tasks, child) = set_with_child();
        tasks
            .kill(
                child,
                &Credentials::default(),
                INIT_PID,
                SigInfo::from_process(libc::SIGTERM, 0, child, 0),
            )
            .unwrap();
        assert_eq!(tasks.pending(INIT_PID), 0);
        tasks
            .kill(
                INIT_PID,
                &Credentials::default(),
                child,
                SigInfo::from_process(libc::SIGTERM, 0, 1, 0),
            )
            .unwrap();
        assert_eq!(tasks.pending(child), signal::bit(libc::SIGTERM));
    }

    #[test]
    fn kill_checks_existence_and_permission() {
        let (tasks, child) = set_with_child();
        assert_eq!(
            tasks.kill(
                1,
                &Credentials::default(),
                999,
                SigInfo::from_process(libc::SIGTERM, 0, 1, 0)
            ),
            Err(Errno::ESRCH)
        );
        assert_eq!(
            tasks.kill(
                1,
                &Credentials::new(1000, 1000, vec![]),
                child,
                SigInfo::from_process(libc::SIGTERM, 0, 1, 1000)
            ),
            Err(Errno::EPERM)
        );
    }

    #[test]
    fn thread_signals_go_to_the_thread_and_process_signals_to_any() {
        let (tasks, child) = set_with_child();
        let (thread, _) = tasks.create_thread(child).unwrap();
        tasks
            .send_thread(
                thread,
                Some(child),
                &Credentials::default(),
                SigInfo::from_process(libc::SIGUSR1, 0, 1, 0),
            )
            .unwrap();
        assert_eq!(tasks.pending(child), 0);
        assert_eq!(tasks.pending(thread), signal::bit(libc::SIGUSR1));
        assert_eq!(
            tasks.send_thread(
                thread,
                Some(INIT_PID),
                &Credentials::default(),
                SigInfo::from_process(libc::SIGUSR1, 0, 1, 0)
            ),
            Err(Errno::ESRCH)
        );
        tasks
            .send(child, SigInfo::from_process(libc::SIGUSR2, 0, 1, 0))
            .unwrap();
        assert_eq!(tasks.pending(child), signal::bit(libc::SIGUSR2));
        assert_eq!(
            tasks.dequeue_signal(thread, 0).map(|(info, _)| info.signo),
            Some(libc::SIGUSR1)
        );
        assert_eq!(
            tasks.dequeue_signal(thread, 0).map(|(info, _)| info.signo),
            Some(libc::SIGUSR2)
        );
    }
}
