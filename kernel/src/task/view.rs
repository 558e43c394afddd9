//! What /proc reads of tasks it does not run on.
//!
//! Lock order: the task set's lock (`TaskSet::inner`) and the locks of the
//! parts a view shares (`mm`, `fds`, `fs`, `rlimits`) are never held
//! together: readers copy a [`ProcessSnapshot`] out of the task set and
//! only then lock the parts, one at a time.
//!
//! A task's state belongs to the OS thread running it; the parts others may
//! look at are shared through `Arc<Mutex<_>>` already (memory, files, fs
//! context, limits). Each task thread publishes clones of those, with its
//! credentials and name, as a [`TaskView`] in the task set, again whenever
//! it replaces one of them (execve, unsharing files, PR_SET_NAME). Each
//! execve also records a [`ProcessImage`] for the process: the executable
//! and where argv, envp and auxv are, as Linux keeps them in the mm.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{FsContext, Life, Task};
use crate::abi::Credentials;
use crate::abi::UserAddr;
use crate::abi::limits::ResourceLimits;
use crate::abi::signal::SigSet;
use crate::mm::MemoryManager;
use crate::platform::ThreadHandle;
use crate::seccomp::Seccomp;
use crate::vfs::FdTable;
use crate::vfs::Location;

/// The shared state of one task, as it was last published.
pub struct TaskView {
    pub mm: Arc<Mutex<MemoryManager>>,
    pub fds: Arc<Mutex<FdTable>>,
    pub fs: Arc<Mutex<FsContext>>,
    pub rlimits: Arc<Mutex<ResourceLimits>>,
    pub credentials: Credentials,
    /// The thread's seccomp state itself, not a copy: TSYNC sets it.
    pub seccomp: Arc<Mutex<Seccomp>>,
    /// The command name (PR_SET_NAME, /proc/PID/comm).
    pub comm: String,
}

/// The auxv entries a process image keeps: Linux's saved_auxv holds at most
/// this many pairs.
const MAX_AUXV: usize = 64;
/// AT_NULL, which ends the auxiliary vector.
const AT_NULL: u64 = 0;

/// What one execve left behind.
pub struct ProcessImage {
    /// The executable (/proc/PID/exe).
    pub exe: Location,
    /// The argument strings, NUL-separated, in the process's memory.
    pub arg_start: u64,
    pub arg_end: u64,
    /// The environment strings.
    pub env_start: u64,
    pub env_end: u64,
    /// The initial stack pointer (argc).
    pub start_stack: u64,
    /// The auxiliary vector, AT_NULL included.
    pub auxv: Vec<(u64, u64)>,
}

impl ProcessImage {
    /// Reads the layout of the initial stack at `rsp` (argc, argv, envp,
    /// auxv) as the loader left it, before the program can change it.
    /// What cannot be read is left empty.
    pub fn read(mm: &MemoryManager, rsp: u64, exe: Location) -> ProcessImage {
        let mut image = ProcessImage {
            exe,
            arg_start: 0,
            arg_end: 0,
            env_start: 0,
            env_end: 0,
            start_stack: rsp,
            auxv: Vec::new(),
        };
        let word = |addr: u64| mm.read_pod::<u64>(UserAddr::new(addr)).ok();
        let Some(argc) = word(rsp) else {
            return image;
        };
        let mut at = rsp + 8;
        let argv: Vec<u64> = (0..argc).map_while(|i| word(at + i * 8)).collect();
        at += (argc + 1) * 8;
        let mut envp = Vec::new();
        while let Some(ptr) = word(at) {
            at += 8;
            if ptr == 0 {
                break;
            }
            envp.push(ptr);
        }
        let string_end = |addr: u64| {
            mm.read_cstring(UserAddr::new(addr), libc::PATH_MAX as usize * 32)
                .map_or(addr, |s| addr + s.len() as u64 + 1)
        };
        if let (Some(&first), Some(&last)) = (argv.first(), argv.last()) {
            image.arg_start = first;
            image.arg_end = string_end(last);
        }
        if let (Some(&first), Some(&last)) = (envp.first(), envp.last()) {
            image.env_start = first;
            image.env_end = string_end(last);
        }
        while image.auxv.len() < MAX_AUXV {
            let (Some(key), Some(value)) = (word(at), word(at + 8)) else {
                break;
            };
            at += 16;
            image.auxv.push((key, value));
            if key == AT_NULL {
                break;
            }
        }
        image
    }
}

/// One thread of a [`ProcessSnapshot`].
pub struct ThreadSnapshot {
    pub tid: i32,
    /// None before the thread first runs.
    pub view: Option<Arc<TaskView>>,
    /// Reads the thread's CPU time; None before it runs.
    pub handle: Option<Arc<dyn ThreadHandle>>,
    /// Sleeping in the kernel (S) rather than running (R).
    pub sleeping: bool,
    pub started: Instant,
    /// Signals pending for this thread alone.
    pub pending: SigSet,
    pub blocked: SigSet,
}

impl ThreadSnapshot {
    /// CPU time the thread has used so far.
    pub fn cpu_time(&self) -> Duration {
        self.handle.as_ref().map_or(Duration::ZERO, |handle| handle.cpu_time())
    }
}

/// A process as the task set knew it at one moment.
pub struct ProcessSnapshot {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub life: Life,
    pub uid: u32,
    /// The signal the parent gets at exit.
    pub exit_signal: i32,
    pub started: Instant,
    /// The last execve's image; None until the first program is loaded.
    pub image: Option<Arc<ProcessImage>>,
    /// /proc/PID/oom_score_adj.
    pub oom_score_adj: i32,
    /// The leader's command name, kept after it exits.
    pub comm: String,
    /// Process-directed pending signals.
    pub pending: SigSet,
    /// Signals the process ignores, and those it has handlers for.
    pub ignored: SigSet,
    pub caught: SigSet,
    /// CPU time of its exited threads, and of its reaped children.
    pub exited_threads_cpu: Duration,
    pub children_cpu: Duration,
    /// Its threads, by tid.
    pub threads: Vec<ThreadSnapshot>,
    /// The controlling terminal's device number and foreground group.
    pub terminal: Option<(u64, Option<i32>)>,
}

impl ProcessSnapshot {
    /// The thread `tid`, or without one the thread /proc/PID shows: the
    /// leader, or while a zombie leader waits for the others, the first
    /// thread still there.
    pub fn thread(&self, tid: Option<i32>) -> Option<&ThreadSnapshot> {
        match tid {
            Some(tid) => self.threads.iter().find(|thread| thread.tid == tid),
            None => self
                .threads
                .iter()
                .find(|thread| thread.tid == self.pid)
                .or(self.threads.first()),
        }
    }

    /// The published view of thread `tid` (see [`Self::thread`]), falling
    /// back to any thread's when that one has none.
    pub fn view(&self, tid: Option<i32>) -> Option<Arc<TaskView>> {
        self.thread(tid)
            .and_then(|thread| thread.view.clone())
            .or_else(|| self.threads.iter().find_map(|thread| thread.view.clone()))
    }

    /// CPU time of the whole process: exited threads and live ones.
    pub fn cpu_time(&self) -> Duration {
        self.exited_threads_cpu + self.threads.iter().map(ThreadSnapshot::cpu_time).sum::<Duration>()
    }

    pub fn is_zombie(&self) -> bool {
        matches!(self.life, Life::Zombie { .. })
    }
}

impl Task {
    /// Publishes what /proc shows of this task; called when the task starts
    /// and whenever it replaces a part of it.
    pub(crate) fn publish_view(&self) {
        let view = TaskView {
            mm: Arc::clone(&self.mm),
            fds: Arc::clone(&self.fds),
            fs: Arc::clone(&self.fs),
            rlimits: Arc::clone(&self.rlimits),
            credentials: self.credentials.clone(),
            seccomp: Arc::clone(&self.seccomp),
            comm: self.name.clone(),
        };
        self.tasks().publish_view(self.tid, Arc::new(view));
    }
}
