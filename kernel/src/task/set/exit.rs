//! The end of threads and processes: exit_group and fatal signals, the
//! threads an execve ends, zombies, reparenting to the nearest subreaper or
//! init, the parent death signal, vfork and exec completion, and the
//! reaping of zombies no process in the sandbox will wait for.
//!
//! Lock order: under the task set's lock (`TaskSet::inner`) an exit wakes
//! threads (their wakers' `sequence`) and, when a session leader goes,
//! takes its terminal's `Control` lock (see `terminals`); the zombies
//! reaped here hold no open file. The thread that execs waits for the
//! others with the lock let go of.

use std::time::Duration;

use super::{INIT_PID, Inner, Life, TaskSet};
use crate::abi::ExitStatus;
use crate::abi::signal::{self, CLD_EXITED, CLD_KILLED, PendingSignals, SIG_IGN, SigInfo};
use crate::sync::Waker;
use crate::task::ContainerTag;

impl TaskSet {
    /// exit_group(2) or a fatal signal: every thread of the process is
    /// told to go, and the process ends with `status` once the last has.
    pub fn exit_group(&self, tgid: i32, status: ExitStatus) {
        let mut inner = self.lock();
        let Some(process) = inner.processes.get_mut(&tgid) else {
            return;
        };
        if process.group_exit.is_some() {
            return;
        }
        process.group_exit = Some(status);
        inner.wake_process(tgid);
    }

    /// Ends every live process of container `tag` (every process with
    /// None) with `status`, at once: none of them can fork a child that
    /// escapes, since a process that is exiting forks no more.
    pub fn exit_container(&self, tag: Option<ContainerTag>, status: ExitStatus) {
        let mut inner = self.lock();
        let doomed: Vec<i32> = inner
            .processes
            .iter()
            .filter(|(_, process)| tag.is_none_or(|tag| process.container == tag))
            .filter(|(_, process)| process.group_exit.is_none() && !matches!(process.life, Life::Zombie { .. }))
            .map(|(&pid, _)| pid)
            .collect();
        for pid in doomed {
            if let Some(process) = inner.processes.get_mut(&pid) {
                process.group_exit = Some(status);
            }
            inner.wake_process(pid);
        }
    }

    /// Whether thread `tid` must go now: its process is exiting as a whole,
    /// or another thread's execve ends it.
    pub fn must_exit(&self, tid: i32) -> Option<ExitStatus> {
        let inner = self.lock();
        let thread = inner.threads.get(&tid)?;
        if thread.doomed {
            return Some(ExitStatus::Signaled(libc::SIGKILL));
        }
        inner.processes.get(&thread.tgid)?.group_exit
    }

    /// execve(2) in a multi-threaded process: every other thread goes, and
    /// the caller waits until they are gone. False if the caller itself was
    /// told to go meanwhile.
    pub fn become_sole_thread(&self, tid: i32, waker: &Waker) -> bool {
        {
            let mut inner = self.lock();
            let Some(tgid) = inner.threads.get(&tid).map(|thread| thread.tgid) else {
                return false;
            };
            let others: Vec<i32> = inner
                .processes
                .get(&tgid)
                .map(|p| p.threads.iter().copied().filter(|&t| t != tid).collect())
                .unwrap_or_default();
            for other in others {
                if let Some(thread) = inner.threads.get_mut(&other) {
                    thread.doomed = true;
                    thread.wake();
                }
            }
        }
        loop {
            let seen = waker.sequence();
            {
                let inner = self.lock();
                let Some(thread) = inner.threads.get(&tid) else {
                    return false;
                };
                let Some(process) = inner.processes.get(&thread.tgid) else {
                    return false;
                };
                if process.group_exit.is_some() || thread.doomed {
                    return false;
                }
                if process.threads.len() == 1 {
                    return true;
                }
            }
            waker.wait(seen, Some(std::time::Instant::now() + Duration::from_millis(10)));
        }
    }

    /// After execve by a non-leader thread: it takes the process's pid as
    /// its tid (the old leader is gone).
    pub fn take_over_leader(&self, tid: i32, pid: i32) {
        let mut inner = self.lock();
        if let Some(thread) = inner.threads.remove(&tid) {
            inner.threads.insert(pid, thread);
        }
        if let Some(process) = inner.processes.get_mut(&pid) {
            process.threads.remove(&tid);
            process.threads.insert(pid);
        }
    }

    /// Marks that `pid` exec'd: its vfork parent may go on, and its parent
    /// may no longer change its process group.
    pub fn exec_done(&self, pid: i32) {
        let mut inner = self.lock();
        let Some(entry) = inner.processes.get_mut(&pid) else {
            return;
        };
        entry.execed = true;
        entry.vfork_done = true;
        let ppid = entry.ppid;
        inner.notify_process(ppid);
    }

    pub fn vfork_done(&self, child: i32) -> bool {
        self.lock().processes.get(&child).is_none_or(|entry| entry.vfork_done)
    }

    /// Adds the final CPU time of exiting thread `tid` to its process's
    /// exited-threads total and stops counting the thread as live, in one
    /// step, so the process's CPU clock never loses it.
    pub fn settle_thread_cpu(&self, tid: i32, cpu: Duration) {
        let mut inner = self.lock();
        let Some(thread) = inner.threads.get_mut(&tid) else {
            return;
        };
        thread.handle = None;
        let tgid = thread.tgid;
        if let Some(process) = inner.processes.get_mut(&tgid) {
            process.exited_threads_cpu += cpu;
        }
    }

    /// Thread `tid` is gone. The last thread of a process takes the process
    /// with it, with the group's status or, without one, its own.
    /// Returns the process's status if it ended.
    pub fn exit_thread(&self, tid: i32, status: ExitStatus, cpu: Duration) -> Option<ExitStatus> {
        let mut inner = self.lock();
        let thread = inner.threads.remove(&tid)?;
        let tgid = thread.tgid;
        let link = thread.trace.as_ref().map(|link| (link.tracer, link.options));
        let process = inner.processes.get_mut(&tgid)?;
        process.threads.remove(&tid);
        process.exited_threads_cpu += cpu;
        let last = process.threads.is_empty();
        let status = if last {
            process.group_exit.unwrap_or(status)
        } else {
            status
        };
        let total = process.exited_threads_cpu;
        Self::trace_thread_exit(&mut inner, tid, tgid, link, status, last);
        if !last {
            return None;
        }
        Self::exit_process_locked(&mut inner, tgid, status, total);
        Some(status)
    }

    /// The process is gone: it becomes a zombie, its children go to the
    /// nearest subreaper or init, and its parent gets the exit signal. When
    /// init exits, every other process is killed (pid_namespaces(7)).
    fn exit_process_locked(inner: &mut Inner, pid: i32, status: ExitStatus, cpu: Duration) {
        let Some(entry) = inner.processes.get_mut(&pid) else {
            return;
        };
        entry.life = Life::Zombie { status, cpu };
        entry.vfork_done = true;
        entry.pending = PendingSignals::default();
        let children = std::mem::take(&mut entry.children);
        let (ppid, exit_signal, uid) = (entry.ppid, entry.exit_signal, entry.ruid);
        let leader = entry.sid == pid;
        if let Some(ctty) = entry.ctty.take() {
            if leader {
                Self::disassociate(inner, pid, ctty.as_ref(), true);
            }
        }

        if pid == INIT_PID {
            let others: Vec<i32> = inner
                .processes
                .iter()
                .filter(|(other, entry)| **other != INIT_PID && !matches!(entry.life, Life::Zombie { .. }))
                .map(|(other, _)| *other)
                .collect();
            for other in others {
                if let Some(entry) = inner.processes.get_mut(&other) {
                    entry.group_exit.get_or_insert(ExitStatus::Signaled(libc::SIGKILL));
                }
                inner.wake_process(other);
            }
        }
        let reaper = Self::reaper_for(inner, ppid);
        for &child in &children {
            let signo = inner.processes.get(&child).map_or(0, |entry| entry.parent_death_signal);
            if signo != 0 {
                let _ = Self::send_locked(inner, child, SigInfo::from_process(signo, signal::SI_USER, pid, uid));
            }
        }
        for child in children {
            if let Some(entry) = inner.processes.get_mut(&child) {
                entry.ppid = reaper;
            }
            if let Some(reaper) = inner.processes.get_mut(&reaper) {
                reaper.children.insert(child);
            }
            inner.notify_process(reaper);
        }
        inner.notify_process(ppid);
        let Some(parent) = inner.processes.get(&ppid) else {
            // The init's parent is outside the sandbox: the control plane
            // reads the status from the task's own result.
            return;
        };
        let action = parent.actions.get(libc::SIGCHLD);
        let autoreap =
            exit_signal == libc::SIGCHLD && (action.handler == SIG_IGN || action.flags & signal::SA_NOCLDWAIT != 0);
        if exit_signal > 0 {
            let (code, value) = match status {
                ExitStatus::Exited(code) => (CLD_EXITED, i32::from(code)),
                ExitStatus::Signaled(signal) => (CLD_KILLED, signal),
            };
            let info = SigInfo {
                signo: exit_signal,
                code,
                pid,
                uid,
                status: value,
                ..Default::default()
            };
            let _ = Self::send_locked(inner, ppid, info);
        }
        if autoreap {
            inner.processes.remove(&pid);
            if let Some(parent) = inner.processes.get_mut(&ppid) {
                parent.children.remove(&pid);
            }
        }
    }

    /// The process that adopts the orphans of a child of `ancestor`: the
    /// nearest living subreaper among its ancestors, else init.
    fn reaper_for(inner: &Inner, ancestor: i32) -> i32 {
        let mut at = ancestor;
        while let Some(entry) = inner.processes.get(&at) {
            if entry.subreaper && !matches!(entry.life, Life::Zombie { .. }) {
                return at;
            }
            at = entry.ppid;
        }
        INIT_PID
    }

    /// PR_SET_PDEATHSIG / PR_GET_PDEATHSIG.
    pub fn set_parent_death_signal(&self, pid: i32, signo: i32) {
        if let Some(entry) = self.lock().processes.get_mut(&pid) {
            entry.parent_death_signal = signo;
        }
    }

    pub fn parent_death_signal(&self, pid: i32) -> i32 {
        self.lock()
            .processes
            .get(&pid)
            .map_or(0, |entry| entry.parent_death_signal)
    }

    pub fn set_subreaper(&self, pid: i32, on: bool) {
        if let Some(entry) = self.lock().processes.get_mut(&pid) {
            entry.subreaper = on;
        }
    }

    pub fn is_subreaper(&self, pid: i32) -> bool {
        self.lock().processes.get(&pid).is_some_and(|entry| entry.subreaper)
    }

    /// Removes `pid` if it is a zombie no process in the sandbox will reap:
    /// its parent is outside (the init, exec'd processes) or gone, or is a
    /// zombie itself (the children of a dead init). Returns the CPU time it
    /// and its reaped children used, if it did.
    pub fn reap_orphan(&self, pid: i32) -> Option<Duration> {
        let mut inner = self.lock();
        let entry = inner.processes.get(&pid)?;
        let Life::Zombie { cpu, .. } = entry.life else {
            return None;
        };
        let parent_reaps = inner
            .processes
            .get(&entry.ppid)
            .is_some_and(|parent| !matches!(parent.life, Life::Zombie { .. }));
        if parent_reaps {
            return None;
        }
        let children_cpu = entry.children_cpu;
        let ppid = entry.ppid;
        inner.processes.remove(&pid);
        if let Some(parent) = inner.processes.get_mut(&ppid) {
            parent.children.remove(&pid);
        }
        inner.orphans_cpu += cpu + children_cpu;
        Some(cpu + children_cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::set::WaitTarget;
    use crate::task::set::testing::{exited, set_with_child};

    #[test]
    fn parent_death_signal_reaches_the_orphan() {
        let (tasks, child) = set_with_child();
        let (grandchild, _) = tasks.create_child(child, libc::SIGCHLD, false).unwrap();
        tasks.set_parent_death_signal(grandchild, libc::SIGUSR1);
        tasks.exit_thread(child, ExitStatus::Exited(0), Duration::ZERO);
        assert_eq!(tasks.pending(grandchild), signal::bit(libc::SIGUSR1));
    }

    #[test]
    fn orphans_go_to_init() {
        let (tasks, child) = set_with_child();
        let (grandchild, _) = tasks.create_child(child, libc::SIGCHLD, false).unwrap();
        tasks.exit_thread(child, ExitStatus::Exited(0), Duration::ZERO);
        assert_eq!(tasks.ppid(grandchild), INIT_PID);
    }

    #[test]
    fn a_process_ends_with_its_last_thread_and_the_group_status() {
        let (tasks, child) = set_with_child();
        let (thread, _) = tasks.create_thread(child).unwrap();
        assert_eq!(
            tasks.exit_thread(child, ExitStatus::Exited(0), Duration::ZERO),
            None,
            "the leader went first"
        );
        assert_eq!(tasks.wait(INIT_PID, WaitTarget::Any, exited()), Ok(None));
        tasks.exit_group(child, ExitStatus::Exited(4));
        assert_eq!(tasks.must_exit(thread), Some(ExitStatus::Exited(4)));
        assert_eq!(
            tasks.exit_thread(thread, ExitStatus::Exited(0), Duration::ZERO),
            Some(ExitStatus::Exited(4))
        );
        let result = tasks.wait(INIT_PID, WaitTarget::Pid(child), exited()).unwrap().unwrap();
        assert_eq!(result.event.status_word(), 4 << 8);
    }
}
