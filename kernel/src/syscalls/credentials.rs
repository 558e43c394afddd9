//! The process's identity, as the OCI spec's process.user set it.

use nix::errno::Errno;

use super::context::TaskCtx;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;

/// Implements getuid(2).
pub fn getuid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials.uid))
}

/// Implements geteuid(2).
pub fn geteuid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials.uid))
}

/// Implements getgid(2).
pub fn getgid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials.gid))
}

/// Implements getegid(2).
pub fn getegid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials.gid))
}

/// Implements getgroups(2).
pub fn getgroups(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let size = args.int(0);
    let groups = &task.credentials.additional_gids;
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|gid| gid.to_le_bytes()).collect();
    task.mm().copy_out(args.addr(1), &bytes)?;
    Ok(groups.len() as u64)
}
