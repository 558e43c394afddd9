//! Tasks: one application thread each, run by a dedicated OS thread.
//!
//! The run loop, as in gVisor's task_run.go: switch into the application
//! through the platform → come back with an event → serve the system call or
//! handle the fault → repeat, until the task exits.

use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use crate::arch::Registers;
use crate::fs::{FdTable, HostFile};
use crate::kernel::{Credentials, ExitStatus, Kernel, KernelError, ProcessSpec};
use crate::limits::ResourceLimits;
use crate::loader::{self, ExecArgs, Executable};
use crate::memory::MemoryManager;
use crate::platform::{self, Context, Event, Fault};
use crate::syscalls;

/// The virtual pid of a container's init, which is also its tid.
pub const INIT_PID: i32 = 1;

/// Signal dispositions and masks, recorded for the signals work to deliver.
#[derive(Debug, Clone)]
pub struct SignalState {
    /// Indexed by signal number - 1.
    pub actions: [SigAction; 64],
    /// Blocked signals: bit (n - 1) for signal n.
    pub mask: u64,
    pub altstack: AltStack,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); 64],
            mask: 0,
            altstack: AltStack {
                sp: 0,
                flags: libc::SS_DISABLE,
                size: 0,
            },
        }
    }
}

/// Linux's x86-64 `struct sigaction` as rt_sigaction(2) passes it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

// SAFETY: repr(C), four u64s.
unsafe impl crate::memory::Pod for SigAction {}

/// The alternate signal stack (sigaltstack(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

/// A task: the state of one application thread.
pub struct Task {
    pub kernel: Arc<Kernel>,
    pub regs: Registers,
    pub mm: MemoryManager,
    pub fds: FdTable,
    pub credentials: Credentials,
    pub rlimits: ResourceLimits,
    pub umask: u32,
    /// Absolute working directory inside the container.
    pub cwd: String,
    /// Absolute path of the running executable (/proc/self/exe).
    pub exe_path: String,
    pub signals: SignalState,
    /// set_tid_address(2): cleared and futex-woken when the thread exits.
    pub clear_child_tid: u64,
    /// set_robust_list(2): head of the robust futex list.
    pub robust_list: u64,
    /// Set by exit and exit_group: the run loop stops with this status.
    pub exit_status: Option<ExitStatus>,
    context: Box<dyn Context>,
}

/// What a task thread needs to start the init process.
pub struct TaskStart {
    pub spec: ProcessSpec,
    pub executable: Executable,
}

impl Task {
    pub fn tid(&self) -> i32 {
        INIT_PID
    }

    /// CPU time the task has used in application code.
    pub fn cpu_time(&self) -> std::time::Duration {
        self.context.cpu_time()
    }

    /// Runs the task until it exits.
    fn run(&mut self) -> ExitStatus {
        loop {
            match self.context.switch(&mut self.regs) {
                Ok(Event::Syscall) => {
                    syscalls::dispatch(self);
                    if let Some(status) = self.exit_status {
                        return status;
                    }
                }
                Ok(Event::Fault(fault)) => {
                    if let Some(status) = self.handle_fault(fault) {
                        return status;
                    }
                }
                Err(err) => {
                    tracing::error!(pid = self.tid(), %err, "lost the application's execution context");
                    return ExitStatus::Signaled(libc::SIGKILL);
                }
            }
        }
    }

    /// A fault either grows the stack or ends the process with the fault's
    /// signal (handlers come with the signals work).
    fn handle_fault(&mut self, fault: Fault) -> Option<ExitStatus> {
        let stack_limit = self.rlimits.soft(libc::RLIMIT_STACK);
        if fault.signal == libc::SIGSEGV && self.mm.grow_down(fault.addr, stack_limit) {
            return None;
        }
        tracing::debug!(
            pid = self.tid(),
            signal = fault.signal,
            code = fault.code,
            addr = fault.addr,
            rip = self.regs.rip,
            "fault kills the process"
        );
        Some(ExitStatus::Signaled(fault.signal))
    }
}

/// The body of the init task's OS thread: build the address space, load the
/// program, report the start, run.
pub(crate) fn run_init(
    kernel: Arc<Kernel>,
    start: TaskStart,
    started: SyncSender<Result<(), KernelError>>,
) -> ExitStatus {
    let mut task = match new_init_task(kernel, start) {
        Ok(task) => task,
        Err(err) => {
            let _ = started.send(Err(err));
            return ExitStatus::Signaled(libc::SIGKILL);
        }
    };
    let _ = started.send(Ok(()));
    task.run()
}

fn new_init_task(kernel: Arc<Kernel>, start: TaskStart) -> Result<Task, KernelError> {
    let TaskStart { spec, executable } = start;
    let (space, context) =
        platform::new_address_space(kernel.config.platform, kernel.config.pin_cpu, &kernel.memory_file)?;
    let mut mm = MemoryManager::new(Arc::clone(&kernel.memory_file), space);
    let exec_args = ExecArgs {
        argv: &spec.argv,
        env: &spec.env,
        credentials: &spec.credentials,
        stack_limit: spec.rlimits.soft(libc::RLIMIT_STACK),
    };
    let entry = loader::load(&mut mm, &executable, &exec_args)?;
    let mut regs = context.initial_registers();
    regs.rip = entry.rip;
    regs.rsp = entry.rsp;
    let mut fds = FdTable::default();
    let nofile = spec.rlimits.soft(libc::RLIMIT_NOFILE).max(3);
    for (fd, host) in spec.stdio.into_iter().enumerate() {
        fds.install_at(fd as i32, Arc::new(HostFile::new(host)), false, nofile)
            .expect("fds 0-2 are below any RLIMIT_NOFILE");
    }
    Ok(Task {
        kernel,
        regs,
        mm,
        fds,
        credentials: spec.credentials,
        rlimits: spec.rlimits,
        umask: spec.umask & 0o777,
        cwd: spec.cwd,
        exe_path: executable.path,
        signals: SignalState::default(),
        clear_child_tid: 0,
        robust_list: 0,
        exit_status: None,
        context,
    })
}
