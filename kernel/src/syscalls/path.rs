//! The task's place in the tree: getcwd, chdir, fchdir, chroot; and
//! reading symlinks.

use nix::errno::Errno;

use super::context::TaskCtx;
use super::stat::target_at;
use crate::abi::UserAddr;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::capability::Capability;
use crate::abi::errno::SyscallResult;
use crate::vfs::lookup::Follow;
use crate::vfs::{Location, MAY_EXEC, check_access};

/// Implements getcwd(2): the raw call returns the length including the NUL;
/// a working directory that was removed is ENOENT.
pub fn getcwd(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let mut cwd = {
        let fs = task.fs();
        if fs.cwd.dentry.is_deleted() {
            return Err(Errno::ENOENT);
        }
        fs.cwd.path_from(&fs.root)
    };
    cwd.push(0);
    if args.size(1) < cwd.len() {
        return Err(Errno::ERANGE);
    }
    task.mm().copy_out(args.addr(0), &cwd)?;
    Ok(usize_to_u64(cwd.len()))
}

/// Checks that `location` is a directory the task may enter.
fn enterable(task: &TaskCtx, location: &Location) -> Result<(), Errno> {
    let st = location.stat()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Errno::ENOTDIR);
    }
    check_access(&st, task.credentials(), MAY_EXEC)
}

/// Implements chdir(2).
pub fn chdir(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let path = task.mm().read_cstring(args.addr(0), libc::PATH_MAX as usize)?;
    let location = task.resolver().resolve(&path, Follow::Always)?;
    enterable(task, &location)?;
    task.fs().cwd = location;
    Ok(0)
}

/// Implements fchdir(2).
pub fn fchdir(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let file = task.fds().get(args.int(0))?;
    let location = file.location().ok_or(Errno::ENOTDIR)?.clone();
    enterable(task, &location)?;
    task.fs().cwd = location;
    Ok(0)
}

/// Implements chroot(2): root only (CAP_SYS_CHROOT); the working directory
/// stays where it is, as on Linux.
pub fn chroot(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let path = task.mm().read_cstring(args.addr(0), libc::PATH_MAX as usize)?;
    let location = task.resolver().resolve(&path, Follow::Always)?;
    enterable(task, &location)?;
    if !task.credentials().has(Capability::SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    task.fs().root = location;
    Ok(0)
}

/// readlink and readlinkat take the buffer's size as an int, as Linux
/// does: one that is not positive is EINVAL.
fn readlink_at(task: &TaskCtx, dirfd: i32, path: UserAddr, buf: UserAddr, size: i32, flags: i32) -> SyscallResult {
    let size = usize::try_from(size)
        .ok()
        .filter(|&size| size > 0)
        .ok_or(Errno::EINVAL)?;
    let flags = flags | libc::AT_SYMLINK_NOFOLLOW;
    let location = target_at(task, dirfd, path, flags, libc::AT_SYMLINK_NOFOLLOW)?.location()?;
    let target = location.inode().readlink(task.caller())?;
    let n = target.len().min(size);
    task.mm().copy_out(buf, &target[..n])?;
    Ok(usize_to_u64(n))
}

/// Implements readlink(2).
pub fn readlink(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    readlink_at(task, libc::AT_FDCWD, args.addr(0), args.addr(1), args.int(2), 0)
}

/// Implements readlinkat(2) (an empty path reads the link `dirfd` names).
pub fn readlinkat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    readlink_at(
        task,
        args.int(0),
        args.addr(1),
        args.addr(2),
        args.int(3),
        libc::AT_EMPTY_PATH,
    )
}
