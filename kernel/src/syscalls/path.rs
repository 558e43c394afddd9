//! Calls about paths: getcwd, readlink.
//!
//! Without the VFS the only link the kernel can answer for is
//! /proc/self/exe; other paths return ENOSYS, as the table says.

use nix::errno::Errno;

use crate::arch::SyscallArgs;
use crate::errno::SyscallResult;
use crate::task::{INIT_PID, Task};

/// Implements getcwd(2): the raw call returns the length including the NUL.
pub fn getcwd(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let mut cwd = task.fs().cwd.clone().into_bytes();
    cwd.push(0);
    if (args.u64(1) as usize) < cwd.len() {
        return Err(Errno::ERANGE);
    }
    task.mm().copy_out(args.u64(0), &cwd)?;
    Ok(cwd.len() as u64)
}

fn readlink_common(task: &mut Task, path: u64, buf: u64, size: u64) -> SyscallResult {
    if (size as i64) <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = task.mm().read_cstring(path, libc::PATH_MAX as usize)?;
    let own_exe = format!("/proc/{INIT_PID}/exe");
    if path != b"/proc/self/exe" && path != own_exe.as_bytes() {
        return Err(Errno::ENOSYS);
    }
    let target = task.exe_path.as_bytes();
    let n = target.len().min(size as usize);
    task.mm().copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

/// Implements readlink(2) for /proc/self/exe.
pub fn readlink(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    readlink_common(task, args.u64(0), args.u64(1), args.u64(2))
}

/// Implements readlinkat(2) for /proc/self/exe (absolute, so dirfd is unused).
pub fn readlinkat(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    readlink_common(task, args.u64(1), args.u64(2), args.u64(3))
}
