//! What every task of a sandbox shares and runs on, and the way up to the
//! kernel above.
//!
//! Lock order among what it shares: the timers' lock (`Timers::state`)
//! before the task set's (`TaskSet::inner`); the futex table's
//! (`FutexTable::queues`) before a task's memory manager and the wakers it
//! wakes; the task set's before wakers, wait queues and terminals'
//! `Control` locks; the memory file's allocator after all of them.
//!
//! The task layer knows nothing of containers, terminals' devices or the
//! system-call table: the kernel (`crate::kernel::Kernel`) owns a [`Core`]
//! and serves, as the [`TaskHost`] of every task, what needs more than it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::timer::Timers;
use super::{ContainerTag, Task, TaskSet};
use crate::abi::ExitStatus;
use crate::memory::MemoryFile;
use crate::platform::{self, Context, PlatformError, PlatformKind};
use crate::sync::futex::FutexTable;

/// The tasks of one sandbox and what they run on: the task set (the PID
/// namespace), futexes, interval timers, the memory file and platform,
/// the virtual CPUs and the boot clock.
pub struct Core {
    /// Which platform executes application code.
    pub platform: PlatformKind,
    /// Pin each task thread and the stub thread it traces to one CPU.
    pub pin_cpu: bool,
    pub memory_file: Arc<MemoryFile>,
    /// Every process of the sandbox.
    pub tasks: TaskSet,
    /// Futex wait queues.
    pub futexes: FutexTable,
    /// The interval and POSIX timers of every process.
    pub timers: Timers,
    /// The virtual CPUs applications see: as many as the sandbox process
    /// may use, read before any task thread is pinned.
    pub cpus: usize,
    /// When the kernel booted: the sandbox's uptime counts from here.
    pub boot_time: Instant,
    /// Set while the control plane has paused the sandbox: no task runs
    /// application code.
    frozen: AtomicBool,
}

/// What a task asks of the kernel above the task layer.
pub trait TaskHost: Send + Sync {
    /// Serves the system call `task`'s registers hold and sets its result.
    fn serve_syscall(&self, task: &mut Task);

    /// How the end of process `pid`, of container `container`, is to be
    /// told, taken while the process still lives: called with its status
    /// once its last thread has exited.
    fn exit_report(&self, pid: i32, container: Option<ContainerTag>) -> Box<dyn FnOnce(ExitStatus) + Send>;
}

impl Core {
    pub fn new(platform: PlatformKind, pin_cpu: bool, memory_file: Arc<MemoryFile>) -> Core {
        Core {
            platform,
            pin_cpu,
            memory_file,
            tasks: TaskSet::default(),
            futexes: FutexTable::default(),
            timers: Timers::default(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            boot_time: Instant::now(),
            frozen: AtomicBool::new(false),
        }
    }

    /// A new address space on the platform, with its first context.
    pub fn new_address_space(&self) -> Result<Box<dyn Context>, PlatformError> {
        platform::new_address_space(self.platform, self.pin_cpu, &self.memory_file)
    }

    /// Whether the sandbox is paused.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// Pauses (true) or resumes (false) every task: tasks in application
    /// code come back to the kernel and stay until resumed.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::Release);
        if frozen {
            self.tasks.interrupt_all();
        } else {
            self.tasks.notify_all();
        }
    }
}
