//! ptrace(2) between processes of the sandbox, and process_vm_readv(2) and
//! process_vm_writev(2), under the same access rules: the tracer's real
//! ids match all three of the target's and its permitted set covers the
//! target's, the target is dumpable, and (Yama's ptrace_scope 1) the
//! target is a descendant or named the tracer with PR_SET_PTRACER — or
//! the tracer holds CAP_SYS_PTRACE.

use std::sync::mpsc;

use nix::errno::Errno;
use zerocopy::IntoBytes;

use super::context::TaskCtx;
use crate::abi::UserAddr;
use crate::abi::arch::{Registers, SyscallArgs, register_words, registers_from_words};
use crate::abi::capability::Capability;
use crate::abi::credentials::AccessIds;
use crate::abi::errno::SyscallResult;
use crate::abi::signal::{self, SigInfo};
use crate::abi::structs::Iovec;
use crate::seccomp::AUDIT_ARCH_X86_64;
use crate::task::trace::O_MASK;
use crate::task::{Attach, Resume, ResumeHow, TraceCall, TraceReply, TraceRequest};

const PTRACE_TRACEME: i64 = 0;
const PTRACE_PEEKTEXT: i64 = 1;
const PTRACE_PEEKDATA: i64 = 2;
const PTRACE_PEEKUSER: i64 = 3;
const PTRACE_POKETEXT: i64 = 4;
const PTRACE_POKEDATA: i64 = 5;
const PTRACE_POKEUSER: i64 = 6;
const PTRACE_CONT: i64 = 7;
const PTRACE_KILL: i64 = 8;
const PTRACE_SINGLESTEP: i64 = 9;
const PTRACE_GETREGS: i64 = 12;
const PTRACE_SETREGS: i64 = 13;
const PTRACE_GETFPREGS: i64 = 14;
const PTRACE_SETFPREGS: i64 = 15;
const PTRACE_ATTACH: i64 = 16;
const PTRACE_DETACH: i64 = 17;
const PTRACE_SYSCALL: i64 = 24;
const PTRACE_SYSEMU: i64 = 31;
const PTRACE_SETOPTIONS: i64 = 0x4200;
const PTRACE_GETEVENTMSG: i64 = 0x4201;
const PTRACE_GETSIGINFO: i64 = 0x4202;
const PTRACE_SETSIGINFO: i64 = 0x4203;
const PTRACE_GETREGSET: i64 = 0x4204;
const PTRACE_SETREGSET: i64 = 0x4205;
const PTRACE_SEIZE: i64 = 0x4206;
const PTRACE_INTERRUPT: i64 = 0x4207;
const PTRACE_LISTEN: i64 = 0x4208;
const PTRACE_PEEKSIGINFO: i64 = 0x4209;
const PTRACE_PEEKSIGINFO_SHARED: u32 = 1;
const PTRACE_GETSIGMASK: i64 = 0x420a;
const PTRACE_SETSIGMASK: i64 = 0x420b;
const PTRACE_GET_SYSCALL_INFO: i64 = 0x420e;

/// Register sets of GETREGSET and SETREGSET (elf.h).
const NT_PRSTATUS: u64 = 1;
const NT_PRFPREG: u64 = 2;
const NT_X86_XSTATE: u64 = 0x202;
/// The FXSAVE image PTRACE_GETFPREGS moves.
const FPREGS_SIZE: usize = 512;
/// offsetof(struct user, u_debugreg) and sizeof(struct user) on x86-64
/// (the kernel's, with error_code and fault_address after the debug
/// registers).
const USER_DEBUGREG: u64 = 848;
const USER_SIZE: u64 = 928;

/// Implements ptrace(2).
pub fn ptrace(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (request, pid, addr, data) = (args.long(0), args.int(1), args.addr(2), args.addr(3));
    match request {
        PTRACE_TRACEME => {
            task.tasks().attach(None, task.tid(), Attach::Me)?;
            Ok(0)
        }
        PTRACE_ATTACH => {
            may_attach(task, pid)?;
            task.tasks().attach(Some(task.pid()), pid, Attach::Attach)?;
            Ok(0)
        }
        PTRACE_SEIZE => {
            if !addr.is_null() {
                return Err(Errno::EIO);
            }
            let options = u32::try_from(data.get())
                .ok()
                .filter(|o| o & !O_MASK == 0)
                .ok_or(Errno::EIO)?;
            may_attach(task, pid)?;
            task.tasks().attach(Some(task.pid()), pid, Attach::Seize(options))?;
            Ok(0)
        }
        PTRACE_KILL => {
            tracee_group(task, pid)?;
            task.tasks().kill_tracee(pid);
            Ok(0)
        }
        PTRACE_INTERRUPT => {
            task.tasks().interrupt_tracee(task.pid(), pid)?;
            Ok(0)
        }
        _ => stopped_request(task, request, pid, addr, data),
    }
}

/// The requests that need `pid` to be the caller's tracee, in a stop.
fn stopped_request(task: &mut TaskCtx, request: i64, pid: i32, addr: UserAddr, data: UserAddr) -> SyscallResult {
    if !task.tasks().is_stopped_tracee(task.pid(), pid) {
        return Err(Errno::ESRCH);
    }
    match request {
        PTRACE_PEEKTEXT | PTRACE_PEEKDATA => {
            let mut word = [0u8; 8];
            tracee_mm(task, pid, |mm| mm.peek(addr.get(), &mut word))?;
            task.mm().copy_out(data, &word)?;
            Ok(0)
        }
        PTRACE_POKETEXT | PTRACE_POKEDATA => {
            tracee_mm(task, pid, |mm| mm.fill(addr.get(), &data.get().to_le_bytes()))?;
            Ok(0)
        }
        PTRACE_PEEKUSER => {
            let offset = user_offset(addr)?;
            let word = if offset < REGS_SIZE {
                register_words(&get_regs(task, pid)?)[(offset / 8) as usize]
            } else {
                // Debug registers and the rest of struct user read as 0.
                0
            };
            task.mm().write_pod(data, &word)?;
            Ok(0)
        }
        PTRACE_POKEUSER => {
            let offset = user_offset(addr)?;
            if offset >= REGS_SIZE {
                // No hardware breakpoints: only clearing a debug register works.
                return if (USER_DEBUGREG..USER_DEBUGREG + 64).contains(&offset) && data.is_null() {
                    Ok(0)
                } else {
                    Err(Errno::EIO)
                };
            }
            let mut words = register_words(&get_regs(task, pid)?);
            words[(offset / 8) as usize] = data.get();
            call(task, pid, TraceRequest::SetRegs(registers_from_words(words)))?;
            Ok(0)
        }
        PTRACE_GETREGS => {
            let words = register_words(&get_regs(task, pid)?);
            task.mm().copy_out(data, words.as_bytes())?;
            Ok(0)
        }
        PTRACE_SETREGS => {
            let words: [u64; 27] = task.mm().read_pod(data)?;
            call(task, pid, TraceRequest::SetRegs(registers_from_words(words)))?;
            Ok(0)
        }
        PTRACE_GETFPREGS => {
            let state = fp_state(task, pid)?;
            task.mm().copy_out(data, &state[..FPREGS_SIZE.min(state.len())])?;
            Ok(0)
        }
        PTRACE_SETFPREGS => {
            let mut image = vec![0u8; FPREGS_SIZE];
            task.mm().copy_in(data, &mut image)?;
            call(task, pid, TraceRequest::SetFpState(image))?;
            Ok(0)
        }
        PTRACE_GETREGSET => get_regset(task, pid, addr.get(), data),
        PTRACE_SETREGSET => set_regset(task, pid, addr.get(), data),
        PTRACE_GETSIGINFO => match call(task, pid, TraceRequest::GetSigInfo)? {
            TraceReply::SigInfo(info) => {
                task.mm().copy_out(data, &info.to_bytes())?;
                Ok(0)
            }
            _ => Err(Errno::EIO),
        },
        PTRACE_SETSIGINFO => {
            let mut raw = [0u8; 128];
            task.mm().copy_in(data, &mut raw)?;
            let signo = i32::from_le_bytes(raw[..4].try_into().expect("4 bytes"));
            call(task, pid, TraceRequest::SetSigInfo(SigInfo::from_user(signo, &raw)))?;
            Ok(0)
        }
        PTRACE_GETEVENTMSG => match call(task, pid, TraceRequest::GetEventMsg)? {
            TraceReply::Word(message) => {
                task.mm().write_pod(data, &message)?;
                Ok(0)
            }
            _ => Err(Errno::EIO),
        },
        PTRACE_SETOPTIONS => {
            let options = u32::try_from(data.get())
                .ok()
                .filter(|o| o & !O_MASK == 0)
                .ok_or(Errno::EINVAL)?;
            task.tasks().set_trace_options(task.pid(), pid, options)?;
            Ok(0)
        }
        PTRACE_GETSIGMASK | PTRACE_SETSIGMASK => {
            if addr.get() != 8 {
                return Err(Errno::EINVAL);
            }
            if request == PTRACE_GETSIGMASK {
                let TraceReply::Word(mask) = call(task, pid, TraceRequest::GetSigMask)? else {
                    return Err(Errno::EIO);
                };
                task.mm().write_pod(data, &mask)?;
            } else {
                let mask: u64 = task.mm().read_pod(data)?;
                call(task, pid, TraceRequest::SetSigMask(mask & !signal::UNBLOCKABLE))?;
            }
            Ok(0)
        }
        PTRACE_GET_SYSCALL_INFO => syscall_info(task, pid, addr.get(), data),
        PTRACE_PEEKSIGINFO => peek_siginfo(task, pid, addr, data),
        PTRACE_CONT | PTRACE_SYSCALL | PTRACE_SYSEMU | PTRACE_SINGLESTEP | PTRACE_DETACH | PTRACE_LISTEN => {
            let signal = i32::try_from(data.get())
                .ok()
                .filter(|s| *s == 0 || signal::valid(*s))
                .ok_or(Errno::EIO)?;
            let how = match request {
                PTRACE_CONT => ResumeHow::Continue,
                PTRACE_SYSCALL => ResumeHow::Syscall,
                PTRACE_SYSEMU => ResumeHow::Sysemu,
                PTRACE_SINGLESTEP => ResumeHow::SingleStep,
                PTRACE_DETACH => ResumeHow::Detach,
                _ => ResumeHow::Listen,
            };
            call(task, pid, TraceRequest::Resume(Resume { how, signal }))?;
            Ok(0)
        }
        _ => Err(Errno::EIO),
    }
}

/// The size of `struct user_regs_struct`.
const REGS_SIZE: u64 = std::mem::size_of::<Registers>() as u64;

/// PEEKUSER's and POKEUSER's offset: aligned, inside struct user.
fn user_offset(addr: UserAddr) -> Result<u64, Errno> {
    let offset = addr.get();
    if offset % 8 != 0 || offset >= USER_SIZE {
        return Err(Errno::EIO);
    }
    Ok(offset)
}

/// Asks the stopped tracee `tid` something only its own thread can
/// answer, and waits for the answer. ESRCH if it is gone meanwhile.
fn call(task: &TaskCtx, tid: i32, request: TraceRequest) -> Result<TraceReply, Errno> {
    let (calls, waker) = task.tasks().tracee_calls(task.pid(), tid)?;
    let (reply, answer) = mpsc::sync_channel(1);
    calls.send(TraceCall { request, reply }).map_err(|_| Errno::ESRCH)?;
    waker.notify();
    match answer.recv() {
        Ok(TraceReply::Failed(errno)) => Err(errno),
        Ok(reply) => Ok(reply),
        Err(_) => Err(Errno::ESRCH),
    }
}

fn get_regs(task: &TaskCtx, tid: i32) -> Result<Registers, Errno> {
    match call(task, tid, TraceRequest::GetRegs)? {
        TraceReply::Regs(regs) => Ok(regs),
        _ => Err(Errno::EIO),
    }
}

fn fp_state(task: &TaskCtx, tid: i32) -> Result<Vec<u8>, Errno> {
    match call(task, tid, TraceRequest::GetFpState)? {
        TraceReply::Bytes(state) => Ok(state),
        _ => Err(Errno::EIO),
    }
}

/// Runs `f` on the memory of thread `tid`. Any failure to reach it (an
/// unmapped address) is EIO, as ptrace's peeks and pokes answer.
fn tracee_mm(
    task: &TaskCtx,
    tid: i32,
    f: impl FnOnce(&crate::mm::MemoryManager) -> Result<(), Errno>,
) -> Result<(), Errno> {
    let view = task.tasks().view(tid).ok_or(Errno::ESRCH)?;
    let mm = view.mm.lock().expect("memory manager poisoned");
    f(&mm).map_err(|_| Errno::EIO)
}

/// PTRACE_GETREGSET: the register set `kind` into the iovec at `data`,
/// whose length becomes what was written.
fn get_regset(task: &TaskCtx, tid: i32, kind: u64, data: UserAddr) -> SyscallResult {
    let iov: Iovec = task.mm().read_pod(data)?;
    let bytes = match kind {
        NT_PRSTATUS => register_words(&get_regs(task, tid)?).as_bytes().to_vec(),
        NT_PRFPREG => {
            let mut state = fp_state(task, tid)?;
            state.truncate(FPREGS_SIZE);
            state
        }
        NT_X86_XSTATE => fp_state(task, tid)?,
        _ => return Err(Errno::EINVAL),
    };
    let len = usize::try_from(iov.iov_len).unwrap_or(usize::MAX).min(bytes.len());
    task.mm().copy_out(UserAddr::new(iov.iov_base), &bytes[..len])?;
    let written = Iovec {
        iov_len: len as u64,
        ..iov
    };
    task.mm().write_pod(data, &written)?;
    Ok(0)
}

/// PTRACE_SETREGSET: the register set `kind` from the iovec at `data`.
fn set_regset(task: &TaskCtx, tid: i32, kind: u64, data: UserAddr) -> SyscallResult {
    let iov: Iovec = task.mm().read_pod(data)?;
    let len = usize::try_from(iov.iov_len).map_err(|_| Errno::EINVAL)?;
    match kind {
        NT_PRSTATUS => {
            let mut words = register_words(&get_regs(task, tid)?);
            if len > words.as_bytes().len() {
                return Err(Errno::EINVAL);
            }
            task.mm()
                .copy_in(UserAddr::new(iov.iov_base), &mut words.as_mut_bytes()[..len])?;
            call(task, tid, TraceRequest::SetRegs(registers_from_words(words)))?;
        }
        NT_PRFPREG | NT_X86_XSTATE => {
            let limit = if kind == NT_PRFPREG { FPREGS_SIZE } else { 1 << 16 };
            if len > limit {
                return Err(Errno::EINVAL);
            }
            let mut image = vec![0u8; len];
            task.mm().copy_in(UserAddr::new(iov.iov_base), &mut image)?;
            call(task, tid, TraceRequest::SetFpState(image))?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

/// PTRACE_GET_SYSCALL_INFO: `struct ptrace_syscall_info`, cut to `size`
/// bytes; the result is the size of the whole answer.
fn syscall_info(task: &TaskCtx, tid: i32, size: u64, data: UserAddr) -> SyscallResult {
    let TraceReply::SyscallInfo(info) = call(task, tid, TraceRequest::GetSyscallInfo)? else {
        return Err(Errno::EIO);
    };
    let mut out = Vec::with_capacity(84);
    out.push(info.op);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&AUDIT_ARCH_X86_64.to_le_bytes());
    out.extend_from_slice(&info.instruction_pointer.to_le_bytes());
    out.extend_from_slice(&info.stack_pointer.to_le_bytes());
    match info.op {
        1 => {
            out.extend_from_slice(&info.nr.to_le_bytes());
            for arg in info.args {
                out.extend_from_slice(&arg.to_le_bytes());
            }
        }
        2 => {
            out.extend_from_slice(&info.rval.to_le_bytes());
            out.push(u8::from(info.is_error));
        }
        3 => {
            out.extend_from_slice(&info.nr.to_le_bytes());
            for arg in info.args {
                out.extend_from_slice(&arg.to_le_bytes());
            }
            out.extend_from_slice(&info.ret_data.to_le_bytes());
        }
        _ => {}
    }
    let len = usize::try_from(size).unwrap_or(usize::MAX).min(out.len());
    task.mm().copy_out(data, &out[..len])?;
    Ok(out.len() as u64)
}

/// PTRACE_PEEKSIGINFO: copies the siginfo of signals queued for the
/// tracee (its own, or with PTRACE_PEEKSIGINFO_SHARED its process's),
/// from the `off`th on, at most `nr`; the result is how many.
fn peek_siginfo(task: &TaskCtx, tid: i32, addr: UserAddr, data: UserAddr) -> SyscallResult {
    let raw: [u8; 16] = task.mm().read_pod(addr)?;
    let off = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
    let flags = u32::from_le_bytes(raw[8..12].try_into().expect("4 bytes"));
    let nr = i32::from_le_bytes(raw[12..].try_into().expect("4 bytes"));
    if flags & !PTRACE_PEEKSIGINFO_SHARED != 0 || nr < 0 {
        return Err(Errno::EINVAL);
    }
    let queued = task.tasks().queued_signals(tid, flags & PTRACE_PEEKSIGINFO_SHARED != 0);
    let skip = usize::try_from(off).unwrap_or(usize::MAX);
    let mut copied = 0u64;
    for (i, info) in queued
        .iter()
        .skip(skip)
        .take(usize::try_from(nr).unwrap_or(0))
        .enumerate()
    {
        task.mm().copy_out(data + (i as u64) * 128, &info.to_bytes())?;
        copied += 1;
    }
    Ok(copied)
}

/// The process of tracee `tid` of the caller, for PTRACE_KILL.
fn tracee_group(task: &TaskCtx, tid: i32) -> Result<i32, Errno> {
    if task.tasks().tracer_of(tid) != Some(task.pid()) {
        return Err(Errno::ESRCH);
    }
    task.tasks().thread_group(tid).ok_or(Errno::ESRCH)
}

/// PTRACE_MODE_ATTACH_REALCREDS for thread `tid`, and Yama's scope 1:
/// EPERM when the caller may not attach.
fn may_attach(task: &TaskCtx, tid: i32) -> Result<(), Errno> {
    let Some(view) = task.tasks().view(tid) else {
        // A zombie is there, and cannot be traced.
        let zombie = task.tasks().snapshot(tid).is_some_and(|process| process.is_zombie());
        return Err(if zombie { Errno::EPERM } else { Errno::ESRCH });
    };
    let target = task.tasks().thread_group(tid).ok_or(Errno::ESRCH)?;
    if target == task.pid() {
        return Err(Errno::EPERM);
    }
    may_access(task, &view, target)
}

/// The access rules for a tracer reaching process `target` whose thread's
/// view is `view`.
fn may_access(task: &TaskCtx, view: &crate::task::TaskView, target: i32) -> Result<(), Errno> {
    let creds = task.credentials();
    let dumpable = view.mm.lock().expect("memory manager poisoned").dumpable();
    let privileged = creds.has(Capability::SYS_PTRACE);
    let allowed = creds.may_access(&view.credentials, AccessIds::Real)
        && (dumpable || privileged)
        && (privileged || task.tasks().may_trace_by_relation(task.pid(), target));
    if allowed { Ok(()) } else { Err(Errno::EPERM) }
}

/// Implements process_vm_readv(2).
pub fn process_vm_readv(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    process_vm(task, args, false)
}

/// Implements process_vm_writev(2).
pub fn process_vm_writev(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    process_vm(task, args, true)
}

/// Copies between the caller's iovecs and process `pid`'s: as much as both
/// sides allow, in order. The result is the bytes moved; a remote fault
/// ends the copy (EFAULT if nothing moved), a local one is EFAULT.
fn process_vm(task: &TaskCtx, args: &SyscallArgs, write: bool) -> SyscallResult {
    let (pid, local, remote) = (args.int(0), args.addr(1), args.addr(3));
    if args.u64(5) != 0 {
        return Err(Errno::EINVAL);
    }
    let count = |i: usize| usize::try_from(args.u64(i)).map_err(|_| Errno::EINVAL);
    let locals = super::io::vector_ranges(task, local, count(2)?)?;
    let remotes = super::io::vector_ranges(task, remote, count(4)?)?;
    let view = task.tasks().view(pid).ok_or(Errno::ESRCH)?;
    let target = task.tasks().thread_group(pid).ok_or(Errno::ESRCH)?;
    if target != task.pid() {
        may_access(task, &view, target)?;
    }
    let mut moved = 0u64;
    let mut pieces = locals.into_iter().filter(|(_, len)| *len > 0);
    let mut local_piece = pieces.next();
    for (mut at, mut left) in remotes {
        while left > 0 {
            let Some((local_at, local_len)) = local_piece else {
                return Ok(moved);
            };
            let n = left.min(local_len);
            let mut buf = vec![0u8; usize::try_from(n).map_err(|_| Errno::EINVAL)?];
            let remote_done = if write {
                task.mm().copy_in(local_at, &mut buf)?;
                view.mm.lock().expect("memory manager poisoned").copy_out(at, &buf)
            } else {
                let copied = view.mm.lock().expect("memory manager poisoned").copy_in(at, &mut buf);
                if copied.is_ok() {
                    task.mm().copy_out(local_at, &buf)?;
                }
                copied
            };
            if remote_done.is_err() {
                return if moved > 0 { Ok(moved) } else { Err(Errno::EFAULT) };
            }
            moved += n;
            at = at + n;
            left -= n;
            local_piece = if n == local_len {
                pieces.next()
            } else {
                Some((local_at + n, local_len - n))
            };
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_area_offsets_are_linuxs() {
        assert_eq!(REGS_SIZE, 27 * 8);
        assert_eq!(user_offset(UserAddr::new(16 * 8)), Ok(128));
        assert_eq!(user_offset(UserAddr::new(3)), Err(Errno::EIO));
        assert_eq!(user_offset(UserAddr::new(USER_SIZE)), Err(Errno::EIO));
    }
}
