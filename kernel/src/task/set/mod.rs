//! The task set: the sandbox's PID namespace, with every process, their
//! family ties, process groups, sessions, pending signals and exit states.
//!
//! One lock guards all of it, as Linux's tasklist_lock guards the process
//! tree: operations that span processes (kill of a group, exit with
//! reparenting, wait) see one consistent picture.
//!
//! Lock order: `TaskSet::inner` (the tables: every process and thread,
//! their family ties, groups, sessions, pending signals and exit states)
//! may be held while taking
//!
//! - a waker's `sequence` and a wait queue's `waiters`: signals and a
//!   child's news wake threads and signalfd listeners under it (what a
//!   queue wakes takes no lock but those, see `sync::Waiter`);
//! - a terminal's `Control` lock (job control, `snapshot`).
//!
//! Nothing else is taken under it: not a memory manager, an fd table, a
//! file's or a pty's lock, the futex table's or the timers'. The timer
//! thread takes it under the timers' lock, and a pty master's drop takes
//! it, so no open file (nor a timerfd) may be dropped while it is held:
//! replaced views and images are dropped after it is let go of. No thread
//! sleeps holding it.
//!
//! This file holds the tables and their lock; the operations on them are
//! split by concern: creating processes and threads ([`creation`]), what
//! others read of them ([`views`]), signals ([`signals`]), exit and
//! reparenting ([`exit`]), waiting for children ([`wait`]), process groups
//! and sessions ([`groups`]), controlling terminals ([`terminals`]), and
//! what the control plane and the watchdog ask ([`control`]).

mod control;
mod creation;
mod exit;
mod groups;
mod signals;
mod terminals;
pub mod trace;
mod views;
mod wait;

pub use control::{ProcessSummary, SyscallInProgress};
pub use signals::is_fault;
pub use trace::{Attach, Resume, ResumeHow, SyscallInfo, TraceCall, TraceReply, TraceRequest};
pub use wait::{WaitEvent, WaitOptions, WaitResult, WaitTarget};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::ContainerTag;
use super::syscall_clock::SyscallClock;
use super::view::{ProcessImage, TaskView};
use crate::abi::ExitStatus;
use crate::abi::signal::{PendingSignals, SigSet, SignalActions};
use crate::platform::ThreadHandle;
use crate::sync::{WaitQueue, Waker};
use crate::vfs::terminal::Terminal;

/// The pid of the container's init.
pub const INIT_PID: i32 = 1;

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
    /// The leader thread's real and saved set-user-id, for kill(2)
    /// permission checks and the si_uid of its SIGCHLD.
    pub ruid: u32,
    pub suid: u32,
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
    /// PR_SET_PTRACER: a process that may trace it though not its
    /// ancestor (or PTRACER_ANY); 0 for none.
    pub ptracer: i32,
    /// personality(2)'s persona, inherited by fork, kept by execve.
    pub persona: u32,
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
    /// Its tracer, when traced (ptrace).
    pub trace: Option<Box<trace::TraceLink>>,
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
            trace: None,
        }
    }

    /// The tracing process, if traced.
    fn trace_tracer(&self) -> Option<i32> {
        self.trace.as_ref().map(|link| link.tracer)
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
    fn new(ppid: i32, pgid: i32, sid: i32, (ruid, suid): (u32, u32), exit_signal: i32, actions: SignalActions) -> Self {
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
            ruid,
            suid,
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
            ptracer: 0,
            persona: 0,
        }
    }
}

struct Inner {
    processes: BTreeMap<i32, ProcessEntry>,
    threads: BTreeMap<i32, ThreadEntry>,
    last_pid: i32,
    /// CPU time of processes reaped with [`TaskSet::reap_orphan`].
    orphans_cpu: Duration,
    /// Exits of tracees their tracers have not waited for.
    trace_exits: Vec<trace::TraceExit>,
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
                trace_exits: Vec::new(),
            }),
        }
    }
}

impl TaskSet {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("task set poisoned")
    }
}

#[cfg(test)]
mod testing {
    //! What the tests of each concern start from.

    pub(super) use crate::abi::credentials::Credentials;

    use super::{INIT_PID, TaskSet, WaitOptions};

    /// A task set with the init and one child of it.
    pub(super) fn set_with_child() -> (TaskSet, i32) {
        let tasks = TaskSet::default();
        tasks.create_init(&Credentials::default());
        let (child, _) = tasks.create_child(INIT_PID, libc::SIGCHLD, false).unwrap();
        (tasks, child)
    }

    /// Options that wait for exited children.
    pub(super) fn exited() -> WaitOptions {
        WaitOptions {
            exited: true,
            ..Default::default()
        }
    }
}
