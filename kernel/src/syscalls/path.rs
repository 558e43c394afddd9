//! Calls about paths: getcwd, readlink.
//!
//! Without the VFS the only links the kernel can answer for are
//! /proc/self/exe and, for files it can name, /proc/self/fd/N; other paths
//! return ENOSYS, as the table says.

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
    let target = if path == b"/proc/self/exe" || path == own_exe.as_bytes() {
        task.exe_path.clone()
    } else {
        fd_link(task, &path).ok_or(Errno::ENOSYS)??
    };
    let target = target.as_bytes();
    let n = target.len().min(size as usize);
    task.mm().copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

/// The target of /proc/self/fd/N (or /proc/PID/fd/N for the caller's own
/// pid), if `path` is one and the kernel can name the file; ENOENT for an
/// fd that is not open.
fn fd_link(task: &Task, path: &[u8]) -> Option<Result<String, Errno>> {
    let path = std::str::from_utf8(path).ok()?;
    let rest = path.strip_prefix("/proc/")?;
    let (process, fd) = rest.split_once("/fd/")?;
    if process != "self" && process.parse::<i32>().ok()? != task.pid {
        return None;
    }
    let fd: i32 = fd.parse().ok()?;
    match task.fds().get(fd) {
        Ok(file) => file.link_name().map(Ok),
        Err(_) => Some(Err(Errno::ENOENT)),
    }
}

/// Implements readlink(2) for /proc/self/exe and /proc/self/fd/N.
pub fn readlink(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    readlink_common(task, args.u64(0), args.u64(1), args.u64(2))
}

/// Implements readlinkat(2) for /proc/self/exe and /proc/self/fd/N
/// (absolute, so dirfd is unused).
pub fn readlinkat(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    readlink_common(task, args.u64(1), args.u64(2), args.u64(3))
}
