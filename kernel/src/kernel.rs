//! The kernel object and the handle the control plane starts processes through.

use std::collections::HashSet;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use std::sync::{Arc, Mutex};

use crate::limits::ResourceLimits;
use crate::loader::{self, LoadError};
use crate::memory::MemoryFile;
use crate::platform::{self, PlatformKind};
use crate::task::{self, TaskSet, TaskStart};
use crate::vfs::lookup::Resolver;
use crate::vfs::{MountFlags, MountNamespace, MountSpec};

/// How a kernel is configured; fixed for the life of the sandbox.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// The UTS hostname applications see (`uname`, `gethostname`).
    pub hostname: String,
    /// Which platform executes application code.
    pub platform: PlatformKind,
    /// Pin each task thread and the stub thread it traces to one CPU. A
    /// cross-CPU wake-up costs ten times a same-CPU one on these machines.
    pub pin_cpu: bool,
    /// Log every system call with its decoded arguments and result.
    pub strace: bool,
}

/// The container's filesystems: the root directory (a host fd the kernel
/// resolves every application path beneath) and the spec's mounts.
#[derive(Debug)]
pub struct RootFs {
    pub dir: OwnedFd,
    pub readonly: bool,
    /// Keep application writes in sandbox memory (`--overlay=memory`); when
    /// false the root is the host directory itself.
    pub overlay: bool,
    /// Mounted in order on top of the root.
    pub mounts: Vec<MountSpec>,
}

/// The identity a process runs with, as the OCI spec's `process.user` gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// What a process runs and as whom: the OCI spec's `process`, less the
/// stdio it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// argv as the application sees it; `argv[0]` is also the program to run,
    /// looked up in `PATH` from `env` when it holds no slash.
    pub argv: Vec<String>,
    /// `KEY=VALUE` strings.
    pub env: Vec<String>,
    /// Absolute working directory inside the container.
    pub cwd: String,
    pub credentials: Credentials,
    pub rlimits: ResourceLimits,
    pub umask: u32,
}

impl ProcessSpec {
    /// The umask a process gets when its configuration names none, as runc
    /// does.
    pub const DEFAULT_UMASK: u32 = 0o022;
}

/// How a process ended, as `wait` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`; only the low 8 bits survive, as on Linux.
    Exited(u8),
    /// Killed by this signal number.
    Signaled(i32),
}

impl ExitStatus {
    /// The status a shell would report: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => i32::from(code),
            ExitStatus::Signaled(sig) => 128 + sig,
        }
    }
}

/// Failures of the kernel itself (as opposed to errnos returned to the
/// application).
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("failed to create the memory file: {0}")]
    MemoryFile(#[source] std::io::Error),
    #[error("cannot use the root directory: {}", .0.desc())]
    Root(Errno),
    #[error("cannot mount {destination}: {}", errno.desc())]
    Mount { destination: String, errno: Errno },
    #[error("working directory {cwd:?}: {}", errno.desc())]
    Cwd { cwd: String, errno: Errno },
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("platform: {0}")]
    Platform(#[from] platform::PlatformError),
    #[error("failed to start the task thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the task thread ended before the process started")]
    TaskVanished,
}

impl KernelError {
    /// Whether the program to run, or the ELF interpreter it names, does
    /// not exist in the container's root (execve(2) would fail with ENOENT).
    pub fn is_not_found(&self) -> bool {
        matches!(self, KernelError::Load(err) if err.errno() == nix::errno::Errno::ENOENT)
    }
}

/// The application kernel of one sandbox.
pub struct Kernel {
    pub(crate) config: KernelConfig,
    pub(crate) memory_file: Arc<MemoryFile>,
    /// The container's mounts.
    pub(crate) mounts: MountNamespace,
    /// System-call numbers already reported as unimplemented, so each is
    /// logged once per sandbox.
    pub(crate) reported_unimplemented: Mutex<HashSet<u64>>,
    /// Every process of the sandbox.
    pub(crate) tasks: TaskSet,
    /// Futex wait queues.
    pub(crate) futexes: crate::futex::FutexTable,
    /// ITIMER_REAL of every process.
    pub(crate) timers: crate::timer::Timers,
    /// The virtual CPUs applications see: as many as the sandbox process
    /// may use, read before any task thread is pinned.
    pub(crate) cpus: usize,
    /// When the kernel booted: the sandbox's uptime counts from here.
    pub(crate) boot_time: std::time::Instant,
    /// The pseudo-terminals (/dev/ptmx, /dev/pts).
    pub(crate) ptys: crate::tty::pty::PtyTable,
}

impl Kernel {
    /// Creates the kernel: its memory file and its view of the root filesystem.
    pub fn new(config: KernelConfig, root: RootFs) -> Result<Arc<Kernel>, KernelError> {
        let memory_file = Arc::new(MemoryFile::new().map_err(KernelError::MemoryFile)?);
        let flags = MountFlags {
            readonly: root.readonly,
            ..MountFlags::default()
        };
        let mounts = MountNamespace::new(&memory_file, &root.dir, root.overlay, flags).map_err(KernelError::Root)?;
        let kernel = Arc::new(Kernel {
            config,
            memory_file: Arc::clone(&memory_file),
            mounts,
            reported_unimplemented: Mutex::new(HashSet::new()),
            tasks: TaskSet::default(),
            futexes: crate::futex::FutexTable::default(),
            timers: crate::timer::Timers::default(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            boot_time: std::time::Instant::now(),
            ptys: crate::tty::pty::PtyTable::default(),
        });
        let weak = Arc::downgrade(&kernel);
        for spec in root.mounts {
            let destination = spec.destination.clone();
            kernel
                .mounts
                .mount(spec, &memory_file, &weak, kernel.cpus)
                .map_err(|errno| KernelError::Mount { destination, errno })?;
        }
        Ok(kernel)
    }

    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// Starts the container's init process on a new task thread.
    ///
    /// Returns once the executable is loaded into a fresh address space, so a
    /// missing or malformed program is reported here, with nothing left
    /// running.
    /// `stdio` are host fds that become the application's fds 0, 1 and 2.
    pub fn start_init(self: &Arc<Self>, spec: ProcessSpec, stdio: [OwnedFd; 3]) -> Result<ProcessHandle, KernelError> {
        let root = self.mounts.root();
        let cwd = self
            .mounts
            .working_directory(&spec.cwd)
            .map_err(|errno| KernelError::Cwd {
                cwd: spec.cwd.clone(),
                errno,
            })?;
        let resolver = Resolver {
            root: root.clone(),
            cwd: cwd.clone(),
            credentials: &spec.credentials,
        };
        let executable = loader::open_executable(&resolver, &spec.argv, &spec.env)?;
        let name = task::command_name(spec.argv.first().map_or(executable.path.as_str(), String::as_str));
        let (executable, argv) = loader::resolve_interpreter(&resolver, executable, spec.argv.clone())?;
        let spec = ProcessSpec { argv, ..spec };
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
        let kernel = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("task-1".into())
            .spawn(move || {
                task::run_init(
                    kernel,
                    TaskStart {
                        spec,
                        stdio,
                        executable,
                        name,
                        root,
                        cwd,
                    },
                    started_tx,
                )
            })
            .map_err(KernelError::Thread)?;
        match started_rx.recv() {
            Ok(Ok(())) => Ok(ProcessHandle { thread }),
            Ok(Err(err)) => {
                // The thread has nothing left to run; reap it.
                let _ = thread.join();
                Err(err)
            }
            Err(_) => {
                let _ = thread.join();
                Err(KernelError::TaskVanished)
            }
        }
    }
}

/// A started process; waiting on it yields its exit status.
pub struct ProcessHandle {
    thread: std::thread::JoinHandle<ExitStatus>,
}

impl ProcessHandle {
    /// Blocks until the process has exited.
    pub fn wait(self) -> ExitStatus {
        match self.thread.join() {
            Ok(status) => status,
            // A panic in the task thread is a kernel bug; report it the way a
            // crashed process would be.
            Err(_) => ExitStatus::Signaled(libc::SIGABRT),
        }
    }
}
