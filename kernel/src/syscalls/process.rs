//! The process and its thread: exit, ids, thread-area setup, umask.

use nix::errno::Errno;

use super::context::TaskCtx;
use super::int_result;
use crate::abi::ExitStatus;
use crate::abi::UserAddr;
use crate::abi::arch::{SyscallArgs, TASK_SIZE};
use crate::abi::errno::SyscallResult;

const ARCH_SET_GS: i32 = 0x1001;
const ARCH_SET_FS: i32 = 0x1002;
const ARCH_GET_FS: i32 = 0x1003;
const ARCH_GET_GS: i32 = 0x1004;

/// Implements exit(2): ends the calling thread.
pub fn exit(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // Only this thread; the process ends with its last thread.
    task.exit_thread(ExitStatus::from_exit_code(args.int(0)));
    Ok(0)
}

/// Implements exit_group(2).
pub fn exit_group(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.exit_group(ExitStatus::from_exit_code(args.int(0)));
    Ok(0)
}

/// Implements getpid(2): the pid in the sandbox's PID namespace.
pub fn getpid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(int_result(task.pid()))
}

/// Implements gettid(2).
pub fn gettid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(int_result(task.tid()))
}

/// Implements getppid(2): the init's parent is outside its namespace, so 0.
pub fn getppid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(int_result(task.tasks().ppid(task.pid())))
}

/// Implements set_tid_address(2).
pub fn set_tid_address(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.set_clear_child_tid(args.addr(0));
    Ok(int_result(task.tid()))
}

/// Implements set_robust_list(2).
pub fn set_robust_list(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // sizeof(struct robust_list_head) on x86-64.
    if args.u64(1) != 24 {
        return Err(Errno::EINVAL);
    }
    task.set_robust_list(args.addr(0));
    Ok(0)
}

/// Implements get_robust_list(2) for the calling thread; other threads'
/// lists are not readable (EPERM), as without CAP_SYS_PTRACE.
pub fn get_robust_list(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let pid = args.int(0);
    if pid != 0 && pid != task.tid() {
        return Err(if task.tasks().tgid(pid).is_some() {
            Errno::EPERM
        } else {
            Errno::ESRCH
        });
    }
    let mm = task.mm();
    mm.write_pod(args.addr(1), &task.robust_list().get())?;
    mm.write_pod(args.addr(2), &24u64)?;
    Ok(0)
}

/// Implements arch_prctl(2) for the FS and GS bases.
pub fn arch_prctl(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let addr = args.u64(1);
    match args.int(0) {
        ARCH_SET_FS | ARCH_SET_GS if addr >= TASK_SIZE => Err(Errno::EPERM),
        ARCH_SET_FS => {
            task.regs_mut().fs_base = addr;
            Ok(0)
        }
        ARCH_SET_GS => {
            task.regs_mut().gs_base = addr;
            Ok(0)
        }
        ARCH_GET_FS => task
            .mm()
            .write_pod(UserAddr::new(addr), &task.regs().fs_base)
            .map(|()| 0),
        ARCH_GET_GS => task
            .mm()
            .write_pod(UserAddr::new(addr), &task.regs().gs_base)
            .map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// Implements umask(2).
pub fn umask(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let old = task.fs().umask;
    task.fs().umask = args.u32(0) & 0o777;
    Ok(u64::from(old))
}

/// Which process a pid argument names: 0 is the caller.
fn target(task: &TaskCtx, pid: i32) -> Result<i32, Errno> {
    match pid {
        0 => Ok(task.pid()),
        p if p < 0 => Err(Errno::EINVAL),
        p => Ok(p),
    }
}

/// Implements getpgid(2).
pub fn getpgid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let pid = target(task, args.int(0)).map_err(|_| Errno::ESRCH)?;
    Ok(int_result(task.tasks().pgid(pid)?))
}

/// Implements getpgrp(2).
pub fn getpgrp(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(int_result(task.tasks().pgid(task.pid())?))
}

/// Implements setpgid(2).
pub fn setpgid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let pid = target(task, args.int(0))?;
    let pgid = match args.int(1) {
        0 => pid,
        p if p < 0 => return Err(Errno::EINVAL),
        p => p,
    };
    task.tasks().setpgid(task.pid(), pid, pgid)?;
    Ok(0)
}

/// Implements getsid(2).
pub fn getsid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let pid = target(task, args.int(0)).map_err(|_| Errno::ESRCH)?;
    Ok(int_result(task.tasks().sid(pid)?))
}

/// Implements setsid(2).
pub fn setsid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(int_result(task.tasks().setsid(task.pid())?))
}

/// Implements personality(2).
pub fn personality(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.tasks().set_persona(task.pid(), args.u32(0))))
}

/// Implements prctl(2) for the options processes use.
pub fn prctl(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    if let Some(result) = super::credentials::privilege_prctl(task, args) {
        return result;
    }
    if let Some(result) = super::seccomp::seccomp_prctl(task, args) {
        return result;
    }
    match args.int(0) {
        libc::PR_SET_NAME => {
            let name = task.mm().read_cstring_prefix(args.addr(1), 15)?;
            task.set_name(String::from_utf8_lossy(&name).into_owned());
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut name = task.name().as_bytes().to_vec();
            name.resize(16, 0);
            task.mm().copy_out(args.addr(1), &name)?;
            Ok(0)
        }
        libc::PR_SET_PDEATHSIG => {
            let signo = args.int(1);
            if signo != 0 && !crate::abi::signal::valid(signo) {
                return Err(Errno::EINVAL);
            }
            task.tasks().set_parent_death_signal(task.pid(), signo);
            Ok(0)
        }
        libc::PR_GET_PDEATHSIG => {
            let signo = task.tasks().parent_death_signal(task.pid());
            task.mm().write_pod(args.addr(1), &signo)?;
            Ok(0)
        }
        libc::PR_SET_CHILD_SUBREAPER => {
            task.tasks().set_subreaper(task.pid(), args.u64(1) != 0);
            Ok(0)
        }
        libc::PR_GET_CHILD_SUBREAPER => {
            let on = u32::from(task.tasks().is_subreaper(task.pid()));
            task.mm().write_pod(args.addr(1), &on)?;
            Ok(0)
        }
        libc::PR_SET_PTRACER => {
            // Yama's exception: who else may trace this process.
            let tracer = match args.u64(1) {
                u64::MAX => crate::task::trace::PTRACER_ANY,
                pid => i32::try_from(pid).map_err(|_| Errno::EINVAL)?,
            };
            task.tasks().set_ptracer(task.pid(), tracer)?;
            Ok(0)
        }
        libc::PR_GET_DUMPABLE => Ok(u64::from(task.mm().dumpable())),
        libc::PR_SET_DUMPABLE => match args.u64(1) {
            value @ (0 | 1) => {
                task.mm().set_dumpable(value == 1);
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        },
        _ => Err(Errno::EINVAL),
    }
}
