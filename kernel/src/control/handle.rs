//! The handle the control plane drives the kernel through (DESIGN §4).
//!
//! The actors in `cordon-actors` see the kernel only as a [`KernelHandle`]:
//! a small, thread-safe set of calls that never wait on an application task,
//! plus a channel of [`KernelEvent`]s for everything that happens on the
//! kernel's own schedule (a process exits, a task stays in a system call too
//! long). The kernel never waits on an actor: it only sends on that channel.
//!
//! The same trait is implemented by `cordon_actors::testing::FakeKernel`, which
//! plays a script instead of running programs, so every actor flow can be
//! tested without a platform.

use std::fmt;
use std::os::fd::OwnedFd;
use std::time::{Duration, SystemTime};

use crossbeam_channel::Receiver;

use crate::kernel::{KernelError, ProcessSpec, RootFs};

use crate::abi::ExitStatus;

/// A process id in the sandbox's PID namespace, as the application sees it.
pub type Pid = i32;

/// A container's name, as the OCI runtime command line gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(pub String);

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a new process's fds 0, 1 and 2 come from.
#[derive(Debug)]
pub enum Stdio {
    /// Three host fds that become the application's fds 0, 1 and 2.
    Fds([OwnedFd; 3]),
    /// One host terminal (the replica side of a pty) that backs fds 0, 1 and
    /// 2; the process leads a new session with it as controlling terminal.
    Terminal(OwnedFd),
}

/// Everything needed to create a process in a container: its init, or a
/// process started by `exec`.
#[derive(Debug)]
pub struct NewProcess {
    pub spec: ProcessSpec,
    pub stdio: Stdio,
}

/// Which processes of a container a signal goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalTarget {
    /// One process (its whole thread group, as kill(2) with a positive pid).
    Process(Pid),
    /// Every process of a process group, as kill(2) with a negative pid.
    ProcessGroup(Pid),
    /// The foreground process group of the terminal of the container's init,
    /// or the init itself when it has no terminal. This is where a signal
    /// sent to `cordon run` goes.
    Foreground,
    /// The foreground process group of the controlling terminal of a
    /// process (one `exec` started with a terminal leads a session with
    /// it), or that process itself when it has none. This is where a
    /// signal sent to `cordon exec -t` goes.
    ForegroundOf(Pid),
    /// Every process of the container (`kill --all`).
    AllProcesses,
}

/// A process's run state, as the third field of /proc/PID/stat shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    Running,
    Sleeping,
    Stopped,
    Zombie,
}

/// One line of `ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: Pid,
    pub ppid: Pid,
    /// The command name (`comm`), as /proc/PID/comm shows it.
    pub command: String,
    pub state: ProcessState,
    /// Wall-clock time at which the process was created.
    pub started: SystemTime,
}

/// Resources a container's processes use, for `events --stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// User plus system CPU time of every process, live or reaped.
    pub cpu_time: Duration,
    /// Application memory resident in the memory file.
    pub memory_bytes: u64,
    /// Processes alive now.
    pub processes: u32,
}

/// A task that has been inside the kernel (serving one system call) for
/// longer than the watchdog allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckTask {
    pub container: ContainerId,
    pub tid: Pid,
    /// The system call it is serving, by name (`"read"`).
    pub syscall: &'static str,
    /// How long it has been serving it.
    pub duration: Duration,
}

/// Something that happened in the kernel, delivered on the channel
/// [`KernelHandle::events`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// A process (thread group) ended; sent once per process, after its last
    /// thread has exited.
    ProcessExited {
        container: ContainerId,
        pid: Pid,
        status: ExitStatus,
    },
    /// The kernel's own detection of a task stuck in a system call; the
    /// watchdog treats it like a [`KernelHandle::stuck_tasks`] finding.
    TaskStuck(StuckTask),
    /// An application called a system call the kernel does not implement
    /// (it got ENOSYS); sent once per call number per sandbox.
    UnimplementedSyscall {
        container: ContainerId,
        pid: Pid,
        number: u64,
        name: &'static str,
    },
}

/// Why a [`KernelHandle`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("no container {0:?} in this sandbox")]
    NoSuchContainer(ContainerId),
    #[error("container {0:?} already exists in this sandbox")]
    ContainerExists(ContainerId),
    #[error("no process {pid} in container {container:?}")]
    NoSuchProcess { container: ContainerId, pid: Pid },
    #[error("invalid signal number {0}")]
    InvalidSignal(i32),
    #[error("cannot start the process: {0}")]
    Start(#[source] KernelError),
    /// Something this kernel cannot do yet; the text says what and why.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
}

/// The kernel as the control plane sees it.
///
/// Every method is safe to call from any thread and returns without waiting
/// on an application task. [`KernelHandle::create_process`] does file I/O
/// (it loads the executable before returning, so a missing program is an
/// error with nothing left running); callers on an event loop run it on a
/// blocking worker.
pub trait KernelHandle: Send + Sync {
    /// Adds a container whose processes resolve paths beneath `root`. It has
    /// no process until [`KernelHandle::create_process`] starts its init.
    fn create_container(&self, container: &ContainerId, root: RootFs) -> Result<(), HandleError>;

    /// Kills every process left in the container and frees what the kernel
    /// holds for it (its mounts, its records of exited processes). A
    /// [`KernelEvent::ProcessExited`] is still sent for each process killed.
    /// May wait a bounded time for the killed processes to end (so that
    /// they have let go of the container's files): callers on an event loop
    /// run it on a blocking worker.
    fn destroy_container(&self, container: &ContainerId) -> Result<(), HandleError>;

    /// Creates and starts a process in the container; the first process
    /// created is the container's init. Returns its pid once the program is
    /// loaded. Its end is reported as [`KernelEvent::ProcessExited`].
    fn create_process(&self, container: &ContainerId, process: NewProcess) -> Result<Pid, HandleError>;

    /// Sends `signal` to `target` in the container, as kill(2) from the
    /// kernel itself would (no permission check). Signal 0 checks existence.
    fn signal(&self, container: &ContainerId, target: SignalTarget, signal: i32) -> Result<(), HandleError>;

    /// The container's live processes, in pid order.
    fn processes(&self, container: &ContainerId) -> Result<Vec<ProcessInfo>, HandleError>;

    /// Stops every task of the sandbox from running application code until
    /// [`KernelHandle::resume`]; tasks inside a system call stop when they
    /// leave it. Pausing a paused kernel does nothing.
    fn pause(&self);

    /// Lets the tasks stopped by [`KernelHandle::pause`] run again.
    fn resume(&self);

    /// What the container's processes use.
    fn usage(&self, container: &ContainerId) -> Result<Usage, HandleError>;

    /// Tasks that have been serving one system call for longer than
    /// `threshold`, longest first.
    fn stuck_tasks(&self, threshold: Duration) -> Vec<StuckTask>;

    /// The channel kernel events arrive on. Every call returns a receiver of
    /// the same channel: each event is received once, by whichever receiver
    /// takes it, so the control plane takes it once at start-up.
    fn events(&self) -> Receiver<KernelEvent>;
}
