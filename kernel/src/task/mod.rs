//! Tasks: one application thread each, run by a dedicated OS thread.
//!
//! The run loop, as in gVisor's task_run.go: switch into the application
//! through the platform → come back with an event → serve the system call or
//! handle the fault → deliver pending signals → repeat, until the task exits.
//! A process is one task so far (threads arrive later); the [`TaskSet`]
//! holds what other processes see of it.

mod blocker;
mod set;
mod waker;

pub use blocker::Blocker;
pub use set::{INIT_PID, TaskSet, WaitEvent, WaitOptions, WaitResult, WaitTarget, is_fault};
pub use waker::{WaitQueue, Waker};

use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::arch::Registers;
use crate::fs::{FdTable, HostFile};
use crate::kernel::{Credentials, ExitStatus, Kernel, KernelError, ProcessSpec};
use crate::limits::ResourceLimits;
use crate::loader::{self, ExecArgs, Executable};
use crate::memory::{ForkedMemory, MemoryManager};
use crate::platform::{self, Context, Event, Fault};
use crate::signal::frame::{self, AltStack, FrameRequest};
use crate::signal::{self, DefaultAction, SIG_DFL, SigAction, SigInfo, SigSet};
use crate::syscalls;

/// How an interrupted system call goes on when the signal that
/// interrupted it has been dealt with (Linux's ERESTART* codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// ERESTARTSYS: restart, unless a handler without SA_RESTART runs.
    UnlessHandled,
    /// ERESTARTNOHAND: restart only if no handler runs.
    IfNoHandler,
    /// ERESTART_RESTARTBLOCK: if no handler runs, go on through
    /// restart_syscall(2) until this deadline (interrupted sleeps).
    Sleep { clock: libc::clockid_t, deadline: Instant },
}

/// A task: the state of one application thread.
pub struct Task {
    pub kernel: Arc<Kernel>,
    /// The pid in the sandbox's namespace (also the tid: one thread each).
    pub pid: i32,
    pub waker: Arc<Waker>,
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
    /// The command name (PR_SET_NAME, /proc/PID/comm): 15 bytes at most.
    pub name: String,
    /// Blocked signals.
    pub signal_mask: SigSet,
    /// rt_sigsuspend: the mask to put back once the handler frame is built.
    pub saved_mask: Option<SigSet>,
    pub altstack: AltStack,
    /// set_tid_address(2): cleared when the thread exits or execs.
    pub clear_child_tid: u64,
    /// set_robust_list(2): head of the robust futex list.
    pub robust_list: u64,
    /// Set by a handler that returned EINTR: how the call may go on.
    pub restart: Option<Restart>,
    /// The interrupted sleep restart_syscall(2) continues.
    pub restart_sleep: Option<(libc::clockid_t, Instant)>,
    /// Set by exit, exit_group and fatal signals: the run loop stops.
    pub exit_status: Option<ExitStatus>,
    context: Box<dyn Context>,
}

/// What a task thread needs to start the init process.
pub struct TaskStart {
    pub spec: ProcessSpec,
    pub executable: Executable,
}

/// What a forked child starts from: a copy of its parent.
pub struct ForkStart {
    pub pid: i32,
    pub waker: Arc<Waker>,
    pub regs: Registers,
    pub memory: ForkedMemory,
    pub fds: FdTable,
    pub credentials: Credentials,
    pub rlimits: ResourceLimits,
    pub umask: u32,
    pub cwd: String,
    pub exe_path: String,
    pub name: String,
    pub signal_mask: SigSet,
    pub altstack: AltStack,
    pub clear_child_tid: u64,
    /// CLONE_CHILD_SETTID: where the child stores its pid in its memory.
    pub set_child_tid: Option<u64>,
}

impl Task {
    pub fn tid(&self) -> i32 {
        self.pid
    }

    pub fn tasks(&self) -> &TaskSet {
        &self.kernel.tasks
    }

    /// A blocker for sleeping on this task's behalf.
    pub fn blocker(&self) -> Blocker<'_> {
        Blocker::new(&self.waker, &self.kernel.tasks, self.pid, self.signal_mask)
    }

    /// CPU time the task has used in application code.
    pub fn cpu_time(&self) -> Duration {
        self.context.cpu_time()
    }

    /// Runs the task until it exits, then tears it down.
    fn run(mut self) -> ExitStatus {
        let status = loop {
            match self.context.switch(&mut self.regs) {
                Ok(Event::Syscall) => syscalls::dispatch(&mut self),
                Ok(Event::Fault(fault)) => self.handle_fault(fault),
                Ok(Event::Interrupted) => {}
                Err(err) => {
                    tracing::error!(pid = self.pid, %err, "lost the application's execution context");
                    self.exit_status = Some(ExitStatus::Signaled(libc::SIGKILL));
                }
            }
            if self.exit_status.is_none() {
                self.deliver_signals();
            }
            if let Some(status) = self.exit_status {
                break status;
            }
        };
        self.exit(status);
        status
    }

    /// A fault either grows the stack or raises its signal, which is
    /// delivered even if blocked or ignored (Linux's force_sig_fault).
    fn handle_fault(&mut self, fault: Fault) {
        let stack_limit = self.rlimits.soft(libc::RLIMIT_STACK);
        if fault.signal == libc::SIGSEGV && self.mm.grow_down(fault.addr, stack_limit) {
            return;
        }
        tracing::debug!(
            pid = self.pid,
            signal = fault.signal,
            code = fault.code,
            addr = fault.addr,
            rip = self.regs.rip,
            "fault"
        );
        let signo = fault.signal;
        let blocked = self.signal_mask & signal::bit(signo) != 0;
        self.tasks().with_actions(self.pid, |actions| {
            if blocked || actions.get(signo).handler == signal::SIG_IGN {
                actions.set(signo, SigAction::default());
            }
        });
        self.signal_mask &= !signal::bit(signo);
        let info = SigInfo {
            signo,
            code: fault.code,
            addr: fault.addr,
            ..Default::default()
        };
        // The process exists while its task runs.
        let _ = self.tasks().send(self.pid, info);
    }

    /// Acts on pending signals: default actions, or one handler frame.
    /// Also settles how an interrupted system call goes on.
    fn deliver_signals(&mut self) {
        let interrupted = self.restart.take();
        let mut handled = false;
        while let Some((info, action)) = self.tasks().dequeue_signal(self.pid, self.signal_mask) {
            let signo = info.signo;
            if action.handler == SIG_DFL || signo == libc::SIGKILL || signo == libc::SIGSTOP {
                match signal::default_action(signo) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        self.stop(signo);
                        if self.exit_status.is_some() {
                            return;
                        }
                        continue;
                    }
                    DefaultAction::Terminate | DefaultAction::Core => {
                        self.exit_status = Some(ExitStatus::Signaled(signo));
                        return;
                    }
                }
            }
            if let Some(restart) = interrupted {
                let restart_after_handler = restart == Restart::UnlessHandled && action.flags & signal::SA_RESTART != 0;
                if restart_after_handler {
                    self.restart_syscall(self.regs.orig_rax);
                } else {
                    self.regs.rax = -(Errno::EINTR as i64) as u64;
                }
            }
            self.setup_handler(&info, &action);
            handled = true;
            break;
        }
        if !handled {
            match interrupted {
                Some(Restart::UnlessHandled | Restart::IfNoHandler) => self.restart_syscall(self.regs.orig_rax),
                Some(Restart::Sleep { clock, deadline }) => {
                    self.restart_sleep = Some((clock, deadline));
                    self.restart_syscall(libc::SYS_restart_syscall as u64);
                }
                None => {}
            }
            if let Some(mask) = self.saved_mask.take() {
                self.signal_mask = mask;
            }
        }
    }

    /// Makes the application execute its `syscall` instruction again, with
    /// system-call number `number`.
    fn restart_syscall(&mut self, number: u64) {
        self.regs.rax = number;
        self.regs.rip -= 2;
    }

    /// Builds the frame for `action`'s handler and points the registers at
    /// it. A frame that cannot be written kills the process with SIGSEGV.
    fn setup_handler(&mut self, info: &SigInfo, action: &SigAction) {
        let fp_state = match self.context.fp_state() {
            Ok(state) => state,
            Err(err) => {
                tracing::error!(pid = self.pid, %err, "cannot read the FPU state");
                self.exit_status = Some(ExitStatus::Signaled(libc::SIGKILL));
                return;
            }
        };
        let saved_mask = self.saved_mask.take().unwrap_or(self.signal_mask);
        let request = FrameRequest {
            info,
            action,
            saved_mask,
            altstack: self.altstack,
            fp_state: &fp_state,
        };
        let stack_limit = self.rlimits.soft(libc::RLIMIT_STACK);
        if frame::push(&mut self.mm, &mut self.regs, &request, stack_limit).is_err() {
            self.exit_status = Some(ExitStatus::Signaled(libc::SIGSEGV));
            return;
        }
        let signo = info.signo;
        self.signal_mask |= action.mask & !signal::UNBLOCKABLE;
        if action.flags & signal::SA_NODEFER == 0 {
            self.signal_mask |= signal::bit(signo);
        }
        if action.flags & signal::SA_RESETHAND != 0 {
            self.tasks()
                .with_actions(self.pid, |actions| actions.set(signo, SigAction::default()));
        }
    }

    /// rt_sigreturn(2): restores what the handler frame saved.
    pub fn sigreturn(&mut self) -> Result<(), Errno> {
        let fp_len = self.context.fp_state().map_err(|_| Errno::EFAULT)?.len();
        let restored = frame::pop(&self.mm, &mut self.regs, fp_len)?;
        self.signal_mask = restored.mask;
        if let Some(fp) = restored.fp_state {
            self.context.set_fp_state(&fp).map_err(|_| Errno::EFAULT)?;
        }
        // As sigaltstack(2) would: refused while running on the stack.
        if !self.altstack.contains(self.regs.rsp) {
            self.altstack = restored.altstack;
        }
        Ok(())
    }

    /// A job-control stop: off the CPU until SIGCONT or SIGKILL.
    fn stop(&mut self, signo: i32) {
        self.tasks().stop(self.pid, signo);
        loop {
            let seen = self.waker.sequence();
            if !self.tasks().is_stopped(self.pid) {
                return;
            }
            if self.tasks().pending(self.pid) & signal::bit(libc::SIGKILL) != 0 {
                self.exit_status = Some(ExitStatus::Signaled(libc::SIGKILL));
                return;
            }
            self.waker.wait(seen, None);
        }
    }

    /// Forks a child process: a copy of this one, with its own address
    /// space, running on its own OS thread. With `vfork`, returns only once
    /// the child has exec'd or exited.
    pub fn fork(&mut self, request: ForkRequest) -> Result<i32, Errno> {
        let memory = self.mm.fork_copy()?;
        let (pid, waker) = self
            .tasks()
            .create_child(self.pid, request.exit_signal, request.same_parent)?;
        let mut regs = self.regs;
        regs.rax = 0;
        if let Some(stack) = request.stack {
            regs.rsp = stack;
        }
        if let Some(tls) = request.tls {
            regs.fs_base = tls;
        }
        let start = ForkStart {
            pid,
            waker,
            regs,
            memory,
            fds: self.fds.clone(),
            credentials: self.credentials.clone(),
            rlimits: self.rlimits.clone(),
            umask: self.umask,
            cwd: self.cwd.clone(),
            exe_path: self.exe_path.clone(),
            name: self.name.clone(),
            signal_mask: self.signal_mask,
            altstack: self.altstack,
            clear_child_tid: request.child_clear_tid.unwrap_or(0),
            set_child_tid: request.child_set_tid,
        };
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
        let kernel = Arc::clone(&self.kernel);
        let spawned = std::thread::Builder::new()
            .name(format!("task-{pid}"))
            .spawn(move || run_child(kernel, start, started_tx));
        let started = match spawned {
            Ok(_) => started_rx.recv().unwrap_or(Err(Errno::EAGAIN)),
            Err(_) => Err(Errno::EAGAIN),
        };
        if let Err(errno) = started {
            self.tasks().abandon_child(pid);
            return Err(errno);
        }
        if request.vfork {
            // The parent sleeps until the child lets go of it; only
            // SIGKILL ends the wait early, as on Linux.
            loop {
                let seen = self.waker.sequence();
                if self.tasks().vfork_done(pid) || self.tasks().pending(self.pid) & signal::bit(libc::SIGKILL) != 0 {
                    break;
                }
                self.waker.wait(seen, None);
            }
        }
        Ok(pid)
    }

    /// execve(2): replaces the program. Fails with nothing changed, or
    /// succeeds with a new address space.
    pub fn exec(&mut self, executable: Executable, argv: Vec<String>, env: Vec<String>) -> Result<(), Errno> {
        let kernel = Arc::clone(&self.kernel);
        let (space, context) =
            platform::new_address_space(kernel.config.platform, kernel.config.pin_cpu, &kernel.memory_file).map_err(
                |err| {
                    tracing::warn!(pid = self.pid, %err, "cannot create an address space for execve");
                    Errno::ENOMEM
                },
            )?;
        let mut mm = MemoryManager::new(Arc::clone(&kernel.memory_file), space);
        let args = ExecArgs {
            argv: &argv,
            env: &env,
            credentials: &self.credentials,
            stack_limit: self.rlimits.soft(libc::RLIMIT_STACK),
        };
        let entry = loader::load(&mut mm, &executable, &args).map_err(|err| err.errno())?;
        // The point of no return.
        self.release_clear_child_tid();
        self.mm = mm;
        self.context = context;
        self.regs = self.context.initial_registers();
        self.regs.rip = entry.rip;
        self.regs.rsp = entry.rsp;
        self.fds.close_on_exec();
        self.tasks().with_actions(self.pid, |actions| actions.reset_for_exec());
        self.altstack = AltStack::DISABLED;
        self.robust_list = 0;
        self.name = command_name(&executable.path);
        self.exe_path = executable.path;
        self.tasks().set_interrupter(self.pid, self.context.interrupter());
        self.tasks().exec_done(self.pid);
        Ok(())
    }

    /// The CLONE_CHILD_CLEARTID word is zeroed when the task lets go of its
    /// memory (exit or exec). The futex wake that goes with it arrives with
    /// futexes.
    fn release_clear_child_tid(&mut self) {
        if self.clear_child_tid != 0 {
            let _ = self.mm.write_pod(self.clear_child_tid, &0u32);
            self.clear_child_tid = 0;
        }
    }

    /// Tears the task down: files first (so pipes see EOF), then memory and
    /// the stub, then the parent hears of it.
    fn exit(mut self, status: ExitStatus) {
        self.release_clear_child_tid();
        let cpu = self.context.cpu_time();
        let Task {
            kernel,
            pid,
            fds,
            mm,
            context,
            ..
        } = self;
        drop(fds);
        drop(mm);
        drop(context);
        kernel.tasks.exit(pid, status, cpu);
    }
}

/// What clone(2) asks of a new process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForkRequest {
    /// The signal the parent gets when the child exits.
    pub exit_signal: i32,
    /// CLONE_PARENT: the child is the caller's sibling.
    pub same_parent: bool,
    /// CLONE_VFORK: the caller waits for the child's exec or exit.
    pub vfork: bool,
    /// The child's stack pointer, if given.
    pub stack: Option<u64>,
    /// CLONE_SETTLS.
    pub tls: Option<u64>,
    /// CLONE_CHILD_CLEARTID.
    pub child_clear_tid: Option<u64>,
    /// CLONE_CHILD_SETTID: where the child stores its pid.
    pub child_set_tid: Option<u64>,
}

/// The name /proc/PID/comm shows for a program: its file name, cut to 15
/// bytes as TASK_COMM_LEN does.
fn command_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// The body of the init task's OS thread: build the address space, load the
/// program, report the start, run.
pub(crate) fn run_init(
    kernel: Arc<Kernel>,
    start: TaskStart,
    started: SyncSender<Result<(), KernelError>>,
) -> ExitStatus {
    let task = match new_init_task(kernel, start) {
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
    let waker = kernel.tasks.create_init(spec.credentials.uid);
    kernel.tasks.set_interrupter(INIT_PID, context.interrupter());
    Ok(Task {
        pid: INIT_PID,
        waker,
        regs,
        mm,
        fds,
        credentials: spec.credentials,
        rlimits: spec.rlimits,
        umask: spec.umask & 0o777,
        cwd: spec.cwd,
        name: command_name(&executable.path),
        exe_path: executable.path,
        signal_mask: 0,
        saved_mask: None,
        altstack: AltStack::DISABLED,
        clear_child_tid: 0,
        robust_list: 0,
        restart: None,
        restart_sleep: None,
        exit_status: None,
        context,
        kernel,
    })
}

/// The body of a forked child's OS thread.
fn run_child(kernel: Arc<Kernel>, start: ForkStart, started: SyncSender<Result<(), Errno>>) {
    let pid = start.pid;
    let task = match new_child_task(kernel, start) {
        Ok(task) => task,
        Err(errno) => {
            let _ = started.send(Err(errno));
            return;
        }
    };
    let _ = started.send(Ok(()));
    let status = task.run();
    tracing::debug!(pid, ?status, "process exited");
}

fn new_child_task(kernel: Arc<Kernel>, start: ForkStart) -> Result<Task, Errno> {
    let (space, context) =
        platform::new_address_space(kernel.config.platform, kernel.config.pin_cpu, &kernel.memory_file).map_err(
            |err| {
                tracing::warn!(%err, "cannot create an address space for a child");
                Errno::EAGAIN
            },
        )?;
    let mm = MemoryManager::from_fork(Arc::clone(&kernel.memory_file), space, start.memory)?;
    if let Some(addr) = start.set_child_tid {
        mm.write_pod(addr, &(start.pid as u32))?;
    }
    kernel.tasks.set_interrupter(start.pid, context.interrupter());
    Ok(Task {
        pid: start.pid,
        waker: start.waker,
        regs: start.regs,
        mm,
        fds: start.fds,
        credentials: start.credentials,
        rlimits: start.rlimits,
        umask: start.umask,
        cwd: start.cwd,
        exe_path: start.exe_path,
        name: start.name,
        signal_mask: start.signal_mask,
        saved_mask: None,
        altstack: start.altstack,
        clear_child_tid: start.clear_child_tid,
        robust_list: 0,
        restart: None,
        restart_sleep: None,
        exit_status: None,
        context,
        kernel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_are_cut_like_task_comm() {
        assert_eq!(command_name("/bin/busybox"), "busybox");
        assert_eq!(command_name("/usr/bin/a-very-long-program-name"), "a-very-long-pro");
    }
}
