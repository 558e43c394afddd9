//! The process's identity, as the OCI spec's process.user set it.

use nix::errno::Errno;

use super::context::TaskCtx;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;

/// Implements getuid(2).
pub fn getuid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials().uid))
}

/// Implements geteuid(2).
pub fn geteuid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials().uid))
}

/// Implements getgid(2).
pub fn getgid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials().gid))
}

/// Implements getegid(2).
pub fn getegid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials().gid))
}

/// Implements getgroups(2).
pub fn getgroups(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // The size is an int: negative is EINVAL.
    let size = usize::try_from(args.int(0)).map_err(|_| Errno::EINVAL)?;
    let groups = &task.credentials().additional_gids;
    if size == 0 {
        return Ok(usize_to_u64(groups.len()));
    }
    if size < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|gid| gid.to_le_bytes()).collect();
    task.mm().copy_out(args.addr(1), &bytes)?;
    Ok(usize_to_u64(groups.len()))
}
