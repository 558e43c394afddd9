//! The kernel object and the handle the control plane starts processes through.
//!
//! Lock order: the kernel's own locks are taken one at a time, never
//! nested: the container table's (`Containers::table`), a container's
//! `reaped_cpu`, `reported_unimplemented` (the call numbers logged once)
//! and the task set's; `process_ended` reaps under the task set's lock,
//! adds the CPU time under `reaped_cpu`, then sweeps.

pub mod container;
pub mod devpts;
pub mod mounts;
pub mod procfs;
pub mod pty;
pub mod signalfd;
pub mod timerfd;
pub mod tty_devices;

use std::collections::HashSet;
use std::os::fd::OwnedFd;

use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use nix::errno::Errno;

use crate::abi::ExitStatus;
use crate::kernel::container::{Container, ContainerTag, Containers};
use crate::memory::MemoryFile;
use crate::platform::{self, PlatformKind};
pub use crate::task::ProcessSpec;
use crate::task::loader::{self, LoadError};
use crate::task::{self, Core, ProcessRole, StartError, Task, TaskHost, TaskSet, TaskStart};
use crate::vfs::caller::Internal;
use crate::vfs::{MountFlags, MountNamespace};
use mounts::MountSpec;

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
    #[error("cannot duplicate the process's stdio: {0}")]
    Stdio(#[source] std::io::Error),
    #[error("the task thread ended before the process started")]
    TaskVanished,
    #[error("no process id is free in the sandbox")]
    PidsExhausted,
    #[error("the container is gone")]
    NoSuchContainer,
}

impl From<StartError> for KernelError {
    fn from(err: StartError) -> KernelError {
        match err {
            StartError::Load(err) => KernelError::Load(err),
            StartError::Platform(err) => KernelError::Platform(err),
            StartError::PidsExhausted => KernelError::PidsExhausted,
        }
    }
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
    /// The tasks and what they run on.
    pub(crate) core: Arc<Core>,
    /// Serves the tasks' system calls: the table the layer above made the
    /// kernel with.
    syscalls: SyscallDispatch,
    /// The kernel itself, for what it hands out that must not keep it
    /// alive (mounts, files) or must (the tasks' host).
    this: Weak<Kernel>,
    /// The containers and their mounts; the first is the one the kernel was
    /// created with.
    pub(crate) containers: Containers,
    /// (st_dev, st_ino) of the root directory the kernel was made with.
    pub(crate) root_identity: (u64, u64),
    /// System-call numbers already reported as unimplemented, so each is
    /// logged once per sandbox.
    pub(crate) reported_unimplemented: Mutex<HashSet<u64>>,
    /// The pseudo-terminals (/dev/ptmx, /dev/pts).
    pub(crate) ptys: crate::kernel::pty::PtyTable,
    /// Who hears of happenings, once the control plane listens.
    watcher: OnceLock<Arc<dyn Watcher>>,
    /// The UTS names: the configured hostname until sethostname(2)
    /// changes it, for every container of the sandbox (a pod shares one).
    pub(crate) uts: RwLock<Uts>,
}

/// The names uname(2) reports that applications may set.
#[derive(Debug, Clone)]
pub struct Uts {
    pub hostname: Vec<u8>,
    pub domainname: Vec<u8>,
}

impl Kernel {
    /// The UTS names as they stand.
    pub fn uts(&self) -> Uts {
        self.uts.read().expect("uts names poisoned").clone()
    }

    /// Sets the hostname or (with `domain`) the NIS domain name.
    pub fn set_uts_name(&self, domain: bool, name: Vec<u8>) {
        let mut uts = self.uts.write().expect("uts names poisoned");
        if domain {
            uts.domainname = name;
        } else {
            uts.hostname = name;
        }
    }
}

/// Serves one system call of a task, with the kernel it belongs to: the
/// system-call table (`crate::syscalls::dispatch`), which the kernel is
/// made with so that the layers below never name it.
pub type SyscallDispatch = fn(&Kernel, &mut Task);

/// Who hears what happens in the kernel on its own schedule: the control
/// plane. Calls come from task threads, sometimes with kernel locks held:
/// a watcher must not block, nor call back into the kernel.
pub trait Watcher: Send + Sync {
    /// A process (thread group) of the container named `container` ended;
    /// told once per process, after its last thread has exited.
    fn process_exited(&self, container: &str, pid: i32, status: ExitStatus);

    /// A process of the container named `container` called a system call
    /// the kernel does not implement (it got ENOSYS); told once per call
    /// number per sandbox.
    fn unimplemented_syscall(&self, container: &str, pid: i32, number: u64, name: &'static str);
}

impl Kernel {
    /// Creates the kernel: its memory file and its view of the root filesystem.
    pub fn new(config: KernelConfig, root: RootFs, syscalls: SyscallDispatch) -> Result<Arc<Kernel>, KernelError> {
        let memory_file = Arc::new(MemoryFile::new().map_err(KernelError::MemoryFile)?);
        let flags = MountFlags {
            readonly: root.readonly,
            ..MountFlags::default()
        };
        let root_identity = nix::sys::stat::fstat(&root.dir)
            .map(|st| (st.st_dev, st.st_ino))
            .map_err(KernelError::Root)?;
        let namespace =
            mounts::root_namespace(&memory_file, &root.dir, root.overlay, flags).map_err(KernelError::Root)?;
        let containers = Containers::default();
        let tag = containers.add(Container::new(namespace));
        debug_assert_eq!(tag, ContainerTag::ROOT);
        let core = Arc::new(Core::new(config.platform, config.pin_cpu, memory_file));
        let uts = RwLock::new(Uts {
            hostname: config.hostname.clone().into_bytes(),
            domainname: b"(none)".to_vec(),
        });
        let kernel = Arc::new_cyclic(|this| Kernel {
            uts,
            config,
            core,
            syscalls,
            this: this.clone(),
            containers,
            root_identity,
            reported_unimplemented: Mutex::new(HashSet::new()),
            ptys: crate::kernel::pty::PtyTable::default(),
            watcher: OnceLock::new(),
        });
        kernel.mount_all(&kernel.root_container().mounts, root.mounts)?;
        Ok(kernel)
    }

    /// Mounts `specs` in order in `namespace`.
    fn mount_all(&self, namespace: &MountNamespace, specs: Vec<MountSpec>) -> Result<(), KernelError> {
        for spec in specs {
            let destination = spec.destination.clone();
            mounts::mount(namespace, spec, &self.core.memory_file, &self.this, self.core.cpus)
                .map_err(|errno| KernelError::Mount { destination, errno })?;
        }
        Ok(())
    }

    /// Adds a container with its own root and mounts to the sandbox; its
    /// processes are started with [`Kernel::start_process`] under the tag
    /// returned.
    pub fn add_container(&self, root: RootFs) -> Result<ContainerTag, KernelError> {
        let flags = MountFlags {
            readonly: root.readonly,
            ..MountFlags::default()
        };
        let namespace = mounts::root_namespace(&self.core.memory_file, &root.dir, root.overlay, flags)
            .map_err(KernelError::Root)?;
        self.mount_all(&namespace, root.mounts)?;
        Ok(self.containers.add(Container::new(namespace)))
    }

    /// Forgets a container added with [`Kernel::add_container`] once its
    /// last process has ended (the exits of the processes left are still
    /// reported). Its processes are not touched.
    pub fn remove_container(&self, tag: ContainerTag) {
        if tag != ContainerTag::ROOT {
            self.containers.retire(tag);
            self.sweep_containers();
        }
    }

    /// Forgets every removed container whose last process has ended (its
    /// exit reported; a zombie waiting for the init to reap it keeps what
    /// its own references hold).
    pub(crate) fn sweep_containers(&self) {
        self.containers.sweep(|tag| self.core.tasks.has_live_members(tag));
    }

    /// Gives the container `tag` its control-plane name, which what the
    /// watcher hears of it carries. A container is named once; false if it
    /// was named already or is gone.
    pub fn name_container(&self, tag: ContainerTag, name: String) -> bool {
        self.containers
            .get(tag)
            .is_some_and(|container| container.name.set(name).is_ok())
    }

    /// The container the kernel was created with.
    pub(crate) fn root_container(&self) -> Arc<Container> {
        self.containers
            .get(ContainerTag::ROOT)
            .expect("the root container lives as long as the kernel")
    }

    /// The container of process `pid`: its own while it exists, else the
    /// root container (whose mounts a process of a removed container would
    /// otherwise lack).
    pub(crate) fn container_of(&self, pid: i32) -> Arc<Container> {
        self.core
            .tasks
            .container(pid)
            .and_then(|tag| self.containers.get(tag))
            .unwrap_or_else(|| self.root_container())
    }

    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// The tasks of the sandbox and what they run on.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Every process of the sandbox.
    pub(crate) fn tasks(&self) -> &TaskSet {
        &self.core.tasks
    }

    /// A weak reference to the kernel, for what must not keep it alive.
    pub(crate) fn weak(&self) -> Weak<Kernel> {
        self.this.clone()
    }

    /// Starts telling `watcher` what happens. The first watcher stays for
    /// the kernel's life; false if there was one.
    pub(crate) fn listen(&self, watcher: Arc<dyn Watcher>) -> bool {
        self.watcher.set(watcher).is_ok()
    }

    /// Tells the watcher, if there is one, what `tell` says of the container
    /// `tag`, if it has a name.
    pub(crate) fn report(&self, tag: ContainerTag, tell: impl FnOnce(&dyn Watcher, &str)) {
        if let Some(container) = self.containers.get(tag) {
            self.report_to(&container, tell);
        }
    }

    /// Tells the watcher, if there is one, what `tell` says of `container`,
    /// if it has a name.
    fn report_to(&self, container: &Container, tell: impl FnOnce(&dyn Watcher, &str)) {
        if let (Some(watcher), Some(name)) = (self.watcher.get(), container.name.get()) {
            tell(watcher.as_ref(), name);
        }
    }

    /// Process `pid` of `container` has ended: a zombie no process in
    /// the sandbox will reap (the init, an exec'd process, children of a
    /// dead init) is reaped here, and the control plane hears of the exit.
    pub(crate) fn process_ended(&self, pid: i32, status: ExitStatus, container: Option<Arc<Container>>) {
        let reaped = self.core.tasks.reap_orphan(pid);
        if let Some(container) = container {
            if let Some(cpu) = reaped {
                *container.reaped_cpu.lock().expect("reaped CPU poisoned") += cpu;
            }
            // Through the container taken before the exit: a sweep since
            // may have removed it from the table.
            self.report_to(&container, |watcher, name| watcher.process_exited(name, pid, status));
        }
        self.sweep_containers();
    }

    /// Starts the container's init process on a new task thread.
    ///
    /// Returns once the executable is loaded into a fresh address space, so a
    /// missing or malformed program is reported here, with nothing left
    /// running.
    /// `stdio` are host fds that become the application's fds 0, 1 and 2.
    pub fn start_init(self: &Arc<Self>, spec: ProcessSpec, stdio: [OwnedFd; 3]) -> Result<ProcessHandle, KernelError> {
        self.start_process(spec, stdio, ProcessRole::Init, ContainerTag::ROOT)
    }

    /// Starts a process from outside the sandbox on a new task thread, in
    /// container `tag`: the init, or (once the init runs) a process `exec`
    /// or a subcontainer adds, which gets a fresh pid. Returns once the
    /// executable is loaded, as [`Kernel::start_init`] does.
    pub fn start_process(
        self: &Arc<Self>,
        spec: ProcessSpec,
        stdio: [OwnedFd; 3],
        role: ProcessRole,
        tag: ContainerTag,
    ) -> Result<ProcessHandle, KernelError> {
        let container = self.containers.get(tag).ok_or(KernelError::NoSuchContainer)?;
        let root = container.mounts.root();
        let cwd = container
            .mounts
            .working_directory(&spec.cwd)
            .map_err(|errno| KernelError::Cwd {
                cwd: spec.cwd.clone(),
                errno,
            })?;
        let caller = Internal::new(spec.credentials.clone(), root.clone());
        let resolver = caller.resolver(cwd.clone());
        let executable = loader::open_executable(&resolver, &spec.argv, &spec.env)?;
        let name = task::command_name(spec.argv.first().map_or(executable.path.as_str(), String::as_str));
        let (executable, argv) = loader::resolve_interpreter(&resolver, executable, spec.argv.clone())?;
        let seccomp = container.seccomp.get_or_init(|| spec.seccomp.clone()).clone();
        let spec = ProcessSpec { argv, seccomp, ..spec };
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
        let core = Arc::clone(&self.core);
        let host: Arc<dyn TaskHost> = Arc::clone(self) as Arc<dyn TaskHost>;
        let thread_name = match role {
            ProcessRole::Init => "task-1".to_owned(),
            ProcessRole::Exec => "task-exec".to_owned(),
        };
        let thread = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                task::run_process(
                    core,
                    host,
                    TaskStart {
                        spec,
                        stdio,
                        executable,
                        name,
                        root,
                        cwd,
                        role,
                        container: tag,
                    },
                    started_tx,
                )
            })
            .map_err(KernelError::Thread)?;
        match started_rx.recv() {
            Ok(Ok(pid)) => Ok(ProcessHandle { pid, thread }),
            Ok(Err(err)) => {
                // The thread has nothing left to run; reap it.
                let _ = thread.join();
                Err(err.into())
            }
            Err(_) => {
                let _ = thread.join();
                Err(KernelError::TaskVanished)
            }
        }
    }
}

impl TaskHost for Kernel {
    fn serve_syscall(&self, task: &mut Task) {
        (self.syscalls)(self, task);
    }

    fn exit_report(&self, pid: i32, container: Option<ContainerTag>) -> Box<dyn FnOnce(ExitStatus) + Send> {
        let kernel = self.weak();
        let container = container.and_then(|tag| self.containers.get(tag));
        Box::new(move |status| {
            if let Some(kernel) = kernel.upgrade() {
                kernel.process_ended(pid, status, container);
            }
        })
    }
}

/// A started process; waiting on it yields its exit status.
pub struct ProcessHandle {
    pid: i32,
    thread: std::thread::JoinHandle<ExitStatus>,
}

impl ProcessHandle {
    /// The process's pid in the sandbox.
    pub fn pid(&self) -> i32 {
        self.pid
    }

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
