//! A traced task's side of ptrace(2): where it stops for its tracer
//! (system-call entry and exit, signal delivery, group-stops, the fork,
//! clone, exec and exit events, PTRACE_INTERRUPT), and what it does for
//! the tracer while stopped: it answers requests about what only its own
//! thread holds (registers, FPU state, the stop's siginfo, the signal
//! mask) until the tracer lets it go.

use std::sync::mpsc;

use super::Task;
use super::set::trace::{self as ptrace, EVENT_STOP};
use super::set::{Resume, ResumeHow, SyscallInfo, TraceCall, TraceReply, TraceRequest};
use crate::abi::ExitStatus;
use crate::abi::arch::Registers;
use crate::abi::signal::{self, SigInfo};
use nix::errno::Errno;

/// EFLAGS.TF: trap after the next instruction.
const TRAP_FLAG: u64 = 0x100;
/// The EFLAGS bits a tracer may change (Linux's FLAG_MASK).
const USER_FLAGS: u64 = 0x50dd5;
/// MXCSR's bits no x86-64 CPU defines.
const MXCSR_RESERVED: u32 = 0xffff_0000;
/// Above this a segment base would point into the kernel half (EIO).
const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// What a traced task keeps for its tracer.
#[derive(Debug, Default)]
pub struct Tracing {
    /// Resumed with PTRACE_SYSCALL or PTRACE_SYSEMU: stop at the next
    /// system call.
    syscall: Option<ResumeHow>,
    /// PTRACE_SINGLESTEP set the trap flag.
    stepping: bool,
    /// The signal of a signal-delivery-stop, which the tracer may read and
    /// change; None in other stops (PTRACE_GETSIGINFO is then EINVAL).
    siginfo: Option<SigInfo>,
    event_msg: u64,
    syscall_info: SyscallInfo,
    /// In PTRACE_EVENT_EXIT's stop: the task's own exit does not end the
    /// stop, only SIGKILL does.
    exiting: bool,
    /// PTRACE_LISTEN: the group-stop goes on until a SIGCONT or SIGKILL.
    listening: bool,
}

impl Task {
    /// Whether the tracer asked to stop at this system call.
    pub(super) fn traces_syscalls(&self) -> bool {
        self.tracing.syscall.is_some()
    }

    /// The system-call-entry stop: the tracer sees rax = -ENOSYS and may
    /// change the call (orig_rax -1 skips it). Returns whether to serve it.
    pub(super) fn syscall_entry_stop(&mut self) -> bool {
        let Some(how) = self.tracing.syscall else {
            return true;
        };
        self.regs.rax = (-i64::from(Errno::ENOSYS as i32)) as u64;
        let info = SyscallInfo {
            op: 1,
            instruction_pointer: self.regs.rip,
            stack_pointer: self.regs.rsp,
            nr: self.regs.orig_rax,
            args: [
                self.regs.rdi,
                self.regs.rsi,
                self.regs.rdx,
                self.regs.r10,
                self.regs.r8,
                self.regs.r9,
            ],
            ..Default::default()
        };
        let status = self.syscall_stop_status();
        self.tracing.syscall = None;
        let Some(resume) = self.trace_stop(status, Some(self.trap_info(status)), info) else {
            return self.exit_status.is_none();
        };
        self.resume_after_syscall_stop(resume);
        // SYSEMU: the tracer serves the call itself.
        how != ResumeHow::Sysemu && self.regs.orig_rax != u64::MAX
    }

    /// The system-call-exit stop, when the entry was resumed with
    /// PTRACE_SYSCALL.
    pub(super) fn syscall_exit_stop(&mut self) {
        if self.tracing.syscall != Some(ResumeHow::Syscall) || self.exit_status.is_some() {
            return;
        }
        let rval = self.regs.rax as i64;
        let info = SyscallInfo {
            op: 2,
            instruction_pointer: self.regs.rip,
            stack_pointer: self.regs.rsp,
            rval,
            is_error: (-4095..0).contains(&rval),
            ..Default::default()
        };
        let status = self.syscall_stop_status();
        self.tracing.syscall = None;
        if let Some(resume) = self.trace_stop(status, Some(self.trap_info(status)), info) {
            self.resume_after_syscall_stop(resume);
        }
    }

    /// SIGTRAP, with 0x80 under PTRACE_O_TRACESYSGOOD.
    fn syscall_stop_status(&self) -> i32 {
        let good = self
            .tasks()
            .trace_options(self.tid)
            .is_some_and(|(options, _)| options & ptrace::O_TRACESYSGOOD != 0);
        libc::SIGTRAP | if good { 0x80 } else { 0 }
    }

    /// After a syscall-stop, a signal the tracer resumes with is sent to
    /// the tracee, as Linux's ptrace_report_syscall does.
    fn resume_after_syscall_stop(&mut self, resume: Resume) {
        if resume.signal != 0 && signal::valid(resume.signal) {
            let info = self.injected_signal(resume.signal);
            let _ = self
                .tasks()
                .send_thread(self.tid, None, &crate::abi::Credentials::default(), info);
        }
    }

    /// A signal-delivery-stop for `info`: None to discard the signal (the
    /// tracer resumed with 0), else the signal to deliver, which the tracer
    /// may have changed. Untraced, the signal is delivered as it is.
    pub(super) fn signal_delivery_stop(&mut self, info: SigInfo) -> Option<SigInfo> {
        if info.signo == libc::SIGKILL || self.tasks().tracer_of(self.tid).is_none() {
            return Some(info);
        }
        let resume = self.trace_stop(info.signo, Some(info), SyscallInfo::default());
        let kept = self.tracing.siginfo.take().unwrap_or(info);
        match resume {
            // No longer traced: the signal goes on; killed: nothing does.
            None if self.exit_status.is_some() => None,
            None => Some(kept),
            Some(Resume { signal: 0, .. }) => None,
            Some(Resume { signal, .. }) if signal == kept.signo => Some(kept),
            Some(Resume { signal, .. }) => Some(self.injected_signal(signal)),
        }
    }

    /// The siginfo of a signal the tracer injected: from the tracer, as
    /// Linux fills it when the signal changed.
    fn injected_signal(&self, signo: i32) -> SigInfo {
        let tracer = self.tasks().tracer_of(self.tid).unwrap_or(0);
        SigInfo::from_process(signo, signal::SI_USER, tracer, 0)
    }

    /// A stop signal's group-stop, traced: the tracer sees it (seized: as
    /// PTRACE_EVENT_STOP) and the task goes on when resumed. False if not
    /// traced: the caller stops as usual.
    pub(super) fn traced_group_stop(&mut self, signo: i32) -> bool {
        let Some((_, seized)) = self.tasks().trace_options(self.tid) else {
            return false;
        };
        // Seized, the stop is a trap with a siginfo; attached, it has none.
        let (status, siginfo) = if seized {
            let status = signo | (EVENT_STOP << 8);
            // do_jobctl_trap: the stop signal, with the status as si_code.
            let info = SigInfo::from_process(signo, status, self.tid, self.credentials.ruid);
            (status, Some(info))
        } else {
            (signo, None)
        };
        let _ = self.trace_stop(status, siginfo, SyscallInfo::default());
        true
    }

    /// An event stop (PTRACE_EVENT_*), with the message GETEVENTMSG reads,
    /// if the tracer's options ask for it (`option`; 0 for always).
    pub(super) fn event_stop(&mut self, event: i32, option: u32, message: u64) {
        let Some((options, _)) = self.tasks().trace_options(self.tid) else {
            return;
        };
        if option != 0 && options & option == 0 {
            return;
        }
        self.tracing.event_msg = message;
        let status = libc::SIGTRAP | (event << 8);
        let _ = self.trace_stop(status, Some(self.trap_info(status)), SyscallInfo::default());
    }

    /// SECCOMP_RET_TRACE with `data`: a tracer that asked for
    /// PTRACE_O_TRACESECCOMP stops the task at PTRACE_EVENT_SECCOMP, and
    /// may change or skip (orig_rax -1) the call. Some(whether to serve
    /// it) when such a tracer stopped it; None without one (ENOSYS).
    pub fn seccomp_trace(&mut self, data: u16) -> Option<bool> {
        let (options, _) = self.tasks().trace_options(self.tid)?;
        if options & ptrace::O_TRACESECCOMP == 0 {
            return None;
        }
        self.regs.rax = (-i64::from(Errno::ENOSYS as i32)) as u64;
        self.tracing.event_msg = u64::from(data);
        let status = libc::SIGTRAP | (ptrace::EVENT_SECCOMP << 8);
        let info = SyscallInfo {
            op: 3,
            instruction_pointer: self.regs.rip,
            stack_pointer: self.regs.rsp,
            nr: self.regs.orig_rax,
            args: [
                self.regs.rdi,
                self.regs.rsi,
                self.regs.rdx,
                self.regs.r10,
                self.regs.r8,
                self.regs.r9,
            ],
            ret_data: u32::from(data),
            ..Default::default()
        };
        let _ = self.trace_stop(status, Some(self.trap_info(status)), info);
        Some(self.exit_status.is_none() && self.regs.orig_rax != u64::MAX)
    }

    /// After a successful execve: PTRACE_EVENT_EXEC, or for a tracee
    /// attached without PTRACE_SEIZE and without the option, a SIGTRAP.
    pub(super) fn exec_event(&mut self, former_tid: i32) {
        let Some((options, seized)) = self.tasks().trace_options(self.tid) else {
            return;
        };
        if options & ptrace::O_TRACEEXEC != 0 {
            self.event_stop(ptrace::EVENT_EXEC, 0, u64::try_from(former_tid).unwrap_or(0));
        } else if !seized {
            // send_sig(SIGTRAP, current): SI_USER, from the task itself.
            let info = SigInfo::from_process(libc::SIGTRAP, signal::SI_USER, self.pid, self.credentials.ruid);
            let _ = self
                .tasks()
                .send_thread(self.tid, None, &crate::abi::Credentials::default(), info);
        }
    }

    /// Before the task ends with `status`: PTRACE_EVENT_EXIT, whose message
    /// is the wait status (also when SIGKILL ends it; nothing but the
    /// tracer ends this stop).
    pub(super) fn exit_event(&mut self, status: ExitStatus) {
        let word = match status {
            ExitStatus::Exited(code) => u64::from(code) << 8,
            ExitStatus::Signaled(signo) => u64::try_from(signo).unwrap_or(0),
        };
        let before = self.exit_status.take();
        self.tracing.exiting = true;
        self.event_stop(ptrace::EVENT_EXIT, ptrace::O_TRACEEXIT, word);
        self.tracing.exiting = false;
        self.exit_status = self.exit_status.or(before);
    }

    /// A pending PTRACE_INTERRUPT: PTRACE_EVENT_STOP.
    pub(super) fn interrupt_stop(&mut self) {
        if self.tasks().take_trace_interrupt(self.tid) {
            let status = libc::SIGTRAP | (EVENT_STOP << 8);
            let _ = self.trace_stop(status, Some(self.trap_info(status)), SyscallInfo::default());
        }
    }

    /// The siginfo of a stop that is not a signal's (Linux's
    /// ptrace_do_notify): SIGTRAP, with the stop's status as si_code.
    fn trap_info(&self, status: i32) -> SigInfo {
        SigInfo::from_process(libc::SIGTRAP, status, self.tid, self.credentials.ruid)
    }

    /// Stops for the tracer with wait status `status` and `siginfo` (what
    /// PTRACE_GETSIGINFO reads; None for a group-stop of an attached
    /// tracee), serving its requests until it resumes the task. None when
    /// not traced (or no longer), or killed meanwhile (then `exit_status`
    /// is set).
    fn trace_stop(&mut self, status: i32, siginfo: Option<SigInfo>, info: SyscallInfo) -> Option<Resume> {
        let (calls, requests) = mpsc::channel();
        self.tracing.syscall_info = info;
        self.tracing.siginfo = siginfo;
        self.tracing.listening = false;
        if !self.tasks().enter_trace_stop(self.tid, status, calls) {
            return None;
        }
        let resume = loop {
            let seen = self.waker.sequence();
            let mut resumed = None;
            while let Ok(call) = requests.try_recv() {
                if let Some(resume) = self.serve(call) {
                    resumed = Some(resume);
                    break;
                }
            }
            if resumed.is_some() {
                break resumed;
            }
            // Exiting already, not even SIGKILL ends the stop (Linux 6.1
            // on): only the tracer resuming the task or going away.
            let must_exit = self.tasks().must_exit(self.tid).filter(|_| !self.tracing.exiting);
            if let Some(status) = must_exit {
                self.exit_status = Some(status);
                break None;
            }
            if !self.tracing.exiting && self.tasks().pending(self.tid) & signal::bit(libc::SIGKILL) != 0 {
                self.exit_group(ExitStatus::Signaled(libc::SIGKILL));
                break None;
            }
            if self.tasks().tracer_of(self.tid).is_none() {
                // The tracer went away: the task runs on.
                break None;
            }
            if self.tracing.listening
                && (self.tasks().take_trace_continued(self.tid) || self.tasks().take_trace_interrupt(self.tid))
            {
                // SIGCONT ended the group-stop the tracer listened to: a
                // new trap tells it.
                let status = libc::SIGTRAP | (EVENT_STOP << 8);
                self.tracing.siginfo = Some(self.trap_info(status));
                self.tracing.listening = false;
                self.tasks().restop(self.tid, status);
                continue;
            }
            self.waker.wait(seen, None);
        };
        self.tasks().leave_trace_stop(self.tid);
        if let Some(resume) = resume {
            self.apply(resume);
        }
        resume
    }

    /// Serves one request; Some when it resumes the task.
    fn serve(&mut self, call: TraceCall) -> Option<Resume> {
        let (reply, resume) = match call.request {
            TraceRequest::GetRegs => (TraceReply::Regs(self.regs), None),
            TraceRequest::SetRegs(regs) => (self.set_traced_regs(regs), None),
            TraceRequest::GetFpState => match self.context.fp_state() {
                Ok(state) => (TraceReply::Bytes(state), None),
                Err(_) => (TraceReply::Failed(Errno::EIO), None),
            },
            TraceRequest::SetFpState(prefix) => (self.set_fp_prefix(&prefix), None),
            TraceRequest::GetSigInfo => match self.tracing.siginfo {
                Some(info) => (TraceReply::SigInfo(info), None),
                None => (TraceReply::Failed(Errno::EINVAL), None),
            },
            TraceRequest::SetSigInfo(info) => match self.tracing.siginfo {
                Some(_) => {
                    self.tracing.siginfo = Some(info);
                    (TraceReply::Done, None)
                }
                None => (TraceReply::Failed(Errno::EINVAL), None),
            },
            TraceRequest::GetEventMsg => (TraceReply::Word(self.tracing.event_msg), None),
            TraceRequest::GetSigMask => (TraceReply::Word(self.signal_mask), None),
            TraceRequest::SetSigMask(mask) => {
                self.set_signal_mask(mask);
                (TraceReply::Done, None)
            }
            TraceRequest::GetSyscallInfo => (TraceReply::SyscallInfo(self.tracing.syscall_info), None),
            // LISTEN: only a seized tracee's PTRACE_EVENT_STOP; it stays.
            TraceRequest::Resume(Resume {
                how: ResumeHow::Listen, ..
            }) => {
                let seized = self.tasks().trace_options(self.tid).is_some_and(|(_, seized)| seized);
                let event_stop = self.tracing.siginfo.is_some_and(|info| info.code >> 8 == EVENT_STOP);
                if seized && event_stop {
                    self.tracing.listening = true;
                    self.tasks().take_trace_continued(self.tid);
                    // Until it stops again, the tracee takes no requests.
                    self.tasks().set_listening(self.tid, true);
                    (TraceReply::Done, None)
                } else {
                    (TraceReply::Failed(Errno::EIO), None)
                }
            }
            TraceRequest::Resume(resume) => (TraceReply::Done, Some(resume)),
        };
        let _ = call.reply.send(reply);
        resume
    }

    /// How the task goes on after a stop.
    fn apply(&mut self, resume: Resume) {
        match resume.how {
            ResumeHow::Syscall | ResumeHow::Sysemu => self.tracing.syscall = Some(resume.how),
            _ => self.tracing.syscall = None,
        }
        if resume.how == ResumeHow::SingleStep {
            self.regs.eflags |= TRAP_FLAG;
            self.tracing.stepping = true;
        } else if std::mem::take(&mut self.tracing.stepping) {
            self.regs.eflags &= !TRAP_FLAG;
        }
        if resume.how == ResumeHow::Detach {
            self.tasks().detach(self.tid);
        }
    }

    /// PTRACE_SETREGS: the segment selectors stay (a tracer may not switch
    /// the task to another mode), the flags a user may change change, and
    /// the segment bases must be user addresses (EIO otherwise).
    fn set_traced_regs(&mut self, regs: Registers) -> TraceReply {
        if regs.cs != self.regs.cs || regs.ss != self.regs.ss || regs.fs_base >= TASK_SIZE || regs.gs_base >= TASK_SIZE
        {
            return TraceReply::Failed(Errno::EIO);
        }
        let flags = (self.regs.eflags & !USER_FLAGS) | (regs.eflags & USER_FLAGS);
        let (ds, es, fs, gs) = (self.regs.ds, self.regs.es, self.regs.fs, self.regs.gs);
        self.regs = Registers {
            eflags: flags,
            ds,
            es,
            fs,
            gs,
            ..regs
        };
        TraceReply::Done
    }

    /// Replaces the start of the XSAVE area (PTRACE_SETFPREGS' 512 bytes,
    /// or a whole PTRACE_SETREGSET NT_X86_XSTATE).
    fn set_fp_prefix(&mut self, prefix: &[u8]) -> TraceReply {
        let Ok(mut state) = self.context.fp_state() else {
            return TraceReply::Failed(Errno::EIO);
        };
        // MXCSR (at 24 in the FXSAVE image) with a reserved bit set would
        // fault the restoring XRSTOR: Linux refuses it.
        let mxcsr = prefix
            .get(24..28)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        if mxcsr.is_some_and(|mxcsr| mxcsr & MXCSR_RESERVED != 0) {
            return TraceReply::Failed(Errno::EINVAL);
        }
        if prefix.len() > state.len() {
            return TraceReply::Failed(Errno::EINVAL);
        }
        state[..prefix.len()].copy_from_slice(prefix);
        match self.context.set_fp_state(&state) {
            Ok(()) => TraceReply::Done,
            Err(_) => TraceReply::Failed(Errno::EIO),
        }
    }
}
