//! Creating and forgetting processes and threads: pid allocation, the
//! init, forks and clones, threads, processes the control plane starts,
//! and the ids a process or thread is known by.

use std::sync::Arc;

use nix::errno::Errno;

use super::{INIT_PID, Inner, ProcessEntry, TaskSet, ThreadEntry};
use crate::abi::credentials::Credentials;
use crate::abi::signal::SignalActions;
use crate::platform::ThreadHandle;
use crate::sync::Waker;
use crate::task::ContainerTag;
use crate::task::syscall_clock::SyscallClock;

/// Linux's default pid_max.
const PID_MAX: i32 = 1 << 22;

impl TaskSet {
    /// Registers the container's init (pid 1, its own group and session).
    pub fn create_init(&self, creds: &Credentials) -> Arc<Waker> {
        let mut inner = self.lock();
        let mut entry = ProcessEntry::new(
            0,
            INIT_PID,
            INIT_PID,
            (creds.ruid, creds.suid),
            0,
            SignalActions::default(),
        );
        entry.threads.insert(INIT_PID);
        let thread = ThreadEntry::new(INIT_PID);
        let waker = Arc::clone(&thread.waker);
        inner.processes.insert(INIT_PID, entry);
        inner.threads.insert(INIT_PID, thread);
        inner.last_pid = INIT_PID;
        waker
    }

    /// Registers a new thread of process `tgid`.
    pub fn create_thread(&self, tgid: i32) -> Result<(i32, Arc<Waker>), Errno> {
        let mut inner = self.lock();
        if inner.processes.get(&tgid).is_none_or(|p| p.group_exit.is_some()) {
            return Err(Errno::EAGAIN);
        }
        let tid = Self::allocate_pid(&mut inner)?;
        let thread = ThreadEntry::new(tgid);
        let waker = Arc::clone(&thread.waker);
        inner.threads.insert(tid, thread);
        inner
            .processes
            .get_mut(&tgid)
            .expect("checked above")
            .threads
            .insert(tid);
        Ok((tid, waker))
    }

    /// Forgets a thread whose creation failed before it ran.
    pub fn abandon_thread(&self, tid: i32) {
        let mut inner = self.lock();
        if let Some(thread) = inner.threads.remove(&tid) {
            if let Some(process) = inner.processes.get_mut(&thread.tgid) {
                process.threads.remove(&tid);
            }
        }
    }

    /// Registers a child of `parent` (fork/clone). With `same_parent`
    /// (CLONE_PARENT) the child is a sibling of the caller instead.
    pub fn create_child(&self, parent: i32, exit_signal: i32, same_parent: bool) -> Result<(i32, Arc<Waker>), Errno> {
        let mut inner = self.lock();
        let caller = inner.processes.get(&parent).ok_or(Errno::ESRCH)?;
        if caller.group_exit.is_some() {
            // Killed while it forked (Linux restarts the call, which never
            // returns): a child now would escape the kill.
            return Err(Errno::EINTR);
        }
        let ppid = if same_parent { caller.ppid } else { parent };
        let mut entry = ProcessEntry::new(
            ppid,
            caller.pgid,
            caller.sid,
            (caller.ruid, caller.suid),
            exit_signal,
            caller.actions.clone(),
        );
        entry.image = caller.image.clone();
        entry.oom_score_adj = caller.oom_score_adj;
        entry.comm = caller.comm.clone();
        entry.ctty = caller.ctty.clone();
        entry.container = caller.container;
        entry.persona = caller.persona;
        let pid = Self::allocate_pid(&mut inner)?;
        entry.threads.insert(pid);
        let thread = ThreadEntry::new(pid);
        let waker = Arc::clone(&thread.waker);
        inner.processes.insert(pid, entry);
        inner.threads.insert(pid, thread);
        if let Some(parent) = inner.processes.get_mut(&ppid) {
            parent.children.insert(pid);
        }
        Ok((pid, waker))
    }

    /// personality(2): sets process `pid`'s persona (unless `persona` is
    /// 0xffffffff, the query) and returns the one it had.
    pub fn set_persona(&self, pid: i32, persona: u32) -> u32 {
        let mut inner = self.lock();
        let Some(entry) = inner.processes.get_mut(&pid) else {
            return 0;
        };
        let old = entry.persona;
        if persona != u32::MAX {
            entry.persona = persona;
        }
        old
    }

    /// Records the user ids of `pid`'s leader thread after it changed them
    /// (set*uid), for the checks of who may signal it.
    pub fn set_ids(&self, pid: i32, creds: &Credentials) {
        if let Some(entry) = self.lock().processes.get_mut(&pid) {
            (entry.ruid, entry.suid) = (creds.ruid, creds.suid);
        }
    }

    /// Forgets a child whose creation failed before it ran.
    pub fn abandon_child(&self, pid: i32) {
        let mut inner = self.lock();
        if let Some(entry) = inner.processes.remove(&pid) {
            if let Some(parent) = inner.processes.get_mut(&entry.ppid) {
                parent.children.remove(&pid);
            }
        }
        inner.threads.remove(&pid);
    }

    /// Registers a process started by the control plane inside the running
    /// sandbox (`exec`): its parent is outside the sandbox (ppid 0, as for
    /// the init) and it leads a session and process group of its own.
    pub fn create_orphan(&self, creds: &Credentials, container: ContainerTag) -> Result<(i32, Arc<Waker>), Errno> {
        let mut inner = self.lock();
        let pid = Self::allocate_pid(&mut inner)?;
        let mut entry = ProcessEntry::new(0, pid, pid, (creds.ruid, creds.suid), 0, SignalActions::default());
        entry.container = container;
        entry.threads.insert(pid);
        let thread = ThreadEntry::new(pid);
        let waker = Arc::clone(&thread.waker);
        inner.processes.insert(pid, entry);
        inner.threads.insert(pid, thread);
        Ok((pid, waker))
    }

    fn allocate_pid(inner: &mut Inner) -> Result<i32, Errno> {
        for _ in 0..PID_MAX {
            inner.last_pid = if inner.last_pid >= PID_MAX - 1 {
                2
            } else {
                inner.last_pid + 1
            };
            let pid = inner.last_pid;
            if pid == INIT_PID {
                // Only `create_init` makes pid 1.
                continue;
            }
            let in_use = inner.processes.values().any(|p| p.pgid == pid || p.sid == pid);
            if !inner.processes.contains_key(&pid) && !inner.threads.contains_key(&pid) && !in_use {
                return Ok(pid);
            }
        }
        Err(Errno::EAGAIN)
    }

    pub fn set_thread_handle(&self, tid: i32, handle: Arc<dyn ThreadHandle>) {
        if let Some(thread) = self.lock().threads.get_mut(&tid) {
            thread.handle = Some(handle);
        }
    }

    /// The system-call clock of thread `tid`.
    pub fn syscall_clock(&self, tid: i32) -> Option<Arc<SyscallClock>> {
        self.lock().threads.get(&tid).map(|thread| Arc::clone(&thread.syscall))
    }

    /// The process a thread belongs to.
    pub fn tgid(&self, tid: i32) -> Option<i32> {
        self.lock().threads.get(&tid).map(|thread| thread.tgid)
    }

    pub fn ppid(&self, pid: i32) -> i32 {
        self.lock().processes.get(&pid).map_or(0, |entry| entry.ppid)
    }

    /// The number of processes alive or zombie.
    pub fn count(&self) -> usize {
        self.lock().processes.len()
    }

    /// Every process id, alive or zombie, in order.
    pub fn pids(&self) -> Vec<i32> {
        self.lock().processes.keys().copied().collect()
    }

    /// The thread ids of process `pid`.
    pub fn threads_of(&self, pid: i32) -> Vec<i32> {
        self.lock()
            .processes
            .get(&pid)
            .map(|entry| entry.threads.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The pid allocated last.
    pub fn last_pid(&self) -> i32 {
        self.lock().last_pid
    }
}
