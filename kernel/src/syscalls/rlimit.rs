//! Resource limits: kept by the kernel, enforced by it, never the host's.

use nix::errno::Errno;

use super::context::TaskCtx;
use crate::abi::arch::SyscallArgs;
use crate::abi::capability::Capability;
use crate::abi::errno::SyscallResult;
use crate::abi::limits::Limit;
use crate::abi::structs::Rlimit;

fn to_user(limit: Limit) -> Rlimit {
    Rlimit {
        rlim_cur: limit.soft,
        rlim_max: limit.hard,
    }
}

fn set(task: &mut TaskCtx, resource: u32, new: Rlimit) -> Result<(), Errno> {
    // Raising a hard limit takes CAP_SYS_RESOURCE.
    let privileged = task.credentials().has(Capability::SYS_RESOURCE);
    task.rlimits().set(
        resource,
        Limit {
            soft: new.rlim_cur,
            hard: new.rlim_max,
        },
        privileged,
    )
}

/// Implements prlimit64(2) on the calling process.
pub fn prlimit64(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (pid, resource, new, old) = (args.int(0), args.u32(1), args.addr(2), args.addr(3));
    if pid != 0 && pid != task.pid() {
        return Err(Errno::ESRCH);
    }
    let current = task.rlimits().get(resource)?;
    if !new.is_null() {
        let limit: Rlimit = task.mm().read_pod(new)?;
        set(task, resource, limit)?;
    }
    if !old.is_null() {
        task.mm().write_pod(old, &to_user(current))?;
    }
    Ok(0)
}

/// Implements getrlimit(2).
pub fn getrlimit(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let limit = task.rlimits().get(args.u32(0))?;
    task.mm().write_pod(args.addr(1), &to_user(limit))?;
    Ok(0)
}

/// Implements setrlimit(2).
pub fn setrlimit(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let resource = args.u32(0);
    task.rlimits().get(resource)?;
    let limit: Rlimit = task.mm().read_pod(args.addr(1))?;
    set(task, resource, limit)?;
    Ok(0)
}
