//! ptrace(2)'s side of the tables: which thread traces which, the stops a
//! tracer has not yet seen through wait, the exits of tracees it must
//! hear of, and the channel a stopped tracee serves its tracer's requests
//! on (the tracee's registers belong to its own OS thread: the tracer asks,
//! the tracee answers while it stops).
//!
//! A tracer is a process: any of its threads may wait for its tracees and
//! make requests of them (Linux ties a tracee to the tracing thread; the
//! difference only shows to a multi-threaded tracer). A tracee is a thread.

use std::sync::Arc;
use std::sync::mpsc::Sender;

use nix::errno::Errno;

use super::{Inner, Life, TaskSet, WaitEvent};
use crate::abi::ExitStatus;
use crate::abi::arch::Registers;
use crate::abi::signal::{self, SigInfo, SigSet};
use crate::sync::Waker;

/// PTRACE_O_* options.
pub const O_TRACESYSGOOD: u32 = 1;
pub const O_TRACEFORK: u32 = 1 << 1;
pub const O_TRACEVFORK: u32 = 1 << 2;
pub const O_TRACECLONE: u32 = 1 << 3;
pub const O_TRACEEXEC: u32 = 1 << 4;
pub const O_TRACEVFORKDONE: u32 = 1 << 5;
pub const O_TRACEEXIT: u32 = 1 << 6;
pub const O_TRACESECCOMP: u32 = 1 << 7;
pub const O_EXITKILL: u32 = 1 << 20;
pub const O_SUSPEND_SECCOMP: u32 = 1 << 21;
/// Every option Linux knows.
pub const O_MASK: u32 = 0xff | O_EXITKILL | O_SUSPEND_SECCOMP;

/// PTRACE_EVENT_* values: the byte above the signal in a stop's status.
pub const EVENT_FORK: i32 = 1;
pub const EVENT_VFORK: i32 = 2;
pub const EVENT_CLONE: i32 = 3;
pub const EVENT_EXEC: i32 = 4;
pub const EVENT_VFORK_DONE: i32 = 5;
pub const EVENT_EXIT: i32 = 6;
pub const EVENT_SECCOMP: i32 = 7;
pub const EVENT_STOP: i32 = 128;

/// What a tracer asks of a stopped tracee: what only the tracee's own
/// thread holds (registers, the stop's siginfo, the signal mask) and how
/// to go on.
#[derive(Debug)]
pub enum TraceRequest {
    GetRegs,
    SetRegs(Registers),
    /// The XSAVE area (its first 512 bytes are FXSAVE's).
    GetFpState,
    SetFpState(Vec<u8>),
    GetSigInfo,
    SetSigInfo(SigInfo),
    GetEventMsg,
    GetSigMask,
    SetSigMask(SigSet),
    GetSyscallInfo,
    Resume(Resume),
}

/// The tracee's answer.
#[derive(Debug)]
pub enum TraceReply {
    Done,
    Regs(Registers),
    Bytes(Vec<u8>),
    SigInfo(SigInfo),
    Word(u64),
    SyscallInfo(SyscallInfo),
    Failed(Errno),
}

/// How a stopped tracee goes on, and with which signal (0 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub how: ResumeHow,
    pub signal: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeHow {
    Continue,
    /// Stop at the next system call's entry and exit.
    Syscall,
    /// Stop at the next system call's entry and do not serve it.
    Sysemu,
    SingleStep,
    Detach,
    /// Stay in the group-stop, but let the tracer wait for what ends it.
    Listen,
}

/// PTRACE_GET_SYSCALL_INFO's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyscallInfo {
    /// PTRACE_SYSCALL_INFO_NONE (0), ENTRY (1), EXIT (2) or SECCOMP (3).
    pub op: u8,
    pub instruction_pointer: u64,
    pub stack_pointer: u64,
    pub nr: u64,
    pub args: [u64; 6],
    pub rval: i64,
    pub is_error: bool,
    pub ret_data: u32,
}

/// PR_SET_PTRACER_ANY, as the pid it stores.
pub const PTRACER_ANY: i32 = -1;

/// A request the tracer makes of a stopped tracee, with where to answer.
pub struct TraceCall {
    pub request: TraceRequest,
    pub reply: std::sync::mpsc::SyncSender<TraceReply>,
}

/// One tracee's tie to its tracer.
pub struct TraceLink {
    /// The tracing process.
    pub tracer: i32,
    pub options: u32,
    /// Attached with PTRACE_SEIZE (stops report PTRACE_EVENT_STOP, and
    /// PTRACE_INTERRUPT and PTRACE_LISTEN work).
    pub seized: bool,
    /// The stop the tracee is in, with its wait status above 0x7f
    /// (signal | event << 8), and whether a wait has reported it.
    pub stop: Option<(i32, bool)>,
    /// Where the stopped tracee takes requests.
    pub calls: Option<Sender<TraceCall>>,
    /// PTRACE_INTERRUPT asked for a PTRACE_EVENT_STOP.
    pub interrupt: bool,
    /// A SIGCONT came while the tracee was in a group-stop.
    pub continued: bool,
    /// PTRACE_LISTEN: stopped, but not for requests.
    pub listening: bool,
}

/// A tracee's exit its tracer has not reaped through wait yet.
pub(super) struct TraceExit {
    pub tracer: i32,
    pub tid: i32,
    pub pgid: i32,
    pub uid: u32,
    pub status: ExitStatus,
}

/// How an attach starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// PTRACE_TRACEME: the parent traces the caller.
    Me,
    /// PTRACE_ATTACH: a SIGSTOP stops the tracee.
    Attach,
    /// PTRACE_SEIZE with these options: no stop.
    Seize(u32),
}

impl TaskSet {
    /// Ties thread `tid` to tracer process `tracer` (for TRACEME, its
    /// parent). EPERM when the thread is traced already or is the
    /// tracer's own; ESRCH when it does not exist.
    pub fn attach(&self, tracer: Option<i32>, tid: i32, how: Attach) -> Result<i32, Errno> {
        let mut inner = self.lock();
        let Some(tgid) = inner.threads.get(&tid).map(|thread| thread.tgid) else {
            // A zombie cannot be traced; a pid that is nothing is ESRCH.
            return Err(if inner.processes.contains_key(&tid) {
                Errno::EPERM
            } else {
                Errno::ESRCH
            });
        };
        let process = inner.processes.get(&tgid).ok_or(Errno::ESRCH)?;
        if matches!(process.life, Life::Zombie { .. }) || process.group_exit.is_some() {
            return Err(Errno::EPERM);
        }
        let tracer = match (how, tracer) {
            (Attach::Me, _) => process.ppid,
            (_, Some(tracer)) => tracer,
            (_, None) => return Err(Errno::ESRCH),
        };
        if tracer == tgid || !inner.processes.contains_key(&tracer) {
            return Err(Errno::EPERM);
        }
        let thread = inner.threads.get_mut(&tid).expect("looked up above");
        if thread.trace_tracer().is_some() {
            return Err(Errno::EPERM);
        }
        let (options, seized) = match how {
            Attach::Seize(options) => (options, true),
            _ => (0, false),
        };
        thread.trace = Some(Box::new(TraceLink {
            tracer,
            options,
            seized,
            stop: None,
            calls: None,
            interrupt: false,
            continued: false,
            listening: false,
        }));
        if how == Attach::Attach {
            // A kernel-only SIGSTOP: it stops even the init.
            thread.pending.enqueue(SigInfo::from_kernel(libc::SIGSTOP));
            thread.wake();
        }
        Ok(tracer)
    }

    /// Whether thread `tid` is traced, and with which options and mode.
    pub fn trace_options(&self, tid: i32) -> Option<(u32, bool)> {
        let inner = self.lock();
        let link = inner.threads.get(&tid)?.trace.as_ref()?;
        Some((link.options, link.seized))
    }

    /// The tracer of thread `tid`, if any.
    pub fn tracer_of(&self, tid: i32) -> Option<i32> {
        self.lock().threads.get(&tid).and_then(|thread| thread.trace_tracer())
    }

    /// Sets the options of a tracee of `tracer` (PTRACE_SETOPTIONS).
    pub fn set_trace_options(&self, tracer: i32, tid: i32, options: u32) -> Result<(), Errno> {
        let mut inner = self.lock();
        let link = Self::link_of(&mut inner, tracer, tid)?;
        link.options = options;
        Ok(())
    }

    /// PTRACE_INTERRUPT: a seized tracee of `tracer` traps at once.
    pub fn interrupt_tracee(&self, tracer: i32, tid: i32) -> Result<(), Errno> {
        let mut inner = self.lock();
        let link = Self::link_of(&mut inner, tracer, tid)?;
        if !link.seized {
            return Err(Errno::EIO);
        }
        link.interrupt = true;
        if let Some(thread) = inner.threads.get(&tid) {
            thread.wake();
        }
        Ok(())
    }

    /// Takes a pending PTRACE_INTERRUPT of thread `tid`.
    pub fn take_trace_interrupt(&self, tid: i32) -> bool {
        let mut inner = self.lock();
        let Some(link) = inner.threads.get_mut(&tid).and_then(|thread| thread.trace.as_mut()) else {
            return false;
        };
        std::mem::take(&mut link.interrupt)
    }

    /// The siginfo of the signals queued for thread `tid` (with `shared`,
    /// for its process), oldest first.
    pub fn queued_signals(&self, tid: i32, shared: bool) -> Vec<SigInfo> {
        let inner = self.lock();
        let Some(thread) = inner.threads.get(&tid) else {
            return Vec::new();
        };
        let pending = if shared {
            match inner.processes.get(&thread.tgid) {
                Some(process) => &process.pending,
                None => return Vec::new(),
            }
        } else {
            &thread.pending
        };
        pending.queued().copied().collect()
    }

    /// PTRACE_KILL: SIGKILL for tracee `tid`, which also ends a stop it is
    /// in at its exit (PTRACE_EVENT_EXIT) and which nothing ignores.
    pub fn kill_tracee(&self, tid: i32) {
        let mut inner = self.lock();
        let Some(thread) = inner.threads.get_mut(&tid) else {
            return;
        };
        thread.pending.enqueue(SigInfo::from_kernel(libc::SIGKILL));
        let tgid = thread.tgid;
        thread.wake();
        if let Some(process) = inner.processes.get_mut(&tgid) {
            process.group_exit.get_or_insert(ExitStatus::Signaled(libc::SIGKILL));
        }
        inner.wake_process(tgid);
    }

    /// The process thread `tid` belongs to.
    pub fn thread_group(&self, tid: i32) -> Option<i32> {
        self.lock().threads.get(&tid).map(|thread| thread.tgid)
    }

    /// Whether process `ancestor` is `pid`'s parent, or its parent's, and
    /// so on (Yama's rule for ptrace_scope 1), or `pid` named `ancestor`
    /// (or anyone) with PR_SET_PTRACER.
    pub fn may_trace_by_relation(&self, ancestor: i32, pid: i32) -> bool {
        let inner = self.lock();
        if let Some(entry) = inner.processes.get(&pid) {
            if entry.ptracer == PTRACER_ANY || (entry.ptracer != 0 && entry.ptracer == ancestor) {
                return true;
            }
        }
        let mut at = pid;
        for _ in 0..inner.processes.len() + 1 {
            let Some(entry) = inner.processes.get(&at) else {
                return false;
            };
            if entry.ppid == ancestor {
                return true;
            }
            at = entry.ppid;
        }
        false
    }

    /// PR_SET_PTRACER: who, besides its ancestors, may trace `pid` (0 for
    /// nobody more, PTRACER_ANY for anyone); EINVAL for no such process.
    pub fn set_ptracer(&self, pid: i32, tracer: i32) -> Result<(), Errno> {
        let mut inner = self.lock();
        if tracer != 0 && tracer != PTRACER_ANY && !inner.processes.contains_key(&tracer) {
            return Err(Errno::EINVAL);
        }
        let entry = inner.processes.get_mut(&pid).ok_or(Errno::ESRCH)?;
        entry.ptracer = tracer;
        Ok(())
    }

    fn link_of(inner: &mut Inner, tracer: i32, tid: i32) -> Result<&mut TraceLink, Errno> {
        inner
            .threads
            .get_mut(&tid)
            .and_then(|thread| thread.trace.as_deref_mut())
            .filter(|link| link.tracer == tracer)
            .ok_or(Errno::ESRCH)
    }

    /// Thread `tid` enters a ptrace-stop with `status` (signal | event <<
    /// 8) and takes requests on `calls`: its tracer hears of it through
    /// wait and a SIGCHLD (CLD_TRAPPED). False if it is not traced.
    pub fn enter_trace_stop(&self, tid: i32, status: i32, calls: Sender<TraceCall>) -> bool {
        let mut inner = self.lock();
        let Some(link) = inner
            .threads
            .get_mut(&tid)
            .and_then(|thread| thread.trace.as_deref_mut())
        else {
            return false;
        };
        link.stop = Some((status, false));
        link.calls = Some(calls);
        let tracer = link.tracer;
        Self::notify_tracer_locked(&mut inner, tracer, tid, status & 0x7f);
        true
    }

    /// The stopped tracee `tid` stops anew, with `status`, in the same stop
    /// (PTRACE_LISTEN's end): its tracer hears of it.
    pub fn restop(&self, tid: i32, status: i32) {
        let mut inner = self.lock();
        let Some(link) = inner
            .threads
            .get_mut(&tid)
            .and_then(|thread| thread.trace.as_deref_mut())
        else {
            return;
        };
        link.stop = Some((status, false));
        link.listening = false;
        let tracer = link.tracer;
        Self::notify_tracer_locked(&mut inner, tracer, tid, status & 0x7f);
    }

    /// PTRACE_LISTEN began (or its stop ended) for tracee `tid`.
    pub fn set_listening(&self, tid: i32, listening: bool) {
        let mut inner = self.lock();
        if let Some(link) = inner
            .threads
            .get_mut(&tid)
            .and_then(|thread| thread.trace.as_deref_mut())
        {
            link.listening = listening;
        }
    }

    /// Takes the news that a SIGCONT came for tracee `tid`'s process.
    pub fn take_trace_continued(&self, tid: i32) -> bool {
        let mut inner = self.lock();
        inner
            .threads
            .get_mut(&tid)
            .and_then(|thread| thread.trace.as_deref_mut())
            .is_some_and(|link| std::mem::take(&mut link.continued))
    }

    /// A SIGCONT is sent to process `pid`: its traced threads hear of it
    /// (it ends a group-stop a tracer listens to), whether or not the
    /// signal itself is ignored.
    pub(super) fn trace_continue_locked(inner: &mut Inner, pid: i32) {
        let Some(process) = inner.processes.get(&pid) else {
            return;
        };
        let tids: Vec<i32> = process.threads.iter().copied().collect();
        for tid in tids {
            if let Some(thread) = inner.threads.get_mut(&tid) {
                if let Some(link) = thread.trace.as_deref_mut() {
                    link.continued = true;
                    thread.waker.notify();
                }
            }
        }
    }

    /// The stopped tracee `tid` goes on: its stop is over.
    pub fn leave_trace_stop(&self, tid: i32) {
        let mut inner = self.lock();
        if let Some(link) = inner
            .threads
            .get_mut(&tid)
            .and_then(|thread| thread.trace.as_deref_mut())
        {
            link.stop = None;
            link.calls = None;
            link.listening = false;
        }
    }

    /// Unties tracee `tid` (PTRACE_DETACH, or its tracer's end).
    pub fn detach(&self, tid: i32) {
        let mut inner = self.lock();
        if let Some(thread) = inner.threads.get_mut(&tid) {
            thread.trace = None;
            thread.wake();
        }
    }

    /// Where a request of `tracer` reaches its stopped tracee `tid`, and
    /// the waker to ring: ESRCH when it is not `tracer`'s tracee or not
    /// stopped, as Linux's ptrace_check_attach.
    pub fn tracee_calls(&self, tracer: i32, tid: i32) -> Result<(Sender<TraceCall>, Arc<Waker>), Errno> {
        let mut inner = self.lock();
        let waker = inner.threads.get(&tid).map(|thread| Arc::clone(&thread.waker));
        let link = Self::link_of(&mut inner, tracer, tid)?;
        let calls = link
            .calls
            .clone()
            .filter(|_| link.stop.is_some() && !link.listening)
            .ok_or(Errno::ESRCH)?;
        Ok((calls, waker.expect("the link's thread exists")))
    }

    /// Whether thread `tid` is `tracer`'s tracee in a stop.
    pub fn is_stopped_tracee(&self, tracer: i32, tid: i32) -> bool {
        let mut inner = self.lock();
        Self::link_of(&mut inner, tracer, tid).is_ok_and(|link| link.stop.is_some() && !link.listening)
    }

    /// A new thread or process `child` of traced thread `parent`, made by a
    /// call whose event is `event`, is traced too when the parent's
    /// options ask for that event: it starts with a SIGSTOP (or, seized,
    /// an interrupt). True when the parent reports the event.
    pub fn trace_new_child(&self, parent: i32, child: i32, event: i32) -> bool {
        let mut inner = self.lock();
        let Some(link) = inner.threads.get(&parent).and_then(|thread| thread.trace.as_ref()) else {
            return false;
        };
        let wanted = match event {
            EVENT_FORK => O_TRACEFORK,
            EVENT_VFORK => O_TRACEVFORK,
            _ => O_TRACECLONE,
        };
        if link.options & wanted == 0 {
            return false;
        }
        let (tracer, options, seized) = (link.tracer, link.options, link.seized);
        let Some(thread) = inner.threads.get_mut(&child) else {
            return false;
        };
        thread.trace = Some(Box::new(TraceLink {
            tracer,
            options,
            seized,
            stop: None,
            calls: None,
            interrupt: seized,
            continued: false,
            listening: false,
        }));
        if !seized {
            thread.pending.enqueue(SigInfo::from_kernel(libc::SIGSTOP));
        }
        true
    }

    /// Tells a tracer's process of a tracee's news: its waits wake, and it
    /// gets SIGCHLD (CLD_TRAPPED) unless it asked for SA_NOCLDSTOP.
    fn notify_tracer_locked(inner: &mut Inner, tracer: i32, tid: i32, signo: i32) {
        inner.notify_process(tracer);
        let Some(process) = inner.processes.get(&tracer) else {
            return;
        };
        if process.actions.get(libc::SIGCHLD).flags & signal::SA_NOCLDSTOP != 0 {
            return;
        }
        let uid = inner
            .threads
            .get(&tid)
            .and_then(|thread| inner.processes.get(&thread.tgid))
            .map_or(0, |entry| entry.ruid);
        let info = SigInfo {
            signo: libc::SIGCHLD,
            code: 4, // CLD_TRAPPED
            pid: tid,
            uid,
            status: signo,
            ..Default::default()
        };
        let _ = Self::send_locked(inner, tracer, info);
    }

    /// The tracee `tid` ends with `status`: its tracer learns of it through
    /// wait, unless the tracer is the parent of the process it leads (the
    /// zombie tells it). The threads `tid`'s process traces are let go,
    /// or killed if they asked for PTRACE_O_EXITKILL.
    pub(super) fn trace_thread_exit(
        inner: &mut Inner,
        tid: i32,
        tgid: i32,
        link: Option<(i32, u32)>,
        status: ExitStatus,
        last: bool,
    ) {
        if let Some((tracer, _)) = link {
            let (ppid, pgid, uid) = inner
                .processes
                .get(&tgid)
                .map_or((0, 0, 0), |entry| (entry.ppid, entry.pgid, entry.ruid));
            let zombie_tells = tid == tgid && tracer == ppid;
            if !zombie_tells {
                inner.trace_exits.push(TraceExit {
                    tracer,
                    tid,
                    pgid,
                    uid,
                    status,
                });
                Self::notify_tracer_locked(inner, tracer, tid, libc::SIGCHLD);
            }
        }
        if !last {
            return;
        }
        // The process is gone: so are its ties as a tracer.
        let tracees: Vec<(i32, u32)> = inner
            .threads
            .iter()
            .filter_map(|(other, thread)| {
                let link = thread.trace.as_ref()?;
                (link.tracer == tgid).then_some((*other, link.options))
            })
            .collect();
        for (tracee, options) in tracees {
            if let Some(thread) = inner.threads.get_mut(&tracee) {
                thread.trace = None;
                thread.wake();
            }
            if options & O_EXITKILL != 0 {
                // SIGKILL, which nothing (not even being the init) stops.
                let tgid = inner.threads.get(&tracee).map(|thread| thread.tgid);
                if let Some(process) = tgid.and_then(|tgid| inner.processes.get_mut(&tgid)) {
                    process.group_exit.get_or_insert(ExitStatus::Signaled(libc::SIGKILL));
                }
                if let Some(tgid) = tgid {
                    inner.wake_process(tgid);
                }
            }
        }
        inner.trace_exits.retain(|exit| exit.tracer != tgid);
    }

    /// For wait: a stop of a tracee of `tracer` that `selected` accepts and
    /// no wait has reported, or an exit it has not reaped.
    pub(super) fn trace_news(
        inner: &mut Inner,
        tracer: i32,
        selected: &dyn Fn(i32, i32) -> bool,
        options: super::WaitOptions,
    ) -> Option<(i32, u32, WaitEvent)> {
        if options.exited {
            if let Some(i) = inner
                .trace_exits
                .iter()
                .position(|exit| exit.tracer == tracer && selected(exit.tid, exit.pgid))
            {
                let exit = &inner.trace_exits[i];
                let found = (
                    exit.tid,
                    exit.uid,
                    WaitEvent::Exited {
                        status: exit.status,
                        cpu: std::time::Duration::ZERO,
                    },
                );
                if !options.keep {
                    inner.trace_exits.remove(i);
                }
                return Some(found);
            }
        }
        let tids: Vec<i32> = inner.threads.keys().copied().collect();
        for tid in tids {
            let thread = &inner.threads[&tid];
            let Some(process) = inner.processes.get(&thread.tgid) else {
                continue;
            };
            let (pgid, uid) = (process.pgid, process.ruid);
            let Some(link) = inner
                .threads
                .get_mut(&tid)
                .and_then(|thread| thread.trace.as_deref_mut())
            else {
                continue;
            };
            if link.tracer != tracer || !selected(tid, pgid) {
                continue;
            }
            if let Some((status, false)) = link.stop {
                if !options.keep {
                    link.stop = Some((status, true));
                }
                return Some((tid, uid, WaitEvent::Trapped(status)));
            }
        }
        None
    }

    /// Whether process `tracer` traces a thread `selected` accepts, or has
    /// such a tracee's exit to reap: then a wait has something to wait for.
    pub(super) fn has_tracees(inner: &Inner, tracer: i32, selected: &dyn Fn(i32, i32) -> bool) -> bool {
        inner
            .trace_exits
            .iter()
            .any(|exit| exit.tracer == tracer && selected(exit.tid, exit.pgid))
            || inner.threads.iter().any(|(tid, thread)| {
                let pgid = inner.processes.get(&thread.tgid).map_or(0, |entry| entry.pgid);
                thread.trace.as_ref().is_some_and(|link| link.tracer == tracer) && selected(*tid, pgid)
            })
    }
}
