//! Signal dispositions, the signal mask and the alternate stack, recorded
//! in the task. Delivery arrives with the processes issue.

use nix::errno::Errno;

use crate::arch::SyscallArgs;
use crate::errno::SyscallResult;
use crate::memory::Pod;
use crate::task::{AltStack, SigAction, Task};

/// The kernel's sigset_t is 64 bits on x86-64.
const SIGSET_SIZE: u64 = 8;
/// SIGKILL and SIGSTOP can be neither caught nor blocked.
const UNBLOCKABLE: u64 = 1 << (libc::SIGKILL - 1) | 1 << (libc::SIGSTOP - 1);
/// sigaltstack flag: disarm the stack while a handler runs on it.
const SS_AUTODISARM: i32 = 1 << 31;
/// MINSIGSTKSZ of the x86-64 ABI.
const MIN_SIGNAL_STACK: u64 = 2048;

/// Linux's `stack_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct UserStack {
    sp: u64,
    flags: i32,
    _pad: i32,
    size: u64,
}

// SAFETY: repr(C), integers, explicit padding.
unsafe impl Pod for UserStack {}

/// Implements rt_sigaction(2).
pub fn rt_sigaction(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (signal, act, old) = (args.int(0), args.u64(1), args.u64(2));
    if args.u64(3) != SIGSET_SIZE || !(1..=64).contains(&signal) {
        return Err(Errno::EINVAL);
    }
    let new: Option<SigAction> = if act != 0 { Some(task.mm.read_pod(act)?) } else { None };
    if new.is_some() && (signal == libc::SIGKILL || signal == libc::SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let slot = &mut task.signals.actions[signal as usize - 1];
    let previous = *slot;
    if let Some(mut new) = new {
        new.mask &= !UNBLOCKABLE;
        *slot = new;
    }
    if old != 0 {
        task.mm.write_pod(old, &previous)?;
    }
    Ok(0)
}

/// Implements rt_sigprocmask(2).
pub fn rt_sigprocmask(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (how, set, old) = (args.int(0), args.u64(1), args.u64(2));
    if args.u64(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let previous = task.signals.mask;
    if set != 0 {
        let given: u64 = task.mm.read_pod(set)?;
        let mask = match how {
            libc::SIG_BLOCK => previous | given,
            libc::SIG_UNBLOCK => previous & !given,
            libc::SIG_SETMASK => given,
            _ => return Err(Errno::EINVAL),
        };
        task.signals.mask = mask & !UNBLOCKABLE;
    }
    if old != 0 {
        task.mm.write_pod(old, &previous)?;
    }
    Ok(0)
}

/// Implements sigaltstack(2).
pub fn sigaltstack(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (new, old) = (args.u64(0), args.u64(1));
    let current = task.signals.altstack;
    let rsp = task.regs.rsp;
    let on_stack = current.flags & libc::SS_DISABLE == 0 && rsp > current.sp && rsp - current.sp <= current.size;
    if old != 0 {
        let flags = if on_stack { libc::SS_ONSTACK } else { current.flags };
        task.mm.write_pod(
            old,
            &UserStack {
                sp: current.sp,
                flags,
                _pad: 0,
                size: current.size,
            },
        )?;
    }
    if new != 0 {
        let given: UserStack = task.mm.read_pod(new)?;
        if on_stack {
            return Err(Errno::EPERM);
        }
        if given.flags & !(libc::SS_DISABLE | SS_AUTODISARM) != 0 {
            return Err(Errno::EINVAL);
        }
        task.signals.altstack = if given.flags & libc::SS_DISABLE != 0 {
            AltStack {
                sp: 0,
                flags: libc::SS_DISABLE,
                size: 0,
            }
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
    }
    Ok(0)
}
