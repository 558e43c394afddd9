//! seccomp(2) and PR_SET/GET_SECCOMP: installing a thread's filters, and
//! enforcing them on each of its calls before the call is served.

use nix::errno::Errno;

use super::context::TaskCtx;
use crate::abi::ExitStatus;
use crate::abi::arch::SyscallArgs;
use crate::abi::capability::Capability;
use crate::abi::errno::SyscallResult;
use crate::abi::signal::{SYS_SECCOMP, SigInfo};
use crate::abi::structs::{SockFilter, SockFprog};
use crate::seccomp::{self, AUDIT_ARCH_X86_64, Mode, Program, SeccompData, Verdict};

const SECCOMP_SET_MODE_STRICT: u32 = 0;
const SECCOMP_SET_MODE_FILTER: u32 = 1;
const SECCOMP_GET_ACTION_AVAIL: u32 = 2;
const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1 << 0;
const SECCOMP_FILTER_FLAG_LOG: u32 = 1 << 1;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 1 << 2;
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: u32 = 1 << 4;
/// The flags cordon knows. NEW_LISTENER (user notification) and
/// WAIT_KILLABLE_RECV are not built, and a kernel without them answers
/// EINVAL for them.
const KNOWN_FLAGS: u32 = SECCOMP_FILTER_FLAG_TSYNC
    | SECCOMP_FILTER_FLAG_LOG
    | SECCOMP_FILTER_FLAG_SPEC_ALLOW
    | SECCOMP_FILTER_FLAG_TSYNC_ESRCH;

/// Whether the call may be served; when not, its result is in the
/// registers, a signal raised or the thread told to go.
pub(super) fn enforce(task: &mut TaskCtx, args: &SyscallArgs) -> bool {
    let verdict = {
        let seccomp = task.seccomp();
        if seccomp.mode() == Mode::Disabled {
            return true;
        }
        let data = SeccompData {
            nr: call_number(args.number),
            arch: AUDIT_ARCH_X86_64,
            instruction_pointer: task.regs().rip,
            args: args.args,
        };
        seccomp.check(&data)
    };
    // -errno, which may be any value up to 4095 (or 0: success, unserved).
    let fail = |task: &mut TaskCtx, errno: u16| task.regs_mut().rax = 0u64.wrapping_sub(u64::from(errno));
    match verdict {
        Verdict::Allow { logged } => {
            if logged {
                tracing::info!(target: "seccomp", pid = task.pid(), tid = task.tid(), syscall = args.number, "SECCOMP_RET_LOG");
            }
            return true;
        }
        Verdict::Errno(errno) => fail(task, errno),
        // A tracer that asked for seccomp events decides; without one,
        // ENOSYS. No user-notification listener can exist: ENOSYS.
        Verdict::Trace(data) => match task.seccomp_trace(data) {
            Some(serve) => return serve,
            None => fail(task, Errno::ENOSYS as u16),
        },
        Verdict::UserNotif => fail(task, Errno::ENOSYS as u16),
        Verdict::Trap(data) => {
            // The registers roll back to the call, as Linux's
            // syscall_rollback leaves them: a handler sees its number.
            task.regs_mut().rax = args.number;
            let info = SigInfo {
                signo: libc::SIGSYS,
                code: SYS_SECCOMP,
                errno: i32::from(data),
                addr: task.regs().rip,
                syscall: call_number(args.number),
                arch: AUDIT_ARCH_X86_64,
                ..Default::default()
            };
            task.force_signal(info);
        }
        Verdict::KillThread if task.tasks().thread_count(task.pid()) > 1 => {
            task.exit_thread(ExitStatus::Signaled(libc::SIGSYS));
        }
        Verdict::KillThread | Verdict::KillProcess => task.exit_group(ExitStatus::Signaled(libc::SIGSYS)),
        Verdict::StrictKill => task.exit_thread(ExitStatus::Signaled(libc::SIGKILL)),
    }
    false
}

/// The call number as seccomp_data has it: the int the register's low half
/// holds.
fn call_number(register: u64) -> i32 {
    i32::from_ne_bytes(u32::try_from(register & 0xffff_ffff).expect("masked").to_ne_bytes())
}

/// Implements seccomp(2).
pub fn seccomp(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (operation, flags, arg) = (args.u32(0), args.u32(1), args.addr(2));
    match operation {
        SECCOMP_SET_MODE_STRICT => {
            if flags != 0 || !arg.is_null() {
                return Err(Errno::EINVAL);
            }
            task.seccomp().set_strict()?;
            Ok(0)
        }
        SECCOMP_SET_MODE_FILTER => set_filter(task, flags, arg),
        SECCOMP_GET_ACTION_AVAIL => {
            if flags != 0 {
                return Err(Errno::EINVAL);
            }
            let action: u32 = task.mm().read_pod(arg)?;
            if seccomp::action_available(action) {
                Ok(0)
            } else {
                Err(Errno::EOPNOTSUPP)
            }
        }
        // SECCOMP_GET_NOTIF_SIZES and anything newer: a kernel without user
        // notification does not know the operation.
        _ => Err(Errno::EINVAL),
    }
}

/// SECCOMP_SET_MODE_FILTER: validates the program and puts it on top of
/// the thread's stack, or (TSYNC) of every thread's of the process.
fn set_filter(task: &mut TaskCtx, flags: u32, arg: crate::abi::UserAddr) -> SyscallResult {
    if flags & !KNOWN_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let fprog: SockFprog = task.mm().read_pod(arg)?;
    let len = usize::from(fprog.len);
    if len == 0 || len > seccomp::MAX_INSTRUCTIONS {
        return Err(Errno::EINVAL);
    }
    let creds = task.credentials();
    if !creds.no_new_privs && !creds.has(Capability::SYS_ADMIN) {
        return Err(Errno::EACCES);
    }
    // bpf_check_basics_ok: no program at all is EINVAL, not EFAULT.
    if fprog.filter == 0 {
        return Err(Errno::EINVAL);
    }
    let mut code = vec![SockFilter::default(); len];
    task.mm().copy_in(
        crate::abi::UserAddr::new(fprog.filter),
        zerocopy::IntoBytes::as_mut_bytes(&mut code[..]),
    )?;
    let program = Program::new(&code)?;
    let mut new = task.seccomp().clone();
    new.push(program)?;
    if flags & SECCOMP_FILTER_FLAG_TSYNC != 0 {
        if let Some(tid) = synchronize(task, &new) {
            if flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH != 0 {
                return Err(Errno::ESRCH);
            }
            // A positive result: the thread that could not follow.
            return Ok(u64::try_from(tid).expect("tids are positive"));
        }
    }
    *task.seccomp() = new;
    Ok(0)
}

/// TSYNC: every other thread of the process takes `new`, unless one of
/// them has filters that are not the bottom of `new`'s stack: then nothing
/// changes and that thread's tid is returned.
fn synchronize(task: &TaskCtx, new: &seccomp::Seccomp) -> Option<i32> {
    let threads: Vec<_> = task
        .tasks()
        .thread_views(task.pid())
        .into_iter()
        .filter(|(tid, _)| *tid != task.tid())
        .collect();
    for (tid, view) in &threads {
        let theirs = view.seccomp.lock().expect("seccomp state poisoned");
        if !theirs.is_below(new) {
            return Some(*tid);
        }
    }
    for (_, view) in threads {
        *view.seccomp.lock().expect("seccomp state poisoned") = new.clone();
    }
    None
}

/// PR_GET_SECCOMP and PR_SET_SECCOMP.
pub fn seccomp_prctl(task: &mut TaskCtx, args: &SyscallArgs) -> Option<SyscallResult> {
    let result = match args.int(0) {
        libc::PR_GET_SECCOMP => Ok(u64::from(task.seccomp().mode().number())),
        libc::PR_SET_SECCOMP => match args.u64(1) {
            1 => {
                let strict = SyscallArgs {
                    number: args.number,
                    args: [u64::from(SECCOMP_SET_MODE_STRICT), 0, 0, 0, 0, 0],
                };
                seccomp(task, &strict)
            }
            2 => set_filter(task, 0, args.addr(2)),
            _ => Err(Errno::EINVAL),
        },
        _ => return None,
    };
    Some(result)
}
