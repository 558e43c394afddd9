//! Signals: dispositions, masks, the alternate stack, sending, waiting and
//! returning from handlers.

use std::time::Instant;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::int_result;
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::abi::signal::{self, SI_TKILL, SI_USER, SigAction, SigInfo, SigSet, UNBLOCKABLE};
use crate::mm::frame::AltStack;
use crate::sync::Blocking;
use crate::task::{Restart, Task};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The kernel's sigset_t is 64 bits on x86-64.
const SIGSET_SIZE: u64 = 8;
/// sigaltstack flag: disarm the stack while a handler runs on it.
const SS_AUTODISARM: i32 = 1 << 31;
/// MINSIGSTKSZ of the x86-64 ABI.
const MIN_SIGNAL_STACK: u64 = 2048;

/// Linux's `stack_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct UserStack {
    sp: u64,
    flags: i32,
    _pad: i32,
    size: u64,
}

fn check_sigset_size(args: &SyscallArgs, i: usize) -> Result<(), Errno> {
    if args.u64(i) != SIGSET_SIZE {
        Err(Errno::EINVAL)
    } else {
        Ok(())
    }
}

/// Implements rt_sigaction(2).
pub fn rt_sigaction(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (signo, act, old) = (args.int(0), args.addr(1), args.addr(2));
    check_sigset_size(args, 3)?;
    if !signal::valid(signo) {
        return Err(Errno::EINVAL);
    }
    let new: Option<SigAction> = if !act.is_null() {
        Some(task.mm().read_pod(act)?)
    } else {
        None
    };
    if new.is_some() && (signo == libc::SIGKILL || signo == libc::SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let previous = task.tasks().with_actions(task.pid(), |actions| {
        let previous = actions.get(signo);
        if let Some(mut new) = new {
            new.mask &= !UNBLOCKABLE;
            actions.set(signo, new);
        }
        previous
    });
    if new.is_some_and(|new| new.handler == signal::SIG_IGN) {
        // Setting SIG_IGN discards what is already pending (signal(7)).
        task.tasks().discard_pending(task.pid(), signal::bit(signo));
    }
    if !old.is_null() {
        task.mm().write_pod(old, &previous)?;
    }
    Ok(0)
}

/// Implements rt_sigprocmask(2).
pub fn rt_sigprocmask(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (how, set, old) = (args.int(0), args.addr(1), args.addr(2));
    check_sigset_size(args, 3)?;
    let previous = task.signal_mask();
    if !set.is_null() {
        let given: SigSet = task.mm().read_pod(set)?;
        let mask = match how {
            libc::SIG_BLOCK => previous | given,
            libc::SIG_UNBLOCK => previous & !given,
            libc::SIG_SETMASK => given,
            _ => return Err(Errno::EINVAL),
        };
        task.set_signal_mask(mask);
    }
    if !old.is_null() {
        task.mm().write_pod(old, &previous)?;
    }
    Ok(0)
}

/// Implements rt_sigpending(2).
pub fn rt_sigpending(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let pending = (task.tasks().pending(task.pid()) & task.signal_mask()).to_le_bytes();
    // A sigsetsize past the kernel's 8 bytes is EINVAL; a smaller one gets
    // the first bytes.
    let pending = pending.get(..args.size(1)).ok_or(Errno::EINVAL)?;
    task.mm().copy_out(args.addr(0), pending)?;
    Ok(0)
}

/// Implements rt_sigsuspend(2): waits with a temporary mask; the old mask
/// comes back once a handler has run.
pub fn rt_sigsuspend(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    check_sigset_size(args, 1)?;
    let mask: SigSet = task.mm().read_pod(args.addr(0))?;
    task.set_temporary_mask(mask);
    let blocker: &Task = task;
    let _ = blocker.block_on::<()>(None, None, || None);
    task.set_restart(Restart::IfNoHandler);
    Err(Errno::EINTR)
}

/// Implements pause(2).
pub fn pause(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    let blocker: &Task = task;
    let _ = blocker.block_on::<()>(None, None, || None);
    task.set_restart(Restart::IfNoHandler);
    Err(Errno::EINTR)
}

/// Implements rt_sigtimedwait(2).
pub fn rt_sigtimedwait(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    check_sigset_size(args, 3)?;
    let set: SigSet = task.mm().read_pod(args.addr(0))?;
    let set = set & !UNBLOCKABLE;
    let deadline = if args.u64(2) != 0 {
        let timeout = super::time::read_timespec(task, args.addr(2))?;
        Some(Instant::now() + super::time::duration(&timeout))
    } else {
        None
    };
    // The waited-for signals count as unblocked while waiting.
    let (pid, tasks) = (task.pid(), &task.tasks());
    let info = task
        .block_with_mask(task.signal_mask() & !set)
        .block_on(None, deadline, || tasks.take_signal(pid, set).map(Ok))
        .map_err(|errno| {
            if errno == Errno::ETIMEDOUT {
                Errno::EAGAIN
            } else {
                errno
            }
        })?;
    if args.u64(1) != 0 {
        task.mm().copy_out(args.addr(1), &info.to_bytes())?;
    }
    Ok(int_result(info.signo))
}

/// Implements sigaltstack(2).
pub fn sigaltstack(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (new, old) = (args.addr(0), args.addr(1));
    let current = task.altstack();
    let on_stack = current.contains(task.regs().rsp);
    if !old.is_null() {
        let flags = if on_stack { libc::SS_ONSTACK } else { current.flags };
        task.mm().write_pod(
            old,
            &UserStack {
                sp: current.sp,
                flags,
                _pad: 0,
                size: current.size,
            },
        )?;
    }
    if !new.is_null() {
        let given: UserStack = task.mm().read_pod(new)?;
        if on_stack {
            return Err(Errno::EPERM);
        }
        if given.flags & !(libc::SS_DISABLE | SS_AUTODISARM) != 0 {
            return Err(Errno::EINVAL);
        }
        let altstack = if given.flags & libc::SS_DISABLE != 0 {
            AltStack::DISABLED
        } else {
            if given.size < MIN_SIGNAL_STACK {
                return Err(Errno::ENOMEM);
            }
            AltStack {
                sp: given.sp,
                flags: given.flags,
                size: given.size,
            }
        };
        task.set_altstack(altstack);
    }
    Ok(0)
}

/// Implements rt_sigreturn(2): the registers come from the frame, so the
/// "result" is the restored rax.
pub fn rt_sigreturn(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    if task.sigreturn().is_err() {
        // A corrupt frame: Linux kills the process with SIGSEGV.
        task.exit_thread(crate::abi::ExitStatus::Signaled(libc::SIGSEGV));
        return Ok(0);
    }
    Ok(task.regs().rax)
}

fn checked_signal(args: &SyscallArgs, i: usize) -> Result<i32, Errno> {
    let signo = args.int(i);
    if signo != 0 && !signal::valid(signo) {
        return Err(Errno::EINVAL);
    }
    Ok(signo)
}

/// Implements kill(2).
pub fn kill(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let signo = checked_signal(args, 1)?;
    let info = SigInfo::from_process(signo, SI_USER, task.pid(), task.credentials().ruid);
    task.tasks().kill(task.pid(), task.credentials(), args.int(0), info)?;
    Ok(0)
}

/// Implements tkill(2).
pub fn tkill(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (tid, signo) = (args.int(0), checked_signal(args, 1)?);
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = SigInfo::from_process(signo, SI_TKILL, task.pid(), task.credentials().ruid);
    task.tasks().send_thread(tid, None, task.credentials(), info)?;
    Ok(0)
}

/// Implements tgkill(2).
pub fn tgkill(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (tgid, tid, signo) = (args.int(0), args.int(1), checked_signal(args, 2)?);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = SigInfo::from_process(signo, SI_TKILL, task.pid(), task.credentials().ruid);
    task.tasks().send_thread(tid, Some(tgid), task.credentials(), info)?;
    Ok(0)
}

/// Reads the siginfo of rt_sigqueueinfo and rt_tgsigqueueinfo. Another
/// process may not pose as the kernel or as kill(2) (EPERM).
fn queued_info(task: &TaskCtx, signo: i32, addr: UserAddr, target: i32) -> Result<SigInfo, Errno> {
    let mut raw = [0u8; 128];
    task.mm().copy_in(addr, &mut raw)?;
    let info = SigInfo::from_user(signo, &raw);
    if (info.code >= 0 || info.code == SI_TKILL) && target != task.pid() {
        return Err(Errno::EPERM);
    }
    Ok(info)
}

/// Implements rt_sigqueueinfo(2).
pub fn rt_sigqueueinfo(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (pid, signo) = (args.int(0), checked_signal(args, 1)?);
    let info = queued_info(task, signo, args.addr(2), pid)?;
    task.tasks().kill(task.pid(), task.credentials(), pid, info)?;
    Ok(0)
}

/// Implements rt_tgsigqueueinfo(2).
pub fn rt_tgsigqueueinfo(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (tgid, tid, signo) = (args.int(0), args.int(1), checked_signal(args, 2)?);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = queued_info(task, signo, args.addr(3), tgid)?;
    task.tasks().send_thread(tid, Some(tgid), task.credentials(), info)?;
    Ok(0)
}
