//! What others read of a process without running it: the views and
//! snapshots /proc shows (see `task/view.rs`), its image, command name and
//! oom_score_adj, and its CPU time (times(2), getrusage(2), CPU clocks).
//!
//! Lock order: `snapshot` takes a terminal's `Control` lock under the task
//! set's (`TaskSet::inner`). The parts of a view (its `mm`, `fds`, `fs` and
//! `rlimits`) are never locked here; a replaced view or image is dropped
//! after the task set's lock is let go of, since it may hold the last
//! reference to an fd table, whose files' drop may take that lock.

use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;

use super::TaskSet;
use crate::abi::signal::{self, SIG_DFL, SIG_IGN};
use crate::task::view::{ProcessImage, ProcessSnapshot, TaskView, ThreadSnapshot};

impl TaskSet {
    /// CPU time of process `pid`: its exited threads' and its live ones'.
    pub fn process_cpu(&self, pid: i32) -> Duration {
        let inner = self.lock();
        let Some(process) = inner.processes.get(&pid) else {
            return Duration::ZERO;
        };
        let live: Duration = process
            .threads
            .iter()
            .filter_map(|tid| inner.threads.get(tid)?.handle.as_ref())
            .map(|handle| handle.cpu_time())
            .sum();
        process.exited_threads_cpu + live
    }

    /// CPU time of the reaped children of `pid` (RUSAGE_CHILDREN).
    pub fn children_cpu(&self, pid: i32) -> Duration {
        self.lock()
            .processes
            .get(&pid)
            .map_or(Duration::ZERO, |entry| entry.children_cpu)
    }

    /// Publishes what /proc shows of thread `tid` (see `task/view.rs`).
    pub fn publish_view(&self, tid: i32, view: Arc<TaskView>) {
        let old = {
            let mut inner = self.lock();
            let Some(thread) = inner.threads.get_mut(&tid) else {
                return;
            };
            let tgid = thread.tgid;
            let comm = view.comm.clone();
            let old = thread.view.replace(view);
            if tgid == tid {
                if let Some(process) = inner.processes.get_mut(&tgid) {
                    process.comm = comm;
                }
            }
            old
        };
        // The old view may hold the last reference to a replaced address
        // space: it goes outside the lock.
        drop(old);
    }

    /// The view thread `tid` last published.
    pub fn view(&self, tid: i32) -> Option<Arc<TaskView>> {
        self.lock().threads.get(&tid).and_then(|thread| thread.view.clone())
    }

    /// The published views of process `pid`'s threads, by tid.
    pub fn thread_views(&self, pid: i32) -> Vec<(i32, Arc<TaskView>)> {
        let inner = self.lock();
        let Some(process) = inner.processes.get(&pid) else {
            return Vec::new();
        };
        process
            .threads
            .iter()
            .filter_map(|tid| Some((*tid, inner.threads.get(tid)?.view.clone()?)))
            .collect()
    }

    /// How many threads process `pid` has.
    pub fn thread_count(&self, pid: i32) -> usize {
        self.lock()
            .processes
            .get(&pid)
            .map_or(0, |process| process.threads.len())
    }

    /// Withdraws the view of a thread letting go of its memory and files,
    /// so /proc keeps neither alive (a pipe must see its writer go).
    pub fn withdraw_view(&self, tid: i32) {
        let old = self.lock().threads.get_mut(&tid).and_then(|thread| thread.view.take());
        drop(old);
    }

    /// Records the program an execve loaded into process `pid`.
    pub fn set_image(&self, pid: i32, image: Arc<ProcessImage>) {
        let old = self
            .lock()
            .processes
            .get_mut(&pid)
            .and_then(|entry| entry.image.replace(image));
        drop(old);
    }

    /// Records the command name of process `pid` (its leader's comm).
    pub fn set_command(&self, pid: i32, command: &str) {
        if let Some(entry) = self.lock().processes.get_mut(&pid) {
            command.clone_into(&mut entry.comm);
        }
    }

    /// Writes /proc/PID/oom_score_adj.
    pub fn set_oom_score_adj(&self, pid: i32, value: i32) -> Result<(), Errno> {
        let mut inner = self.lock();
        let entry = inner.processes.get_mut(&pid).ok_or(Errno::ESRCH)?;
        entry.oom_score_adj = value;
        Ok(())
    }

    /// Everything /proc shows of process `pid`, copied out under the lock.
    pub fn snapshot(&self, pid: i32) -> Option<ProcessSnapshot> {
        let inner = self.lock();
        let entry = inner.processes.get(&pid)?;
        let threads = entry
            .threads
            .iter()
            .filter_map(|&tid| {
                let thread = inner.threads.get(&tid)?;
                Some(ThreadSnapshot {
                    tid,
                    view: thread.view.clone(),
                    handle: thread.handle.clone(),
                    sleeping: thread.waker.is_sleeping(),
                    started: thread.started,
                    pending: thread.pending.set(),
                    blocked: thread.blocked,
                })
            })
            .collect();
        let (mut ignored, mut caught) = (0, 0);
        for signo in (1..=64).filter(|&signo| signal::valid(signo)) {
            match entry.actions.get(signo).handler {
                SIG_DFL => {}
                SIG_IGN => ignored |= signal::bit(signo),
                _ => caught |= signal::bit(signo),
            }
        }
        Some(ProcessSnapshot {
            pid,
            ppid: entry.ppid,
            pgid: entry.pgid,
            sid: entry.sid,
            life: entry.life,
            uid: entry.ruid,
            exit_signal: entry.exit_signal,
            started: entry.started,
            image: entry.image.clone(),
            oom_score_adj: entry.oom_score_adj,
            comm: entry.comm.clone(),
            pending: entry.pending.set(),
            ignored,
            caught,
            exited_threads_cpu: entry.exited_threads_cpu,
            children_cpu: entry.children_cpu,
            threads,
            terminal: entry
                .ctty
                .as_ref()
                .map(|ctty| (ctty.device(), ctty.control().lock().foreground)),
        })
    }

    /// How many threads are not sleeping in the kernel, and how many there
    /// are (/proc/loadavg, /proc/stat).
    pub fn thread_counts(&self) -> (usize, usize) {
        let inner = self.lock();
        let running = inner
            .threads
            .values()
            .filter(|thread| !thread.waker.is_sleeping())
            .count();
        (running, inner.threads.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::ExitStatus;
    use crate::task::set::testing::{Credentials, exited};
    use crate::task::set::{INIT_PID, WaitTarget};

    #[test]
    fn snapshots_show_family_threads_and_what_children_inherit() {
        let tasks = TaskSet::default();
        tasks.create_init(&Credentials::new(1000, 1000, vec![]));
        tasks.set_oom_score_adj(INIT_PID, 300).unwrap();
        let (child, _) = tasks.create_child(INIT_PID, libc::SIGCHLD, false).unwrap();
        let (thread, _) = tasks.create_thread(child).unwrap();
        let snapshot = tasks.snapshot(child).unwrap();
        assert_eq!((snapshot.pid, snapshot.ppid, snapshot.uid), (child, INIT_PID, 1000));
        assert_eq!(snapshot.oom_score_adj, 300);
        let tids: Vec<i32> = snapshot.threads.iter().map(|thread| thread.tid).collect();
        assert_eq!(tids, [child, thread]);
        assert_eq!(snapshot.thread(None).map(|t| t.tid), Some(child));
        assert!(snapshot.view(None).is_none(), "nothing published yet");
        tasks.exit_thread(thread, ExitStatus::Exited(0), Duration::ZERO);
        tasks.exit_thread(child, ExitStatus::Exited(0), Duration::ZERO);
        let zombie = tasks.snapshot(child).unwrap();
        assert!(zombie.is_zombie() && zombie.threads.is_empty());
        tasks.wait(INIT_PID, WaitTarget::Any, exited()).unwrap();
        assert!(tasks.snapshot(child).is_none());
        assert_eq!(tasks.set_oom_score_adj(child, 1), Err(Errno::ESRCH));
    }
}
