//! Asking about files: the stat family, statfs, access.

use nix::errno::Errno;

use super::context::TaskCtx;
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::abi::structs::Stat;
use crate::vfs::lookup::Follow;
use crate::vfs::{Location, MAY_WRITE, check_access};

/// What an *at call with AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW names.
pub enum Target {
    /// A file found by path.
    Path(Location),
    /// The open file `dirfd` itself (which may have no path: a pipe).
    Fd(std::sync::Arc<dyn crate::vfs::File>),
}

impl Target {
    pub fn stat(&self) -> Result<Stat, Errno> {
        match self {
            Target::Path(location) => location.stat(),
            Target::Fd(file) => file.stat(),
        }
    }

    /// The location, for calls that need a file with a path.
    pub fn location(&self) -> Result<Location, Errno> {
        match self {
            Target::Path(location) => Ok(location.clone()),
            Target::Fd(file) => file.location().cloned().ok_or(Errno::EBADF),
        }
    }
}

/// Resolves the (dirfd, path, flags) triple of the *at calls. `nofollow`
/// is the flag bit that means "do not follow a final symlink"
/// (AT_SYMLINK_NOFOLLOW for most calls).
pub fn target_at(task: &TaskCtx, dirfd: i32, path: UserAddr, flags: i32, nofollow: i32) -> Result<Target, Errno> {
    let path = task.mm().read_cstring(path, libc::PATH_MAX as usize)?;
    if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        if dirfd == libc::AT_FDCWD {
            return Ok(Target::Path(task.fs().cwd.clone()));
        }
        return Ok(Target::Fd(task.fds().get(dirfd)?));
    }
    let follow = if flags & nofollow != 0 {
        Follow::NotLast
    } else {
        Follow::Always
    };
    Ok(Target::Path(task.resolver_at(dirfd)?.resolve(&path, follow)?))
}

/// Implements stat(2).
pub fn stat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let st = target_at(task, libc::AT_FDCWD, args.addr(0), 0, 0)?.stat()?;
    task.mm().write_pod(args.addr(1), &st)?;
    Ok(0)
}

/// Implements lstat(2).
pub fn lstat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let st = target_at(
        task,
        libc::AT_FDCWD,
        args.addr(0),
        libc::AT_SYMLINK_NOFOLLOW,
        libc::AT_SYMLINK_NOFOLLOW,
    )?
    .stat()?;
    task.mm().write_pod(args.addr(1), &st)?;
    Ok(0)
}

/// Implements fstat(2).
pub fn fstat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let st = task.fds().get(args.int(0))?.stat()?;
    task.mm().write_pod(args.addr(1), &st)?;
    Ok(0)
}

const STAT_FLAGS: i32 = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT;

/// Implements newfstatat(2).
pub fn newfstatat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.int(3);
    if flags & !STAT_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let st = target_at(task, args.int(0), args.addr(1), flags, libc::AT_SYMLINK_NOFOLLOW)?.stat()?;
    task.mm().write_pod(args.addr(2), &st)?;
    Ok(0)
}

/// STATX_BASIC_STATS: what every answer fills in.
const STATX_BASIC_STATS: u32 = 0x7ff;

/// Implements statx(2) from the same attributes stat reports (no birth time).
pub fn statx(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.int(2);
    let known = STAT_FLAGS | libc::AT_STATX_SYNC_TYPE;
    if flags & !known != 0 || flags & libc::AT_STATX_SYNC_TYPE == libc::AT_STATX_SYNC_TYPE {
        return Err(Errno::EINVAL);
    }
    if args.u32(3) & 0x8000_0000 != 0 {
        return Err(Errno::EINVAL);
    }
    let st = target_at(task, args.int(0), args.addr(1), flags, libc::AT_SYMLINK_NOFOLLOW)?.stat()?;
    // struct statx's fields are narrower than struct stat's (Linux's kstat
    // has them at these widths); a value that does not fit is EOVERFLOW, as
    // stat(2) answers for one its structure cannot hold.
    let overflow = |_| Errno::EOVERFLOW;
    let mut out = [0u8; 256];
    let mut put = |offset: usize, bytes: &[u8]| out[offset..offset + bytes.len()].copy_from_slice(bytes);
    put(0, &STATX_BASIC_STATS.to_ne_bytes());
    put(4, &u32::try_from(st.st_blksize).map_err(overflow)?.to_ne_bytes());
    put(16, &u32::try_from(st.st_nlink).map_err(overflow)?.to_ne_bytes());
    put(20, &st.st_uid.to_ne_bytes());
    put(24, &st.st_gid.to_ne_bytes());
    put(28, &u16::try_from(st.st_mode).map_err(overflow)?.to_ne_bytes());
    put(32, &st.st_ino.to_ne_bytes());
    put(40, &st.size().to_ne_bytes());
    put(48, &u64::try_from(st.st_blocks).map_err(overflow)?.to_ne_bytes());
    for (offset, sec, nsec) in [
        (64, st.st_atime, st.st_atime_nsec),
        (96, st.st_ctime, st.st_ctime_nsec),
        (112, st.st_mtime, st.st_mtime_nsec),
    ] {
        put(offset, &sec.to_ne_bytes());
        put(offset + 8, &u32::try_from(nsec).map_err(overflow)?.to_ne_bytes());
    }
    put(128, &libc::major(st.st_rdev).to_ne_bytes());
    put(132, &libc::minor(st.st_rdev).to_ne_bytes());
    put(136, &libc::major(st.st_dev).to_ne_bytes());
    put(140, &libc::minor(st.st_dev).to_ne_bytes());
    task.mm().copy_out(args.addr(4), &out)?;
    Ok(0)
}

fn write_statfs(task: &TaskCtx, addr: UserAddr, location: Option<&Location>) -> SyscallResult {
    let st = match location {
        Some(location) => location.inode().statfs()?,
        // Pipes and other files without a path: PIPEFS_MAGIC.
        None => crate::vfs::synthetic_statfs(0x5049_5045),
    };
    let mut bytes = zerocopy::IntoBytes::as_bytes(&st).to_vec();
    // f_flags (hidden in libc's f_spare) sits at byte 80 of struct statfs.
    let mut flags: u64 = 0;
    if location.is_some_and(|location| location.mount.flags.readonly) {
        flags |= libc::ST_RDONLY;
    }
    bytes[80..88].copy_from_slice(&flags.to_ne_bytes());
    task.mm().copy_out(addr, &bytes)?;
    Ok(0)
}

/// Implements statfs(2).
pub fn statfs(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let location = target_at(task, libc::AT_FDCWD, args.addr(0), 0, 0)?.location()?;
    write_statfs(task, args.addr(1), Some(&location))
}

/// Implements fstatfs(2).
pub fn fstatfs(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let file = task.fds().get(args.int(0))?;
    write_statfs(task, args.addr(1), file.location())
}

/// access(2), faccessat(2) and faccessat2(2): checks as the real (here
/// also the effective) user; W_OK on a read-only mount is EROFS.
fn access_at(task: &TaskCtx, dirfd: i32, path: UserAddr, mode: u32, flags: i32) -> SyscallResult {
    if mode & !7 != 0 || flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let target = target_at(task, dirfd, path, flags, libc::AT_SYMLINK_NOFOLLOW)?;
    let st = target.stat()?;
    if mode == 0 {
        return Ok(0);
    }
    check_access(&st, task.credentials(), mode)?;
    let readonly = match &target {
        Target::Path(location) => location.mount.flags.readonly,
        Target::Fd(_) => false,
    };
    if mode & MAY_WRITE != 0 && readonly {
        return Err(Errno::EROFS);
    }
    Ok(0)
}

/// Implements access(2).
pub fn access(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    access_at(task, libc::AT_FDCWD, args.addr(0), args.u32(1), 0)
}

/// Implements faccessat(2) (which has no flags argument).
pub fn faccessat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    access_at(task, args.int(0), args.addr(1), args.u32(2), 0)
}

/// Implements faccessat2(2).
pub fn faccessat2(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    access_at(task, args.int(0), args.addr(1), args.u32(2), args.int(3))
}
