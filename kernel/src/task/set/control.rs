//! What the control plane and the watchdog ask of the task set: listings
//! (`ps`), container membership and CPU time, system calls that take too
//! long, and wake-ups of every thread (freezing, shutdown).
//!
//! Lock order: under the task set's lock (`TaskSet::inner`),
//! `interrupt_all` and `notify_all` take every thread's waker
//! (`Waker::sequence`); the CPU totals take the lock once per process,
//! never nested.

use std::time::{Duration, SystemTime};

use super::{Life, TaskSet};
use crate::task::ContainerTag;

/// One process as the control plane lists it (`ps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSummary {
    pub pid: i32,
    pub ppid: i32,
    pub command: String,
    pub life: Life,
    /// Every thread is inside a system call (asleep in the kernel, as far
    /// as anyone outside can tell).
    pub in_kernel: bool,
    pub started: SystemTime,
    pub container: ContainerTag,
}

/// A thread inside a system call, as the watchdog sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallInProgress {
    pub tid: i32,
    pub number: u64,
    pub duration: Duration,
    pub container: ContainerTag,
}

impl TaskSet {
    /// CPU time of container `tag`'s processes in the table (live or
    /// zombie), with their reaped children's.
    pub fn container_cpu(&self, tag: ContainerTag) -> Duration {
        let pids: Vec<i32> = self
            .lock()
            .processes
            .iter()
            .filter(|(_, entry)| entry.container == tag)
            .map(|(&pid, _)| pid)
            .collect();
        pids.into_iter()
            .map(|pid| self.process_cpu(pid) + self.children_cpu(pid))
            .sum()
    }

    /// Every process, zombies included, in pid order.
    pub fn summaries(&self) -> Vec<ProcessSummary> {
        let inner = self.lock();
        inner
            .processes
            .iter()
            .map(|(&pid, entry)| ProcessSummary {
                pid,
                ppid: entry.ppid,
                command: entry.comm.clone(),
                life: entry.life,
                in_kernel: entry
                    .threads
                    .iter()
                    .filter_map(|tid| inner.threads.get(tid))
                    .all(|thread| thread.syscall.current().is_some()),
                started: entry.created,
                container: entry.container,
            })
            .collect()
    }

    /// Whether a live process (not a zombie) belongs to container `tag`.
    pub fn has_live_members(&self, tag: ContainerTag) -> bool {
        self.lock()
            .processes
            .values()
            .any(|entry| entry.container == tag && !matches!(entry.life, Life::Zombie { .. }))
    }

    /// The container of process `pid`, while it is known.
    pub fn container(&self, pid: i32) -> Option<ContainerTag> {
        self.lock().processes.get(&pid).map(|entry| entry.container)
    }

    /// Threads serving one system call for longer than `threshold`.
    pub fn syscalls_longer_than(&self, threshold: Duration) -> Vec<SyscallInProgress> {
        let inner = self.lock();
        inner
            .threads
            .iter()
            .filter_map(|(&tid, thread)| {
                let (number, duration) = thread.syscall.current()?;
                let container = inner
                    .processes
                    .get(&thread.tgid)
                    .map_or(ContainerTag::ROOT, |process| process.container);
                (duration > threshold).then_some(SyscallInProgress {
                    tid,
                    number,
                    duration,
                    container,
                })
            })
            .collect()
    }

    /// CPU time used by every process of the sandbox, live, zombie or
    /// reaped.
    pub fn total_cpu(&self) -> Duration {
        let pids: Vec<i32> = self.lock().processes.keys().copied().collect();
        let mut total = self.lock().orphans_cpu;
        for pid in pids {
            total += self.process_cpu(pid) + self.children_cpu(pid);
        }
        total
    }

    /// Kicks every thread: those in application code come back to the
    /// kernel, those asleep in it re-check what they wait for.
    pub fn interrupt_all(&self) {
        for thread in self.lock().threads.values() {
            thread.wake();
        }
    }

    /// Wakes every thread asleep in the kernel.
    pub fn notify_all(&self) {
        for thread in self.lock().threads.values() {
            thread.waker.notify();
        }
    }
}
