//! The task set: the sandbox's PID namespace, with every process, their
//! family ties, process groups, sessions, pending signals and exit states.
//!
//! One lock guards all of it, as Linux's tasklist_lock guards the process
//! tree: operations that span processes (kill of a group, exit with
//! reparenting, wait) see one consistent picture.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;

use super::ContainerTag;
use super::syscall_clock::SyscallClock;
use super::view::{ProcessImage, ProcessSnapshot, TaskView, ThreadSnapshot};
use crate::abi::ExitStatus;
use crate::abi::signal::{
    self, CLD_EXITED, CLD_KILLED, PendingSignals, SIG_DFL, SIG_IGN, SigAction, SigInfo, SigSet, SignalActions,
};
use crate::platform::ThreadHandle;
use crate::sync::{WaitQueue, Waker};
use crate::vfs::terminal::{Terminal, same_terminal};

/// The pid of the container's init.
pub const INIT_PID: i32 = 1;
/// Linux's default pid_max.
const PID_MAX: i32 = 1 << 22;

/// How far a process has got in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    Running,
    /// Stopped by a job-control signal; `reported` once a waiter saw it.
    Stopped {
        signal: i32,
        reported: bool,
    },
    /// Exited, waiting to be reaped.
    Zombie {
        status: ExitStatus,
        cpu: Duration,
    },
}

/// One process as the rest of the sandbox sees it.
pub struct ProcessEntry {
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub children: BTreeSet<i32>,
    pub life: Life,
    /// SIGCONT resumed it and no waiter has seen that yet (WCONTINUED).
    pub continued: bool,
    /// The signal the parent gets at exit (SIGCHLD, or the clone exit
    /// signal; 0 for none).
    pub exit_signal: i32,
    pub pending: PendingSignals,
    pub actions: SignalActions,
    /// The real uid, for kill(2) permission checks.
    pub uid: u32,
    /// PR_SET_CHILD_SUBREAPER.
    pub subreaper: bool,
    /// Has called execve: setpgid(2) by the parent is then EACCES.
    pub execed: bool,
    /// A vfork parent waits until this child execs or exits.
    pub vfork_done: bool,
    /// The threads of the process, by tid.
    pub threads: BTreeSet<i32>,
    /// CPU time of reaped children and their descendants (RUSAGE_CHILDREN).
    pub children_cpu: Duration,
    /// CPU time of the process's threads that have exited.
    pub exited_threads_cpu: Duration,
    /// PR_SET_PDEATHSIG: sent to this process when its parent exits.
    pub parent_death_signal: i32,
    /// Set by exit_group or a fatal signal: every thread is on its way out
    /// and the process ends with this status.
    pub group_exit: Option<ExitStatus>,
    /// Told of every signal queued for the process or one of its threads:
    /// where signalfds (and epoll instances watching them) listen, as on
    /// Linux's sighand->signalfd_wqh.
    pub signal_queue: Arc<WaitQueue>,
    /// When the process was created (fork keeps it through execve).
    pub started: Instant,
    /// The program the last execve loaded, for /proc.
    pub image: Option<Arc<ProcessImage>>,
    /// /proc/PID/oom_score_adj: remembered, inherited, never acted on.
    pub oom_score_adj: i32,
    /// The leader's command name as last published, which a zombie keeps.
    pub comm: String,
    /// The controlling terminal (inherited by fork, dropped by setsid).
    pub ctty: Option<Arc<dyn Terminal>>,
    /// The container the process belongs to, inherited at fork.
    pub container: ContainerTag,
    /// When the process was created, on the wall clock (`ps`).
    pub created: SystemTime,
}

/// One thread: what other threads need to reach it.
pub struct ThreadEntry {
    pub tgid: i32,
    /// Signals sent to this thread alone (tkill, tgkill, faults).
    pub pending: PendingSignals,
    pub waker: Arc<Waker>,
    /// Kicks the thread out of application code; None until it runs.
    pub handle: Option<Arc<dyn ThreadHandle>>,
    /// Another thread's execve ends this one.
    pub doomed: bool,
    /// The thread's blocked signals, as last published.
    pub blocked: SigSet,
    /// What /proc shows of the thread; None before it runs and once it
    /// has let go of its memory and files.
    pub view: Option<Arc<TaskView>>,
    pub started: Instant,
    /// The system call the thread serves, for the watchdog.
    pub syscall: Arc<SyscallClock>,
}

impl ThreadEntry {
    fn new(tgid: i32) -> Self {
        ThreadEntry {
            tgid,
            pending: PendingSignals::default(),
            waker: Waker::new(),
            handle: None,
            doomed: false,
            blocked: 0,
            view: None,
            started: Instant::now(),
            syscall: Arc::default(),
        }
    }

    /// Wakes the thread if it sleeps in the kernel, and kicks it out of
    /// application code if it runs there.
    fn wake(&self) {
        self.waker.notify();
        if let Some(handle) = &self.handle {
            handle.interrupt();
        }
    }
}

impl ProcessEntry {
    fn new(ppid: i32, pgid: i32, sid: i32, uid: u32, exit_signal: i32, actions: SignalActions) -> Self {
        ProcessEntry {
            ppid,
            pgid,
            sid,
            children: BTreeSet::new(),
            life: Life::Running,
            continued: false,
            exit_signal,
            pending: PendingSignals::default(),
            actions,
            uid,
            subreaper: false,
            execed: false,
            vfork_done: false,
            threads: BTreeSet::new(),
            children_cpu: Duration::ZERO,
            parent_death_signal: 0,
            exited_threads_cpu: Duration::ZERO,
            group_exit: None,
            container: ContainerTag::ROOT,
            signal_queue: Arc::new(WaitQueue::default()),
            started: Instant::now(),
            image: None,
            oom_score_adj: 0,
            comm: String::new(),
            ctty: None,
            created: SystemTime::now(),
        }
    }
}

/// Which children a wait selects (the pid argument of wait4, or idtype and
/// id of waitid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitTarget {
    Any,
    Pid(i32),
    Group(i32),
}

/// Which changes of state a wait reports, and how.
#[derive(Debug, Clone, Copy, Default)]
pub struct WaitOptions {
    pub exited: bool,
    pub stopped: bool,
    pub continued: bool,
    /// WNOWAIT: leave the child waitable.
    pub keep: bool,
    /// __WALL / __WCLONE: which exit signals count.
    pub all: bool,
    pub clone_only: bool,
}

/// What a wait found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitResult {
    pub pid: i32,
    pub uid: u32,
    pub event: WaitEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEvent {
    Exited { status: ExitStatus, cpu: Duration },
    Stopped(i32),
    Continued,
}

impl WaitEvent {
    /// The status word wait4(2) stores.
    pub fn status_word(&self) -> i32 {
        match *self {
            WaitEvent::Exited {
                status: ExitStatus::Exited(code),
                ..
            } => i32::from(code) << 8,
            WaitEvent::Exited {
                status: ExitStatus::Signaled(signal),
                ..
            } => signal & 0x7f,
            WaitEvent::Stopped(signal) => (signal << 8) | 0x7f,
            WaitEvent::Continued => 0xffff,
        }
    }
}

struct Inner {
    processes: BTreeMap<i32, ProcessEntry>,
    threads: BTreeMap<i32, ThreadEntry>,
    last_pid: i32,
    /// CPU time of processes reaped with [`TaskSet::reap_orphan`].
    orphans_cpu: Duration,
}

impl Inner {
    /// Wakes every thread of process `pid`.
    fn wake_process(&self, pid: i32) {
        if let Some(process) = self.processes.get(&pid) {
            for tid in &process.threads {
                if let Some(thread) = self.threads.get(tid) {
                    thread.wake();
                }
            }
        }
    }

    /// Wakes every thread of process `pid` that sleeps, without kicking
    /// running ones (news for wait4, vfork).
    fn notify_process(&self, pid: i32) {
        if let Some(process) = self.processes.get(&pid) {
            for tid in &process.threads {
                if let Some(thread) = self.threads.get(tid) {
                    thread.waker.notify();
                }
            }
        }
    }
}

/// Every process of the sandbox.
pub struct TaskSet {
    inner: Mutex<Inner>,
}

impl Default for TaskSet {
    fn default() -> Self {
        TaskSet {
            inner: Mutex::new(Inner {
                processes: BTreeMap::new(),
                threads: BTreeMap::new(),
                last_pid: 0,
                orphans_cpu: Duration::ZERO,
            }),
        }
    }
}

impl TaskSet {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("task set poisoned")
    }

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

    /// Registers the container's init (pid 1, its own group and session).
    pub fn create_init(&self, uid: u32) -> Arc<Waker> {
        let mut inner = self.lock();
        let mut entry = ProcessEntry::new(0, INIT_PID, INIT_PID, uid, 0, SignalActions::default());
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

    /// The process a thread belongs to.
    pub fn tgid(&self, tid: i32) -> Option<i32> {
        self.lock().threads.get(&tid).map(|thread| thread.tgid)
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
            caller.uid,
            exit_signal,
            caller.actions.clone(),
        );
        entry.image = caller.image.clone();
        entry.oom_score_adj = caller.oom_score_adj;
        entry.comm = caller.comm.clone();
        entry.ctty = caller.ctty.clone();
        entry.container = caller.container;
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

    /// Publishes what /proc shows of thread `tid` (see `view.rs`).
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
            uid: entry.uid,
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

    /// The pid allocated last.
    pub fn last_pid(&self) -> i32 {
        self.lock().last_pid
    }

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
        ready != 0 || process.group_exit.is_some() || thread.doomed
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
    pub fn send_thread(&self, tid: i32, tgid: Option<i32>, uid: u32, info: SigInfo) -> Result<(), Errno> {
        let mut inner = self.lock();
        let owner = inner.threads.get(&tid).map(|thread| thread.tgid).ok_or(Errno::ESRCH)?;
        if tgid.is_some_and(|tgid| tgid != owner) {
            return Err(Errno::ESRCH);
        }
        if !Self::may_signal(&inner, uid, owner) {
            return Err(Errno::EPERM);
        }
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
            return Self::send_locked(&mut inner, owner, info);
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

    fn send_locked(inner: &mut Inner, pid: i32, info: SigInfo) -> Result<(), Errno> {
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

    /// Whether `sender` (with uid `uid`) may signal `target`: root, or the
    /// same uid (kill(2) without saved set-user-ids).
    fn may_signal(inner: &Inner, uid: u32, target: i32) -> bool {
        uid == 0 || inner.processes.get(&target).is_some_and(|entry| entry.uid == uid)
    }

    /// kill(2): `pid` > 0 one process, 0 the caller's group, -1 everyone
    /// but init and the caller, < -1 the group -pid.
    pub fn kill(&self, sender: i32, uid: u32, pid: i32, info: SigInfo) -> Result<(), Errno> {
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
            .filter(|&p| Self::may_signal(&inner, uid, p))
            .collect();
        if permitted.is_empty() {
            return Err(Errno::EPERM);
        }
        for target in permitted {
            Self::send_locked(&mut inner, target, info)?;
        }
        Ok(())
    }

    fn group_members(inner: &Inner, pgid: i32) -> Vec<i32> {
        inner
            .processes
            .iter()
            .filter(|(_, entry)| entry.pgid == pgid)
            .map(|(&pid, _)| pid)
            .collect()
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
            let uid = inner.processes.get(&child).map_or(0, |entry| entry.uid);
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
        let process = inner.processes.get_mut(&tgid)?;
        process.threads.remove(&tid);
        process.exited_threads_cpu += cpu;
        if !process.threads.is_empty() {
            return None;
        }
        let status = process.group_exit.unwrap_or(status);
        let total = process.exited_threads_cpu;
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
        let (ppid, exit_signal, uid) = (entry.ppid, entry.exit_signal, entry.uid);
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

    /// Looks for a child of `parent` with news for a wait: ECHILD when no
    /// child matches at all, None when none has news yet.
    pub fn wait(&self, parent: i32, target: WaitTarget, options: WaitOptions) -> Result<Option<WaitResult>, Errno> {
        let mut inner = self.lock();
        let me = inner.processes.get(&parent).ok_or(Errno::ECHILD)?;
        let my_pgid = me.pgid;
        let candidates: Vec<i32> = me
            .children
            .iter()
            .copied()
            .filter(|child| {
                let Some(entry) = inner.processes.get(child) else {
                    return false;
                };
                let selected = match target {
                    WaitTarget::Any => true,
                    WaitTarget::Pid(pid) => *child == pid,
                    WaitTarget::Group(0) => entry.pgid == my_pgid,
                    WaitTarget::Group(pgid) => entry.pgid == pgid,
                };
                // __WCLONE waits only for children whose exit signal is not
                // SIGCHLD; __WALL for both kinds.
                let clone_child = entry.exit_signal != libc::SIGCHLD;
                selected && (options.all || clone_child == options.clone_only)
            })
            .collect();
        if candidates.is_empty() {
            return Err(Errno::ECHILD);
        }
        for child in candidates {
            let entry = inner.processes.get_mut(&child).expect("candidate exists");
            let uid = entry.uid;
            let event = match entry.life {
                Life::Zombie { status, cpu } if options.exited => WaitEvent::Exited { status, cpu },
                Life::Stopped {
                    signal,
                    reported: false,
                } if options.stopped => {
                    if !options.keep {
                        entry.life = Life::Stopped { signal, reported: true };
                    }
                    WaitEvent::Stopped(signal)
                }
                _ if entry.continued && options.continued => {
                    if !options.keep {
                        entry.continued = false;
                    }
                    WaitEvent::Continued
                }
                _ => continue,
            };
            if let WaitEvent::Exited { cpu, .. } = event {
                if !options.keep {
                    let reaped = inner
                        .processes
                        .remove(&child)
                        .map_or(Duration::ZERO, |entry| entry.children_cpu);
                    if let Some(me) = inner.processes.get_mut(&parent) {
                        me.children.remove(&child);
                        me.children_cpu += cpu + reaped;
                    }
                }
            }
            return Ok(Some(WaitResult { pid: child, uid, event }));
        }
        Ok(None)
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

    /// getpgid(2).
    pub fn pgid(&self, pid: i32) -> Result<i32, Errno> {
        self.lock()
            .processes
            .get(&pid)
            .map(|entry| entry.pgid)
            .ok_or(Errno::ESRCH)
    }

    /// getsid(2).
    pub fn sid(&self, pid: i32) -> Result<i32, Errno> {
        self.lock()
            .processes
            .get(&pid)
            .map(|entry| entry.sid)
            .ok_or(Errno::ESRCH)
    }

    /// setpgid(2) called by `caller` (arguments already defaulted).
    pub fn setpgid(&self, caller: i32, pid: i32, pgid: i32) -> Result<(), Errno> {
        let mut inner = self.lock();
        let caller_sid = inner.processes.get(&caller).ok_or(Errno::ESRCH)?.sid;
        let target = inner.processes.get(&pid).ok_or(Errno::ESRCH)?;
        if pid != caller {
            if target.ppid != caller {
                return Err(Errno::ESRCH);
            }
            if target.sid != caller_sid {
                return Err(Errno::EPERM);
            }
            if target.execed {
                return Err(Errno::EACCES);
            }
        }
        if target.sid == pid {
            return Err(Errno::EPERM);
        }
        if pgid != pid
            && !inner
                .processes
                .values()
                .any(|entry| entry.pgid == pgid && entry.sid == caller_sid)
        {
            return Err(Errno::EPERM);
        }
        inner.processes.get_mut(&pid).expect("looked up above").pgid = pgid;
        Ok(())
    }

    /// setsid(2).
    pub fn setsid(&self, pid: i32) -> Result<i32, Errno> {
        let mut inner = self.lock();
        if inner.processes.values().any(|entry| entry.pgid == pid) {
            return Err(Errno::EPERM);
        }
        let entry = inner.processes.get_mut(&pid).ok_or(Errno::ESRCH)?;
        entry.sid = pid;
        entry.pgid = pid;
        entry.ctty = None;
        Ok(pid)
    }
}

/// Controlling terminals (credentials(7), tty_ioctl(4)): which terminal a
/// process has, who may read and write it, and what happens when its
/// session leader or its master goes.
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
    fn disassociate(inner: &mut Inner, session: i32, terminal: &dyn Terminal, on_exit: bool) {
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

    /// Sends `signo` from the kernel to every live member of group `pgrp`
    /// (ISIG characters, SIGWINCH).
    pub fn signal_group(&self, pgrp: i32, signo: i32) {
        let mut inner = self.lock();
        Self::signal_group_locked(&mut inner, pgrp, signo);
    }

    fn signal_group_locked(inner: &mut Inner, pgrp: i32, signo: i32) {
        for member in Self::group_members(inner, pgrp) {
            let _ = Self::send_locked(inner, member, SigInfo::from_kernel(signo));
        }
    }

    /// Whether group `pgrp` is orphaned: no member has a parent in another
    /// group of the same session (POSIX; Linux's will_become_orphaned_pgrp).
    fn is_orphaned_group(inner: &Inner, pgrp: i32) -> bool {
        !inner.processes.values().any(|entry| {
            entry.pgid == pgrp
                && !matches!(entry.life, Life::Zombie { .. })
                && inner
                    .processes
                    .get(&entry.ppid)
                    .is_some_and(|parent| parent.pgid != pgrp && parent.sid == entry.sid)
        })
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

/// What the control plane asks of the task set: processes started from
/// outside the sandbox, listings, signals to everyone, and freezing.
impl TaskSet {
    /// Registers a process started by the control plane inside the running
    /// sandbox (`exec`): its parent is outside the sandbox (ppid 0, as for
    /// the init) and it leads a session and process group of its own.
    pub fn create_orphan(&self, uid: u32, container: ContainerTag) -> Result<(i32, Arc<Waker>), Errno> {
        let mut inner = self.lock();
        let pid = Self::allocate_pid(&mut inner)?;
        let mut entry = ProcessEntry::new(0, pid, pid, uid, 0, SignalActions::default());
        entry.container = container;
        entry.threads.insert(pid);
        let thread = ThreadEntry::new(pid);
        let waker = Arc::clone(&thread.waker);
        inner.processes.insert(pid, entry);
        inner.threads.insert(pid, thread);
        Ok((pid, waker))
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

    /// Records the command name of process `pid` (its leader's comm).
    pub fn set_command(&self, pid: i32, command: &str) {
        if let Some(entry) = self.lock().processes.get_mut(&pid) {
            command.clone_into(&mut entry.comm);
        }
    }

    /// The system-call clock of thread `tid`.
    pub fn syscall_clock(&self, tid: i32) -> Option<Arc<SyscallClock>> {
        self.lock().threads.get(&tid).map(|thread| Arc::clone(&thread.syscall))
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

    /// The processes of process group `pgid`.
    pub fn process_group(&self, pgid: i32) -> Vec<i32> {
        Self::group_members(&self.lock(), pgid)
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

/// Job-control stop signals.
const STOP_SIGNALS: SigSet =
    signal::bit(libc::SIGSTOP) | signal::bit(libc::SIGTSTP) | signal::bit(libc::SIGTTIN) | signal::bit(libc::SIGTTOU);

/// Whether a signal was raised by the CPU for the process's own instruction
/// (delivered even when blocked or ignored, as Linux's force_sig does).
pub fn is_fault(info: &SigInfo) -> bool {
    info.code > 0
        && info.code != signal::SI_KERNEL
        && matches!(
            info.signo,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_with_child() -> (TaskSet, i32) {
        let tasks = TaskSet::default();
        tasks.create_init(0);
        let (child, _) = tasks.create_child(INIT_PID, libc::SIGCHLD, false).unwrap();
        (tasks, child)
    }

    fn exited() -> WaitOptions {
        WaitOptions {
            exited: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_zombie_is_reaped_once() {
        let (tasks, child) = set_with_child();
        assert_eq!(tasks.wait(INIT_PID, WaitTarget::Any, exited()), Ok(None));
        tasks.exit_thread(child, ExitStatus::Exited(3), Duration::ZERO);
        let result = tasks.wait(INIT_PID, WaitTarget::Pid(child), exited()).unwrap().unwrap();
        assert_eq!(result.event.status_word(), 3 << 8);
        assert_eq!(tasks.wait(INIT_PID, WaitTarget::Any, exited()), Err(Errno::ECHILD));
        assert_eq!(
            tasks.pending(INIT_PID),
            0,
            "init has no SIGCHLD handler, so SIGCHLD is dropped"
        );
    }

    #[test]
    fn snapshots_show_family_threads_and_what_children_inherit() {
        let tasks = TaskSet::default();
        tasks.create_init(1000);
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
    fn init_ignores_default_signals_but_children_get_them() {
        let (tasks, child) = set_with_child();
        tasks
            .kill(child, 0, INIT_PID, SigInfo::from_process(libc::SIGTERM, 0, child, 0))
            .unwrap();
        assert_eq!(tasks.pending(INIT_PID), 0);
        tasks
            .kill(INIT_PID, 0, child, SigInfo::from_process(libc::SIGTERM, 0, 1, 0))
            .unwrap();
        assert_eq!(tasks.pending(child), signal::bit(libc::SIGTERM));
    }

    #[test]
    fn kill_checks_existence_and_permission() {
        let (tasks, child) = set_with_child();
        assert_eq!(
            tasks.kill(1, 0, 999, SigInfo::from_process(libc::SIGTERM, 0, 1, 0)),
            Err(Errno::ESRCH)
        );
        assert_eq!(
            tasks.kill(1, 1000, child, SigInfo::from_process(libc::SIGTERM, 0, 1, 1000)),
            Err(Errno::EPERM)
        );
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

    #[test]
    fn thread_signals_go_to_the_thread_and_process_signals_to_any() {
        let (tasks, child) = set_with_child();
        let (thread, _) = tasks.create_thread(child).unwrap();
        tasks
            .send_thread(thread, Some(child), 0, SigInfo::from_process(libc::SIGUSR1, 0, 1, 0))
            .unwrap();
        assert_eq!(tasks.pending(child), 0);
        assert_eq!(tasks.pending(thread), signal::bit(libc::SIGUSR1));
        assert_eq!(
            tasks.send_thread(thread, Some(INIT_PID), 0, SigInfo::from_process(libc::SIGUSR1, 0, 1, 0)),
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

    #[test]
    fn sessions_and_groups() {
        let (tasks, child) = set_with_child();
        assert_eq!(tasks.setsid(INIT_PID), Err(Errno::EPERM), "init leads its group");
        assert_eq!(tasks.setsid(child), Ok(child));
        assert_eq!(tasks.sid(child), Ok(child));
        assert_eq!(tasks.pgid(child), Ok(child));
        assert_eq!(
            tasks.setpgid(child, child, child),
            Err(Errno::EPERM),
            "a session leader cannot move"
        );
    }

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
