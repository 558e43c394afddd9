//! Tasks: one application thread each, run by a dedicated OS thread.
//!
//! Lock order: the parts of a task that others share each have their own
//! lock: `mm` (the address space, shared by CLONE_VM), `fds` (the fd table,
//! CLONE_FILES), `fs` (root, cwd and umask, CLONE_FS) and `rlimits`. A task
//! takes them one at a time, never two together, and none while it holds
//! the task set's lock (`TaskSet::inner`), nor that one while it holds
//! them. The futex table's lock (`Core::futexes`) comes before `mm`
//! (futex(2) reads the word under both), so a futex is woken only once `mm`
//! is let go of (`release_clear_child_tid`, `release_robust_futexes`).
//! Under `fs` only a dentry's `place` is taken (a path is computed under
//! it). `close_on_exec` drops files under `fds`, so `fds` comes before
//! whatever a file's drop takes (a pty master's: the task set's lock).
//!
//! The run loop, as in gVisor's task_run.go: switch into the application
//! through the platform → come back with an event → serve the system call or
//! handle the fault → deliver pending signals → repeat, until the task exits.
//! A process is one task so far (threads arrive later); the [`TaskSet`]
//! holds what other processes see of it.

mod caller;
mod core;
pub mod loader;
mod ptrace;
mod set;
mod syscall_clock;
pub mod timer;
mod view;

pub use self::core::{Core, TaskHost};
pub use caller::MaskedBlock;
pub use set::{
    Attach, INIT_PID, Life, ProcessSummary, Resume, ResumeHow, SyscallInProgress, SyscallInfo, TaskSet, TraceCall,
    TraceReply, TraceRequest, WaitEvent, WaitOptions, WaitResult, WaitTarget, is_fault, trace,
};
pub use syscall_clock::SyscallClock;
pub use view::{ProcessImage, ProcessSnapshot, TaskView, ThreadSnapshot};

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::abi::ExitStatus;
use crate::abi::UserAddr;
use crate::abi::arch::Registers;
use crate::sync::Waker;
use crate::vfs::FdTable;

use crate::abi::Credentials;
use crate::seccomp::Seccomp;

use crate::abi::limits::ResourceLimits;
use crate::mm::{ForkedMemory, MemoryManager};
use loader::{ExecArgs, Executable};

use crate::abi::signal::{self, DefaultAction, SIG_DFL, SigAction, SigInfo, SigSet};
use crate::fsimpl::host::terminal::HostTerminal;
use crate::mm::frame::{self, AltStack, FrameRequest};
use crate::platform::{AddressSpace, Context, Event, Fault, PlatformError, ThreadSeed};
use crate::vfs::Location;
use crate::vfs::caller::Internal;
use crate::vfs::lookup::{Follow, Resolver};

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

/// What CLONE_FS shares: the root, the working directory and the umask.
#[derive(Clone)]
pub struct FsContext {
    /// The task's root (chroot(2) moves it).
    pub root: Location,
    pub cwd: Location,
    pub umask: u32,
}

/// A task: the state of one application thread.
pub struct Task {
    /// What every task of the sandbox shares.
    core: Arc<Core>,
    /// The kernel above, which serves the task's system calls.
    host: Arc<dyn TaskHost>,
    /// The thread id in the sandbox's namespace.
    tid: i32,
    /// The process (thread group) id: what getpid(2) returns.
    pid: i32,
    waker: Arc<Waker>,
    regs: Registers,
    /// The address space, shared by the threads of a process (CLONE_VM).
    mm: Arc<Mutex<MemoryManager>>,
    /// The fd table (CLONE_FILES shares it).
    fds: Arc<Mutex<FdTable>>,
    /// cwd and umask (CLONE_FS shares them).
    fs: Arc<Mutex<FsContext>>,
    credentials: Credentials,
    /// The seccomp mode and filters, shared with the view so that another
    /// thread of the process can synchronize them (TSYNC).
    seccomp: Arc<Mutex<Seccomp>>,
    /// Resource limits, per process.
    rlimits: Arc<Mutex<ResourceLimits>>,
    /// The command name (PR_SET_NAME, /proc/PID/comm): 15 bytes at most.
    name: String,
    /// Blocked signals.
    signal_mask: SigSet,
    /// rt_sigsuspend: the mask to put back once the handler frame is built.
    saved_mask: Option<SigSet>,
    altstack: AltStack,
    /// set_tid_address(2): cleared when the thread exits or execs.
    clear_child_tid: UserAddr,
    /// set_robust_list(2): head of the robust futex list.
    robust_list: UserAddr,
    /// Set by a handler that returned EINTR: how the call may go on.
    restart: Option<Restart>,
    /// The interrupted sleep restart_syscall(2) continues.
    restart_sleep: Option<(libc::clockid_t, Instant)>,
    /// Set by exit, exit_group and fatal signals: the run loop stops.
    exit_status: Option<ExitStatus>,
    /// The system call being served, for the watchdog.
    syscall_clock: Arc<SyscallClock>,
    /// What a traced task keeps for its tracer.
    tracing: ptrace::Tracing,
    context: Box<dyn Context>,
}

/// Why a process started from outside the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Load(#[from] loader::LoadError),
    #[error("platform: {0}")]
    Platform(#[from] PlatformError),
    #[error("no process id is free in the sandbox")]
    PidsExhausted,
}

/// What a task thread needs to start a process from outside the sandbox:
/// the container's init, or a process `exec` adds to it.
pub struct TaskStart {
    pub spec: ProcessSpec,
    /// Host fds that become fds 0, 1 and 2.
    pub stdio: [std::os::fd::OwnedFd; 3],
    pub executable: Executable,
    /// The command name: from the program the spec names, as runc would
    /// exec it (before `#!` rewrote argv).
    pub name: String,
    pub root: Location,
    pub cwd: Location,
    pub role: ProcessRole,
    pub container: ContainerTag,
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
    /// The seccomp filters it starts under (the OCI spec's linux.seccomp).
    /// A container's later processes run under its first process's.
    pub seccomp: Seccomp,
}

impl ProcessSpec {
    /// The umask a process gets when its configuration names none, as runc
    /// does.
    pub const DEFAULT_UMASK: u32 = 0o022;
}

/// Which container a process belongs to; the kernel keeps the containers
/// themselves (`crate::kernel::container`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ContainerTag(pub u32);

impl ContainerTag {
    /// The container the kernel was created with.
    pub const ROOT: ContainerTag = ContainerTag(0);
}

/// Where a process started from outside the sandbox stands in its PID
/// namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRole {
    /// Pid 1: every orphan's reaper; its end kills everything else.
    Init,
    /// A process `exec` starts in the running sandbox: a fresh pid, its
    /// parent outside the sandbox, a session of its own.
    Exec,
}

/// The memory a new task starts with.
pub enum ChildMemory {
    /// fork: a copy, in a new address space.
    Copied(ForkedMemory),
    /// CLONE_VM: the parent's own, reached through a new thread of its
    /// platform address space.
    Shared(Arc<Mutex<MemoryManager>>, Box<dyn ThreadSeed>),
}

/// What a new task (forked process or new thread) starts from.
pub struct ChildStart {
    pub tid: i32,
    pub pid: i32,
    pub waker: Arc<Waker>,
    pub regs: Registers,
    pub memory: ChildMemory,
    pub fds: Arc<Mutex<FdTable>>,
    pub fs: Arc<Mutex<FsContext>>,
    pub credentials: Credentials,
    pub seccomp: Seccomp,
    pub rlimits: Arc<Mutex<ResourceLimits>>,
    pub name: String,
    pub signal_mask: SigSet,
    pub altstack: AltStack,
    pub clear_child_tid: UserAddr,
    /// CLONE_CHILD_SETTID: where the child stores its pid in its memory.
    pub set_child_tid: Option<UserAddr>,
}

impl Task {
    pub fn tid(&self) -> i32 {
        self.tid
    }

    /// The process (thread group) id: what getpid(2) returns.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The seccomp mode and filters, locked.
    pub fn seccomp(&self) -> MutexGuard<'_, Seccomp> {
        self.seccomp.lock().expect("seccomp state poisoned")
    }

    /// Replaces the thread's credentials (set*id, capset, prctl), as
    /// Linux's commit_creds: /proc and the checks of who may signal the
    /// process see the new ones at once, and a process whose effective or
    /// filesystem ids changed, or whose permitted set grew, stops being
    /// dumpable.
    pub fn set_credentials(&mut self, credentials: Credentials) {
        let old = &self.credentials;
        let changed = (old.euid, old.egid, old.fsuid, old.fsgid)
            != (credentials.euid, credentials.egid, credentials.fsuid, credentials.fsgid)
            || !credentials.caps.permitted.is_subset(old.caps.permitted);
        if changed {
            self.mm().set_dumpable(false);
        }
        self.credentials = credentials;
        if self.tid == self.pid {
            self.tasks().set_ids(self.pid, &self.credentials);
        }
        self.publish_view();
    }

    /// The waker the task sleeps on.
    pub fn waker(&self) -> &Arc<Waker> {
        &self.waker
    }

    /// The application's registers as the system call found them.
    pub fn regs(&self) -> &Registers {
        &self.regs
    }

    /// The registers the application resumes with (rt_sigreturn,
    /// arch_prctl, the system call's result).
    pub fn regs_mut(&mut self) -> &mut Registers {
        &mut self.regs
    }

    /// The command name (/proc/PID/comm).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// PR_SET_NAME: the thread's new command name, shown in /proc (and as
    /// the process's when the thread leads it).
    pub fn set_name(&mut self, name: String) {
        self.name = name;
        self.publish_view();
        if self.tid == self.pid {
            self.tasks().set_command(self.pid, &self.name);
        }
    }

    /// Blocked signals.
    pub fn signal_mask(&self) -> SigSet {
        self.signal_mask
    }

    /// Blocks `mask` while the task waits (sigsuspend, ppoll, pselect6,
    /// epoll_pwait): the mask it replaces comes back after the handler of
    /// the signal that ends the wait, or at [`Task::end_temporary_mask`].
    pub fn set_temporary_mask(&mut self, mask: SigSet) {
        self.saved_mask = Some(self.signal_mask);
        self.set_signal_mask(mask);
    }

    /// The wait ended without a signal: the mask
    /// [`Task::set_temporary_mask`] replaced comes back now.
    pub fn end_temporary_mask(&mut self) {
        if let Some(mask) = self.saved_mask.take() {
            self.set_signal_mask(mask);
        }
    }

    /// The alternate signal stack (sigaltstack(2)).
    pub fn altstack(&self) -> AltStack {
        self.altstack
    }

    pub fn set_altstack(&mut self, altstack: AltStack) {
        self.altstack = altstack;
    }

    /// set_tid_address(2): the word cleared (and its futex woken) when the
    /// thread exits or execs.
    pub fn set_clear_child_tid(&mut self, addr: UserAddr) {
        self.clear_child_tid = addr;
    }

    /// The head of the robust futex list (get_robust_list(2)).
    pub fn robust_list(&self) -> UserAddr {
        self.robust_list
    }

    /// set_robust_list(2).
    pub fn set_robust_list(&mut self, head: UserAddr) {
        self.robust_list = head;
    }

    /// How the system call that just returned EINTR goes on once the
    /// signal that interrupted it has been dealt with.
    pub fn set_restart(&mut self, restart: Restart) {
        self.restart = Some(restart);
    }

    /// A system call starts: nothing interrupted is pending restart.
    pub fn clear_restart(&mut self) {
        self.restart = None;
    }

    /// The sleep restart_syscall(2) continues, once.
    pub fn take_restart_sleep(&mut self) -> Option<(libc::clockid_t, Instant)> {
        self.restart_sleep.take()
    }

    /// exit(2): this thread ends with `status`, the others go on.
    pub fn exit_thread(&mut self, status: ExitStatus) {
        self.exit_status = Some(status);
    }

    /// The system call being served, for the watchdog.
    pub fn syscall_clock(&self) -> &SyscallClock {
        &self.syscall_clock
    }

    /// The address space, locked.
    pub fn mm(&self) -> MutexGuard<'_, MemoryManager> {
        self.mm.lock().expect("memory manager poisoned")
    }

    /// The fd table, locked.
    pub fn fds(&self) -> MutexGuard<'_, FdTable> {
        self.fds.lock().expect("fd table poisoned")
    }

    /// Gives this task its own copy of the fd table (CLONE_FILES undone).
    pub fn unshare_files(&mut self) {
        let fds = self.fds().clone();
        self.fds = Arc::new(Mutex::new(fds));
        self.publish_view();
    }

    /// A path resolver from this task's root and working directory, for
    /// this task.
    pub fn resolver(&self) -> Resolver<'_> {
        let fs = self.fs();
        Resolver {
            root: fs.root.clone(),
            cwd: fs.cwd.clone(),
            caller: self,
        }
    }

    /// A resolver whose relative paths start at `dirfd` (AT_FDCWD: the
    /// working directory), as the *at calls want. ENOTDIR when the fd is
    /// not a directory.
    pub fn resolver_at(&self, dirfd: i32) -> Result<Resolver<'_>, Errno> {
        let mut resolver = self.resolver();
        if dirfd != libc::AT_FDCWD {
            let file = self.fds().get(dirfd)?;
            let location = file.location().ok_or(Errno::ENOTDIR)?;
            resolver.cwd = location.clone();
        }
        Ok(resolver)
    }

    /// cwd and umask, locked.
    pub fn fs(&self) -> MutexGuard<'_, FsContext> {
        self.fs.lock().expect("fs context poisoned")
    }

    /// The resource limits, locked.
    pub fn rlimits(&self) -> MutexGuard<'_, ResourceLimits> {
        self.rlimits.lock().expect("rlimits poisoned")
    }

    /// The soft value of one resource limit.
    pub fn limit(&self, resource: u32) -> u64 {
        self.rlimits().soft(resource)
    }

    /// Changes the blocked-signal mask; the task set learns it too, since a
    /// blocked signal is never discarded as ignored when sent.
    pub fn set_signal_mask(&mut self, mask: SigSet) {
        self.signal_mask = mask & !signal::UNBLOCKABLE;
        self.core.tasks.set_blocked(self.tid, self.signal_mask);
    }

    /// The platform address space, operated through this thread.
    pub fn space(&self) -> &dyn AddressSpace {
        self.context.address_space()
    }

    pub fn tasks(&self) -> &TaskSet {
        &self.core.tasks
    }

    /// What every task of the sandbox shares.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// CPU time the task has used in application code.
    pub fn cpu_time(&self) -> Duration {
        self.context.cpu_time()
    }

    /// Runs the task until it exits, then tears it down.
    fn run(mut self) -> ExitStatus {
        // Killed before its platform handle was set, a new task was not
        // kicked: it looks once before it first runs application code.
        self.exit_status = self.tasks().must_exit(self.tid);
        if self.exit_status.is_none() {
            // A traced child stops (auto-attach's SIGSTOP, a seized one's
            // trap) before its first instruction, as pending signals are
            // delivered before it first runs.
            self.interrupt_stop();
            self.deliver_signals();
        }
        let status = loop {
            self.wait_while_frozen();
            if let Some(status) = self.exit_status {
                break status;
            }
            if self.mm().is_broken() {
                tracing::error!(pid = self.pid, "killed: the platform's mappings of its memory are lost");
                self.exit_group(ExitStatus::Signaled(libc::SIGKILL));
                continue;
            }
            match self.context.switch(&mut self.regs) {
                Ok(Event::Syscall) => {
                    if !self.traces_syscalls() || self.syscall_entry_stop() {
                        Arc::clone(&self.host).serve_syscall(&mut self);
                    }
                    if self.traces_syscalls() {
                        self.syscall_exit_stop();
                    }
                }
                Ok(Event::Fault(fault)) => self.handle_fault(fault),
                Ok(Event::Interrupted) => {}
                Err(err) => {
                    tracing::error!(pid = self.pid, %err, "lost the application's execution context");
                    self.exit_status = Some(ExitStatus::Signaled(libc::SIGKILL));
                }
            }
            if self.exit_status.is_none() {
                self.exit_status = self.tasks().must_exit(self.tid);
            }
            if self.exit_status.is_none() {
                self.deliver_signals();
            }
            if self.exit_status.is_none() {
                self.interrupt_stop();
            }
            if let Some(status) = self.exit_status {
                break status;
            }
        };
        self.exit_event(status);
        let status = self.exit_status.unwrap_or(status);
        self.exit(status);
        status
    }

    /// Ends the whole process (exit_group, a fatal signal): every other
    /// thread is told to go, and this one goes.
    pub fn exit_group(&mut self, status: ExitStatus) {
        self.tasks().exit_group(self.pid, status);
        self.exit_status = Some(status);
    }

    /// A fault either grows the stack or raises its signal, which is
    /// delivered even if blocked or ignored (Linux's force_sig_fault).
    fn handle_fault(&mut self, fault: Fault) {
        let stack_limit = self.limit(libc::RLIMIT_STACK);
        if fault.signal == libc::SIGSEGV && self.mm().grow_down(fault.addr, stack_limit, self.space()) {
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
        self.force_signal(SigInfo {
            signo: fault.signal,
            code: fault.code,
            addr: fault.addr,
            ..Default::default()
        });
    }

    /// Raises a signal for this thread's own instruction (a fault, a
    /// seccomp TRAP): blocked or ignored, it is unblocked and its action
    /// reset to the default, so that it cannot be missed (Linux's
    /// force_sig_info).
    pub fn force_signal(&mut self, info: SigInfo) {
        let signo = info.signo;
        let blocked = self.signal_mask & signal::bit(signo) != 0;
        self.tasks().with_actions(self.pid, |actions| {
            if blocked || actions.get(signo).handler == signal::SIG_IGN {
                actions.set(signo, SigAction::default());
            }
        });
        self.set_signal_mask(self.signal_mask & !signal::bit(signo));
        // The process exists while its task runs.
        let _ = self.tasks().send(self.pid, info);
    }

    /// Acts on pending signals: default actions, or one handler frame.
    /// Also settles how an interrupted system call goes on.
    fn deliver_signals(&mut self) {
        let interrupted = self.restart.take();
        let mut handled = false;
        while let Some((info, mut action)) = self.tasks().dequeue_signal(self.tid, self.signal_mask) {
            // A tracer sees the signal first, and may drop or change it.
            let Some(info) = self.signal_delivery_stop(info) else {
                if self.exit_status.is_some() {
                    return;
                }
                continue;
            };
            let signo = info.signo;
            if signo != libc::SIGKILL && self.tasks().tracer_of(self.tid).is_some() {
                if self.signal_mask & signal::bit(signo) != 0 && signal::UNBLOCKABLE & signal::bit(signo) == 0 {
                    // Changed to a blocked signal: it waits, queued.
                    let _ = self.tasks().send_thread(self.tid, None, &Credentials::default(), info);
                    continue;
                }
                action = self.tasks().with_actions(self.pid, |actions| actions.get(signo));
            }
            if action.handler == SIG_DFL || signo == libc::SIGKILL || signo == libc::SIGSTOP {
                match signal::default_action(signo) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        if !self.traced_group_stop(signo) {
                            self.stop(signo);
                        }
                        if self.exit_status.is_some() {
                            return;
                        }
                        continue;
                    }
                    DefaultAction::Terminate | DefaultAction::Core => {
                        self.exit_group(ExitStatus::Signaled(signo));
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
                self.set_signal_mask(mask);
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
        let stack_limit = self.limit(libc::RLIMIT_STACK);
        let mut mm = self.mm.lock().expect("memory manager poisoned");
        let pushed = frame::push(
            &mut mm,
            self.context.address_space(),
            &mut self.regs,
            &request,
            stack_limit,
        );
        drop(mm);
        if pushed.is_err() {
            self.exit_group(ExitStatus::Signaled(libc::SIGSEGV));
            return;
        }
        if let Err(err) = self.context.set_fp_state(&frame::handler_fp_state(&fp_state)) {
            tracing::warn!(pid = self.pid, %err, "cannot reset the FPU state for a handler");
        }
        let signo = info.signo;
        let mut mask = self.signal_mask | action.mask;
        if action.flags & signal::SA_NODEFER == 0 {
            mask |= signal::bit(signo);
        }
        self.set_signal_mask(mask);
        if action.flags & signal::SA_RESETHAND != 0 {
            self.tasks()
                .with_actions(self.pid, |actions| actions.set(signo, SigAction::default()));
        }
    }

    /// rt_sigreturn(2): restores what the handler frame saved.
    pub fn sigreturn(&mut self) -> Result<(), Errno> {
        let fp_len = self.context.fp_state().map_err(|_| Errno::EFAULT)?.len();
        let restored = {
            let mm = self.mm.lock().expect("memory manager poisoned");
            frame::pop(&mm, &mut self.regs, fp_len)?
        };
        self.set_signal_mask(restored.mask);
        if let Some(fp) = restored.fp_state {
            self.context.set_fp_state(&fp).map_err(|_| Errno::EFAULT)?;
        }
        // As sigaltstack(2) would: refused while running on the stack.
        if !self.altstack.contains(self.regs.rsp) {
            self.altstack = restored.altstack;
        }
        Ok(())
    }

    /// While the control plane has paused the sandbox, the task stays out of
    /// application code; only SIGKILL (or its process's exit) ends the wait.
    fn wait_while_frozen(&mut self) {
        self.wait_while(|task| task.core.is_frozen());
    }

    /// A job-control stop: off the CPU until SIGCONT or SIGKILL.
    fn stop(&mut self, signo: i32) {
        self.tasks().stop(self.pid, signo);
        self.wait_while(|task| task.tasks().is_stopped(task.pid));
    }

    /// Sleeps while `held` says so; SIGKILL or its process's exit ends the
    /// wait early.
    fn wait_while(&mut self, held: impl Fn(&Task) -> bool) {
        loop {
            let seen = self.waker.sequence();
            if !held(self) {
                return;
            }
            if let Some(status) = self.tasks().must_exit(self.tid) {
                self.exit_status = Some(status);
                return;
            }
            if self.tasks().pending(self.tid) & signal::bit(libc::SIGKILL) != 0 {
                self.exit_group(ExitStatus::Signaled(libc::SIGKILL));
                return;
            }
            self.waker.wait(seen, None);
        }
    }

    /// Creates a task: a new process (a copy of this one, or sharing its
    /// memory with CLONE_VM) or a new thread of this process
    /// (CLONE_THREAD). It runs on its own OS thread. With `vfork`, returns
    /// only once the child has exec'd or exited.
    pub fn clone_task(&mut self, request: ForkRequest) -> Result<i32, Errno> {
        let memory = if request.share_vm {
            let seed = self.context.spawn_thread().map_err(|err| {
                tracing::warn!(pid = self.pid, %err, "cannot start a stub thread");
                Errno::EAGAIN
            })?;
            ChildMemory::Shared(Arc::clone(&self.mm), seed)
        } else {
            ChildMemory::Copied(self.mm().fork_copy()?)
        };
        let (tid, pid, waker) = if request.thread {
            let (tid, waker) = self.tasks().create_thread(self.pid)?;
            (tid, self.pid, waker)
        } else {
            let (pid, waker) = self
                .tasks()
                .create_child(self.pid, request.exit_signal, request.same_parent)?;
            (pid, pid, waker)
        };
        if let Some(addr) = request.parent_set_tid {
            if let Err(errno) = self.mm().write_pod(addr, &(tid as u32)) {
                self.abandon(request.thread, tid, pid);
                return Err(errno);
            }
        }
        // A traced parent's tracer may follow the child: it is tied before
        // it runs (Linux's ptrace_init_task).
        let event = if request.vfork {
            trace::EVENT_VFORK
        } else if request.thread || request.exit_signal != libc::SIGCHLD {
            trace::EVENT_CLONE
        } else {
            trace::EVENT_FORK
        };
        let followed = self.tasks().trace_new_child(self.tid, tid, event);
        let mut regs = self.regs;
        regs.rax = 0;
        if let Some(stack) = request.stack {
            regs.rsp = stack;
        }
        if let Some(tls) = request.tls {
            regs.fs_base = tls;
        }
        let fds = if request.share_files {
            Arc::clone(&self.fds)
        } else {
            Arc::new(Mutex::new(self.fds().clone()))
        };
        let fs = if request.share_fs {
            Arc::clone(&self.fs)
        } else {
            Arc::new(Mutex::new(self.fs().clone()))
        };
        let rlimits = if request.thread {
            Arc::clone(&self.rlimits)
        } else {
            Arc::new(Mutex::new(self.rlimits().clone()))
        };
        let start = ChildStart {
            tid,
            pid,
            waker,
            regs,
            memory,
            fds,
            fs,
            credentials: self.credentials.clone(),
            seccomp: self.seccomp().clone(),
            rlimits,
            name: self.name.clone(),
            signal_mask: self.signal_mask,
            // A thread or CLONE_VM child must not share the alternate stack.
            altstack: if request.share_vm {
                AltStack::DISABLED
            } else {
                self.altstack
            },
            clear_child_tid: request.child_clear_tid.unwrap_or(UserAddr::NULL),
            set_child_tid: request.child_set_tid,
        };
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
        let (core, host) = (Arc::clone(&self.core), Arc::clone(&self.host));
        let spawned = std::thread::Builder::new()
            .name(format!("task-{tid}"))
            .spawn(move || run_child(core, host, start, started_tx));
        let started = match spawned {
            Ok(_) => started_rx.recv().unwrap_or(Err(Errno::EAGAIN)),
            Err(_) => Err(Errno::EAGAIN),
        };
        if let Err(errno) = started {
            self.abandon(request.thread, tid, pid);
            return Err(errno);
        }
        let new_tid = u64::try_from(tid).expect("tids are positive");
        if followed {
            self.event_stop(event, 0, new_tid);
        }
        if request.vfork {
            // The parent sleeps until the child lets go of it; only
            // SIGKILL ends the wait early, as on Linux.
            loop {
                let seen = self.waker.sequence();
                if self.tasks().vfork_done(pid) || self.tasks().must_exit(self.tid).is_some() {
                    break;
                }
                self.waker.wait(seen, None);
            }
            self.event_stop(trace::EVENT_VFORK_DONE, trace::O_TRACEVFORKDONE, new_tid);
        }
        Ok(tid)
    }

    /// Forgets a task whose creation failed before it ran.
    fn abandon(&self, thread: bool, tid: i32, pid: i32) {
        if thread {
            self.tasks().abandon_thread(tid);
        } else {
            self.tasks().abandon_child(pid);
        }
    }

    /// execve(2): replaces the program. Fails with nothing changed, or
    /// succeeds with a new address space. The process is named after
    /// `asked`, the path it was asked to run (a symlink's own name, a
    /// script's), as Linux names it, not after what that resolved to.
    pub fn exec(
        &mut self,
        executable: Executable,
        argv: Vec<String>,
        env: Vec<String>,
        asked: &str,
    ) -> Result<(), Errno> {
        let core = Arc::clone(&self.core);
        if !self.tasks().become_sole_thread(self.tid, &self.waker) {
            // Told to go while waiting for the other threads to.
            return Err(Errno::EINTR);
        }
        let context = core.new_address_space().map_err(|err| {
            tracing::warn!(pid = self.pid, %err, "cannot create an address space for execve");
            Errno::ENOMEM
        })?;
        let credentials = self.credentials.for_exec(&executable.file.ids()?, false);
        let mut mm = MemoryManager::new(Arc::clone(&core.memory_file));
        // An image running with ids its user does not have cannot be
        // inspected by that user (begin_new_exec's dumpability).
        mm.set_dumpable(credentials.euid == credentials.ruid && credentials.egid == credentials.rgid);
        let args = ExecArgs {
            argv: &argv,
            env: &env,
            credentials: &credentials,
            stack_limit: self.limit(libc::RLIMIT_STACK),
        };
        let entry = loader::load(&mut mm, context.address_space(), &executable, &args).map_err(|err| err.errno())?;
        let image = ProcessImage::read(&mm, entry.rsp, executable.file.location().clone());
        // The point of no return.
        self.release_clear_child_tid();
        self.mm = Arc::new(Mutex::new(mm));
        self.context = context;
        let former_tid = self.tid;
        // The exec'ing thread now leads the process, with its pid.
        if self.tid != self.pid {
            self.tasks().take_over_leader(self.tid, self.pid);
            self.tid = self.pid;
        }
        self.credentials = credentials;
        self.tasks().set_ids(self.pid, &self.credentials);
        // The fd table and fs context stop being shared with a CLONE_VM
        // parent (vfork) or former threads.
        self.unshare_files();
        let fs = self.fs().clone();
        self.fs = Arc::new(Mutex::new(fs));
        self.regs = self.context.initial_registers();
        self.regs.rip = entry.rip;
        self.regs.rsp = entry.rsp;
        self.fds().close_on_exec();
        self.tasks().with_actions(self.pid, |actions| actions.reset_for_exec());
        self.altstack = AltStack::DISABLED;
        self.robust_list = UserAddr::NULL;
        self.name = command_name(asked);
        self.tasks().set_thread_handle(self.tid, self.context.handle());
        self.tasks().set_image(self.pid, Arc::new(image));
        self.publish_view();
        self.core.timers.forget(self.pid, true);
        self.tasks().exec_done(self.pid);
        self.tasks().set_command(self.pid, &self.name);
        self.exec_event(former_tid);
        Ok(())
    }

    /// The CLONE_CHILD_CLEARTID word is zeroed and its futex woken when the
    /// task lets go of its memory (exit or exec): how pthread_join learns a
    /// thread is gone.
    fn release_clear_child_tid(&mut self) {
        if !self.clear_child_tid.is_null() {
            let addr = std::mem::take(&mut self.clear_child_tid);
            let key = {
                let mm = self.mm();
                if mm.write_pod(addr, &0u32).is_err() {
                    return;
                }
                mm.futex_key(addr)
            };
            if let Ok(key) = key {
                self.core.futexes.wake(key, 1, u32::MAX);
            }
        }
    }

    /// Walks the robust futex list at thread exit (futex(2), "robust
    /// futexes"): each lock this thread still holds is marked
    /// FUTEX_OWNER_DIED and one waiter is woken.
    fn release_robust_futexes(&mut self) {
        const FUTEX_WAITERS: u32 = 0x8000_0000;
        const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
        const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
        const MAX_LOCKS: usize = 2048;
        let head = std::mem::take(&mut self.robust_list);
        if head.is_null() {
            return;
        }
        let mm = self.mm();
        let Ok(first) = mm.read_pod::<u64>(head) else {
            return;
        };
        let Ok(offset) = mm.read_pod::<i64>(head + 8) else {
            return;
        };
        let pending = mm.read_pod::<u64>(head + 16).unwrap_or(0);
        let mut entries = Vec::new();
        let mut entry = first;
        while entry != head.get() && entry != 0 && entries.len() < MAX_LOCKS {
            entries.push(entry);
            let Ok(next) = mm.read_pod::<u64>(UserAddr::new(entry)) else {
                break;
            };
            entry = next;
        }
        if pending != 0 {
            entries.push(pending);
        }
        let mut wakes = Vec::new();
        for entry in entries {
            let word = entry.wrapping_add_signed(offset);
            let Ok(value) = mm.read_pod::<u32>(UserAddr::new(word)) else {
                continue;
            };
            if value & FUTEX_TID_MASK != self.tid as u32 {
                continue;
            }
            let _ = mm.write_pod(UserAddr::new(word), &((value & FUTEX_WAITERS) | FUTEX_OWNER_DIED));
            if value & FUTEX_WAITERS != 0 {
                if let Ok(key) = mm.futex_key(UserAddr::new(word)) {
                    wakes.push(key);
                }
            }
        }
        drop(mm);
        for key in wakes {
            self.core.futexes.wake(key, 1, u32::MAX);
        }
    }

    /// Tears the task down: files first (so pipes see EOF), then memory and
    /// the stub, then the parent hears of it.
    fn exit(mut self, status: ExitStatus) {
        self.release_robust_futexes();
        self.release_clear_child_tid();
        self.tasks().withdraw_view(self.tid);
        // The thread's CPU time moves to its process's total while the stub
        // thread can still be read: once it is gone its clock reads zero, and
        // a process clock read in between (pthread_join has returned) would
        // miss it.
        self.tasks().settle_thread_cpu(self.tid, self.context.cpu_time());
        let Task {
            core,
            host,
            tid,
            fds,
            mm,
            context,
            fs,
            ..
        } = self;
        let pid = core.tasks.tgid(tid);
        // Taken now: the process may be reaped as its last thread exits,
        // and its container swept from the kernel's table once it is a
        // zombie.
        let report = pid.map(|pid| host.exit_report(pid, core.tasks.container(pid)));
        // The last holder of the fd table closes the process's files, which
        // drops its POSIX record locks (before the parent hears of the exit).
        let closes_all = Arc::strong_count(&fds) == 1;
        drop(fds);
        if let (true, Some(pid)) = (closes_all, pid) {
            crate::vfs::locks::table().release_owner(crate::vfs::locks::Owner::Process(pid));
        }
        drop(mm);
        drop(context);
        // Its root and cwd hold the container's mounts: let go of them
        // before the process counts as ended.
        drop(fs);
        if let Some(status) = core.tasks.exit_thread(tid, status, Duration::ZERO) {
            if let (Some(pid), Some(report)) = (pid, report) {
                core.timers.forget(pid, false);
                // In case a /proc reader still held the fd table above.
                crate::vfs::locks::table().release_owner(crate::vfs::locks::Owner::Process(pid));
                report(status);
            }
        }
    }
}

/// What clone(2) asks of a new task.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForkRequest {
    /// CLONE_THREAD: a thread of the caller's process.
    pub thread: bool,
    /// CLONE_VM: share the address space.
    pub share_vm: bool,
    /// CLONE_FILES: share the fd table.
    pub share_files: bool,
    /// CLONE_FS: share cwd and umask.
    pub share_fs: bool,
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
    pub child_clear_tid: Option<UserAddr>,
    /// CLONE_CHILD_SETTID: where the child stores its pid.
    pub child_set_tid: Option<UserAddr>,
    /// CLONE_PARENT_SETTID: where the parent gets the new tid, stored before
    /// the child runs (it may be gone, and have cleared it, by the time
    /// clone returns).
    pub parent_set_tid: Option<UserAddr>,
}

/// The name /proc/PID/comm shows for a program: its file name, cut to 15
/// bytes as TASK_COMM_LEN does.
pub(crate) fn command_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// The body of the OS thread of a process started from outside (the init,
/// an exec): build the address space, load the program, report the start
/// with the process's pid, run.
pub fn run_process(
    core: Arc<Core>,
    host: Arc<dyn TaskHost>,
    start: TaskStart,
    started: SyncSender<Result<i32, StartError>>,
) -> ExitStatus {
    let task = match new_process_task(core, host, start) {
        Ok(task) => task,
        Err(err) => {
            let _ = started.send(Err(err));
            return ExitStatus::Signaled(libc::SIGKILL);
        }
    };
    task.publish_view();
    let _ = started.send(Ok(task.pid));
    task.run()
}

fn new_process_task(core: Arc<Core>, host: Arc<dyn TaskHost>, start: TaskStart) -> Result<Task, StartError> {
    let TaskStart {
        spec,
        stdio,
        executable,
        name,
        root,
        cwd,
        role,
        container,
    } = start;
    // The spec's credentials are the ones the runtime holds when it
    // execs the program, which runs with what execve makes of them.
    let ids = executable.file.ids().map_err(|errno| loader::LoadError::Lookup {
        path: executable.path.clone(),
        errno,
    })?;
    let credentials = spec.credentials.for_exec(&ids, false);
    let context = core.new_address_space()?;
    let mut mm = MemoryManager::new(Arc::clone(&core.memory_file));
    mm.set_dumpable(credentials.euid == credentials.ruid && credentials.egid == credentials.rgid);
    let exec_args = ExecArgs {
        argv: &spec.argv,
        env: &spec.env,
        credentials: &credentials,
        stack_limit: spec.rlimits.soft(libc::RLIMIT_STACK),
    };
    let entry = loader::load(&mut mm, context.address_space(), &executable, &exec_args)?;
    let image = ProcessImage::read(&mm, entry.rsp, executable.file.location().clone());
    let mut regs = context.initial_registers();
    regs.rip = entry.rip;
    regs.rsp = entry.rsp;
    let mut fds = FdTable::default();
    let nofile = spec.rlimits.soft(libc::RLIMIT_NOFILE).max(3);
    let console = match role {
        ProcessRole::Init => console_node(&root, &credentials),
        ProcessRole::Exec => None,
    };
    let (files, terminal) = HostTerminal::wrap_stdio(stdio, console);
    for (fd, file) in files.into_iter().enumerate() {
        fds.install_at(fd as i32, file, false, nofile)
            .expect("fds 0-2 are below any RLIMIT_NOFILE");
    }
    let (pid, waker) = match role {
        ProcessRole::Init => (INIT_PID, core.tasks.create_init(&credentials)),
        ProcessRole::Exec => core
            .tasks
            .create_orphan(&credentials, container)
            .map_err(|_| StartError::PidsExhausted)?,
    };
    if let Some(terminal) = terminal {
        // The process leads its session: a host terminal on its stdio is
        // its controlling terminal, as it would be under a shell.
        let terminal: Arc<dyn crate::vfs::terminal::Terminal> = terminal;
        core.tasks
            .set_controlling_terminal(pid, &terminal, false, true)
            .expect("the new process leads its session and has no terminal");
    }
    core.tasks.set_thread_handle(pid, context.handle());
    core.tasks.set_image(pid, Arc::new(image));
    core.tasks.set_command(pid, &name);
    let syscall_clock = core.tasks.syscall_clock(pid).expect("the task was just registered");
    Ok(Task {
        tid: pid,
        pid,
        waker,
        regs,
        mm: Arc::new(Mutex::new(mm)),
        fds: Arc::new(Mutex::new(fds)),
        fs: Arc::new(Mutex::new(FsContext {
            root,
            cwd,
            umask: spec.umask & 0o777,
        })),
        credentials,
        seccomp: Arc::new(Mutex::new(spec.seccomp)),
        rlimits: Arc::new(Mutex::new(spec.rlimits)),
        name,
        signal_mask: 0,
        saved_mask: None,
        altstack: AltStack::DISABLED,
        clear_child_tid: UserAddr::NULL,
        robust_list: UserAddr::NULL,
        restart: None,
        restart_sleep: None,
        tracing: ptrace::Tracing::default(),
        exit_status: None,
        syscall_clock,
        context,
        core,
        host,
    })
}

/// The container's /dev/console, if it has one (a character device 5:1,
/// as devfs makes it): where the init's host terminal is named.
fn console_node(root: &Location, credentials: &Credentials) -> Option<Location> {
    let caller = Internal::new(credentials.clone(), root.clone());
    let resolver = caller.resolver(root.clone());
    let console = resolver.resolve(b"/dev/console", Follow::Always).ok()?;
    let st = console.stat().ok()?;
    let is_console = st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(5, 1);
    is_console.then_some(console)
}

/// The body of a new task's OS thread.
fn run_child(core: Arc<Core>, host: Arc<dyn TaskHost>, start: ChildStart, started: SyncSender<Result<(), Errno>>) {
    let tid = start.tid;
    let task = match new_child_task(core, host, start) {
        Ok(task) => task,
        Err(errno) => {
            let _ = started.send(Err(errno));
            return;
        }
    };
    task.publish_view();
    let _ = started.send(Ok(()));
    let status = task.run();
    tracing::debug!(tid, ?status, "task exited");
}

fn new_child_task(core: Arc<Core>, host: Arc<dyn TaskHost>, start: ChildStart) -> Result<Task, Errno> {
    let platform_error = |err: PlatformError| {
        tracing::warn!(%err, "cannot set up the platform for a new task");
        Errno::EAGAIN
    };
    let (mm, context) = match start.memory {
        ChildMemory::Copied(forked) => {
            let context = core.new_address_space().map_err(platform_error)?;
            let mm = MemoryManager::from_fork(Arc::clone(&core.memory_file), context.address_space(), forked)?;
            (Arc::new(Mutex::new(mm)), context)
        }
        ChildMemory::Shared(mm, seed) => (mm, seed.start(core.pin_cpu).map_err(platform_error)?),
    };
    if let Some(addr) = start.set_child_tid {
        mm.lock()
            .expect("memory manager poisoned")
            .write_pod(addr, &(start.tid as u32))?;
    }
    core.tasks.set_thread_handle(start.tid, context.handle());
    let syscall_clock = core.tasks.syscall_clock(start.tid).ok_or(Errno::EAGAIN)?;
    Ok(Task {
        tid: start.tid,
        pid: start.pid,
        waker: start.waker,
        regs: start.regs,
        mm,
        fds: start.fds,
        fs: start.fs,
        credentials: start.credentials,
        seccomp: Arc::new(Mutex::new(start.seccomp)),
        rlimits: start.rlimits,
        name: start.name,
        signal_mask: start.signal_mask,
        saved_mask: None,
        altstack: start.altstack,
        clear_child_tid: start.clear_child_tid,
        robust_list: UserAddr::NULL,
        restart: None,
        restart_sleep: None,
        tracing: ptrace::Tracing::default(),
        exit_status: None,
        syscall_clock,
        context,
        core,
        host,
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
