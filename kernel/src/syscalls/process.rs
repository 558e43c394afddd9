//! The process and its thread: exit, ids, thread-area setup, umask.

use nix::errno::Errno;

use crate::arch::{SyscallArgs, TASK_SIZE};
use crate::errno::SyscallResult;
use crate::kernel::ExitStatus;
use crate::task::Task;

const ARCH_SET_GS: i32 = 0x1001;
const ARCH_SET_FS: i32 = 0x1002;
const ARCH_GET_FS: i32 = 0x1003;
const ARCH_GET_GS: i32 = 0x1004;

/// Implements exit(2). With one thread per process so far, the thread's
/// exit is the process's.
pub fn exit(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.exit_status = Some(ExitStatus::Exited(args.int(0) as u8));
    Ok(0)
}

/// Implements exit_group(2).
pub fn exit_group(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.exit_status = Some(ExitStatus::Exited(args.int(0) as u8));
    Ok(0)
}

/// Implements getpid(2): the pid in the sandbox's PID namespace.
pub fn getpid(task: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    Ok(task.tid() as u64)
}

/// Implements gettid(2).
pub fn gettid(task: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    Ok(task.tid() as u64)
}

/// Implements getppid(2): the init's parent is outside its namespace, so 0.
pub fn getppid(_task: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    Ok(0)
}

/// Implements set_tid_address(2).
pub fn set_tid_address(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.clear_child_tid = args.u64(0);
    Ok(task.tid() as u64)
}

/// Implements set_robust_list(2).
pub fn set_robust_list(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    // sizeof(struct robust_list_head) on x86-64.
    if args.u64(1) != 24 {
        return Err(Errno::EINVAL);
    }
    task.robust_list = args.u64(0);
    Ok(0)
}

/// Implements arch_prctl(2) for the FS and GS bases.
pub fn arch_prctl(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let addr = args.u64(1);
    match args.int(0) {
        ARCH_SET_FS | ARCH_SET_GS if addr >= TASK_SIZE => Err(Errno::EPERM),
        ARCH_SET_FS => {
            task.regs.fs_base = addr;
            Ok(0)
        }
        ARCH_SET_GS => {
            task.regs.gs_base = addr;
            Ok(0)
        }
        ARCH_GET_FS => task.mm.write_pod(addr, &task.regs.fs_base).map(|()| 0),
        ARCH_GET_GS => task.mm.write_pod(addr, &task.regs.gs_base).map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// Implements umask(2).
pub fn umask(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let old = task.umask;
    task.umask = args.u32(0) & 0o777;
    Ok(u64::from(old))
}
