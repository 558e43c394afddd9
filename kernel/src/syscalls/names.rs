//! Directory entries: making, removing, renaming and listing names.

use nix::errno::Errno;

use super::context::TaskCtx;
use super::stat::target_at;
use crate::abi::UserAddr;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::capability::Capability;
use crate::abi::errno::SyscallResult;
use crate::vfs::{Location, NewNode, RenameFlags, ops};

fn read_path(task: &TaskCtx, addr: UserAddr) -> Result<Vec<u8>, Errno> {
    task.mm().read_cstring(addr, libc::PATH_MAX as usize)
}

fn make_at(task: &TaskCtx, dirfd: i32, path: UserAddr, node: NewNode, mode: u32) -> SyscallResult {
    let path = read_path(task, path)?;
    let mode = mode & 0o7777 & !task.fs().umask;
    ops::make(&task.resolver_at(dirfd)?, &path, node, mode)?;
    Ok(0)
}

/// Implements mkdir(2).
pub fn mkdir(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    make_at(task, libc::AT_FDCWD, args.addr(0), NewNode::Directory, args.u32(1))
}

/// Implements mkdirat(2).
pub fn mkdirat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    make_at(task, args.int(0), args.addr(1), NewNode::Directory, args.u32(2))
}

fn mknod_at(task: &TaskCtx, dirfd: i32, path: UserAddr, mode: u32, dev: u64) -> SyscallResult {
    let node = match mode & libc::S_IFMT {
        0 | libc::S_IFREG => NewNode::Regular,
        libc::S_IFIFO => NewNode::Fifo,
        libc::S_IFCHR if task.credentials().has(Capability::MKNOD) => NewNode::CharDevice(dev),
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFSOCK => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    make_at(task, dirfd, path, node, mode)
}

/// Implements mknod(2) for regular files, FIFOs and (as root) character
/// devices.
pub fn mknod(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    mknod_at(task, libc::AT_FDCWD, args.addr(0), args.u32(1), args.u64(2))
}

/// Implements mknodat(2), as mknod.
pub fn mknodat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    mknod_at(task, args.int(0), args.addr(1), args.u32(2), args.u64(3))
}

fn symlink_at(task: &TaskCtx, target: UserAddr, dirfd: i32, path: UserAddr) -> SyscallResult {
    let target = read_path(task, target)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let path = read_path(task, path)?;
    ops::make(&task.resolver_at(dirfd)?, &path, NewNode::Symlink(target), 0o777)?;
    Ok(0)
}

/// Implements symlink(2).
pub fn symlink(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    symlink_at(task, args.addr(0), libc::AT_FDCWD, args.addr(1))
}

/// Implements symlinkat(2).
pub fn symlinkat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    symlink_at(task, args.addr(0), args.int(1), args.addr(2))
}

fn remove_at(task: &TaskCtx, dirfd: i32, path: UserAddr, directory: bool) -> SyscallResult {
    let path = read_path(task, path)?;
    ops::remove(&task.resolver_at(dirfd)?, &path, directory)?;
    Ok(0)
}

/// Implements unlink(2).
pub fn unlink(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    remove_at(task, libc::AT_FDCWD, args.addr(0), false)
}

/// Implements rmdir(2).
pub fn rmdir(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    remove_at(task, libc::AT_FDCWD, args.addr(0), true)
}

/// Implements unlinkat(2).
pub fn unlinkat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.int(2);
    if flags & !libc::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    remove_at(task, args.int(0), args.addr(1), flags & libc::AT_REMOVEDIR != 0)
}

/// The starting directory of a relative path for dirfd.
fn start_of(task: &TaskCtx, dirfd: i32) -> Result<Location, Errno> {
    Ok(task.resolver_at(dirfd)?.cwd)
}

fn rename_at(
    task: &TaskCtx,
    old_dirfd: i32,
    old: UserAddr,
    new_dirfd: i32,
    new: UserAddr,
    flags: u32,
) -> SyscallResult {
    let known = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE | libc::RENAME_WHITEOUT;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = RenameFlags {
        no_replace: flags & libc::RENAME_NOREPLACE != 0,
        exchange: flags & libc::RENAME_EXCHANGE != 0,
    };
    if flags.no_replace && flags.exchange {
        return Err(Errno::EINVAL);
    }
    let (old, new) = (read_path(task, old)?, read_path(task, new)?);
    let (old_start, new_start) = (start_of(task, old_dirfd)?, start_of(task, new_dirfd)?);
    ops::rename(&task.resolver(), &old_start, &old, &new_start, &new, flags)?;
    Ok(0)
}

/// Implements rename(2).
pub fn rename(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    rename_at(task, libc::AT_FDCWD, args.addr(0), libc::AT_FDCWD, args.addr(1), 0)
}

/// Implements renameat(2).
pub fn renameat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    rename_at(task, args.int(0), args.addr(1), args.int(2), args.addr(3), 0)
}

/// Implements renameat2(2): RENAME_NOREPLACE and RENAME_EXCHANGE
/// (RENAME_WHITEOUT is refused: it needs CAP_MKNOD on overlay internals).
pub fn renameat2(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    if args.u32(4) & libc::RENAME_WHITEOUT != 0 {
        return Err(Errno::EINVAL);
    }
    rename_at(task, args.int(0), args.addr(1), args.int(2), args.addr(3), args.u32(4))
}

fn link_at(task: &TaskCtx, old_dirfd: i32, old: UserAddr, new_dirfd: i32, new: UserAddr, flags: i32) -> SyscallResult {
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    // linkat follows a final symlink only when asked to.
    let lookup_flags = if flags & libc::AT_SYMLINK_FOLLOW != 0 {
        flags
    } else {
        flags | libc::AT_SYMLINK_NOFOLLOW
    };
    let target = target_at(task, old_dirfd, old, lookup_flags, libc::AT_SYMLINK_NOFOLLOW)?.location()?;
    let new = read_path(task, new)?;
    let new_start = start_of(task, new_dirfd)?;
    ops::link(&task.resolver(), &target, &new_start, &new)?;
    Ok(0)
}

/// Implements link(2).
pub fn link(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    link_at(task, libc::AT_FDCWD, args.addr(0), libc::AT_FDCWD, args.addr(1), 0)
}

/// Implements linkat(2).
pub fn linkat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    link_at(task, args.int(0), args.addr(1), args.int(2), args.addr(3), args.int(4))
}

/// Implements getdents64(2).
pub fn getdents64(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let file = task.fds().get(args.int(0))?;
    let capacity = args.u64(2).min(super::MAX_RW_COUNT);
    task.mm().check(args.addr(1), capacity, true)?;
    let records = file.getdents(usize::try_from(capacity).expect("at most MAX_RW_COUNT"))?;
    task.mm().copy_out(args.addr(1), &records)?;
    Ok(usize_to_u64(records.len()))
}
