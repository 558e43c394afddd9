//! Changing files: modes, owners, times, sizes, syncing, extended
//! attributes.

use nix::errno::Errno;

use super::context::TaskCtx;
use super::stat::{Target, target_at};
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::capability::Capability;
use crate::abi::errno::SyscallResult;
use crate::abi::flags;
use crate::abi::structs::{Stat, Timespec, Timeval};
use crate::abi::{Credentials, UserAddr};
use crate::vfs::{Location, MAY_READ, MAY_WRITE, SetAttr, check_access};

/// Refuses changes on a read-only mount. Linux checks this
/// (mnt_want_write) before ownership and permissions.
fn writable_mount(location: &Location) -> Result<(), Errno> {
    if location.mount.flags.readonly {
        return Err(Errno::EROFS);
    }
    Ok(())
}

/// Applies `attr` to a file on a writable mount.
fn apply(location: &Location, attr: SetAttr) -> SyscallResult {
    location.inode().set_attr(attr)?;
    Ok(0)
}

/// The location of the open file `fd` (files without a path cannot be
/// changed this way).
fn fd_location(task: &TaskCtx, fd: i32) -> Result<Location, Errno> {
    let file = task.fds().get(fd)?;
    file.location().cloned().ok_or(Errno::EINVAL)
}

/// Whether the caller owns the file `st` describes or holds CAP_FOWNER
/// (inode_owner_or_capable()).
fn owner_or_capable(creds: &Credentials, st: &Stat) -> bool {
    creds.fsuid == st.st_uid || creds.has(Capability::FOWNER)
}

/// chmod: the owner or a holder of CAP_FOWNER; a caller outside the
/// file's group without CAP_FSETID loses set-group-ID.
fn chmod_location(task: &TaskCtx, location: &Location, mode: u32) -> SyscallResult {
    writable_mount(location)?;
    let st = location.stat()?;
    let creds = task.credentials();
    if !owner_or_capable(creds, &st) {
        return Err(Errno::EPERM);
    }
    let mut mode = mode & 0o7777;
    if !creds.in_group(st.st_gid) && !creds.has(Capability::FSETID) {
        mode &= !libc::S_ISGID;
    }
    apply(
        location,
        SetAttr {
            mode: Some(mode),
            ..SetAttr::default()
        },
    )
}

/// Implements chmod(2).
pub fn chmod(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let location = target_at(task, libc::AT_FDCWD, args.addr(0), 0, 0)?.location()?;
    chmod_location(task, &location, args.u32(1))
}

/// Implements fchmod(2).
pub fn fchmod(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let location = fd_location(task, args.int(0))?;
    chmod_location(task, &location, args.u32(1))
}

/// Implements fchmodat(2) (Linux's: no flags argument).
pub fn fchmodat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let location = target_at(task, args.int(0), args.addr(1), 0, 0)?.location()?;
    chmod_location(task, &location, args.u32(2))
}

/// chown (Linux's chown_ok and chgrp_ok): a holder of CAP_CHOWN may give
/// a file to anyone; its owner may only change the group to one of its
/// own. A change clears set-user-ID, and set-group-ID when the file is
/// group-executable (without group execute it marks mandatory locking
/// and stays), on files that are not directories, whoever makes it.
fn chown_location(task: &TaskCtx, location: &Location, uid: u32, gid: u32) -> SyscallResult {
    writable_mount(location)?;
    let st = location.stat()?;
    let new_uid = (uid != u32::MAX).then_some(uid);
    let new_gid = (gid != u32::MAX).then_some(gid);
    let creds = task.credentials();
    if !creds.has(Capability::CHOWN) {
        let owner = creds.fsuid == st.st_uid;
        let uid_ok = new_uid.is_none_or(|uid| uid == st.st_uid);
        let gid_ok = new_gid.is_none_or(|gid| gid == st.st_gid || creds.in_group(gid));
        if !owner || !uid_ok || !gid_ok {
            return Err(Errno::EPERM);
        }
    }
    let mut attr = SetAttr {
        uid: new_uid,
        gid: new_gid,
        ..SetAttr::default()
    };
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if (new_uid.is_some() || new_gid.is_some()) && !is_dir {
        let mut kill = libc::S_ISUID;
        if st.st_mode & libc::S_IXGRP != 0 {
            kill |= libc::S_ISGID;
        }
        if st.st_mode & kill != 0 {
            attr.mode = Some(st.st_mode & 0o7777 & !kill);
        }
    }
    apply(location, attr)
}

/// Implements chown(2).
pub fn chown(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let location = target_at(task, libc::AT_FDCWD, args.addr(0), 0, 0)?.location()?;
    chown_location(task, &location, args.u32(1), args.u32(2))
}

/// Implements lchown(2).
pub fn lchown(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let nofollow = libc::AT_SYMLINK_NOFOLLOW;
    let location = target_at(task, libc::AT_FDCWD, args.addr(0), nofollow, nofollow)?.location()?;
    chown_location(task, &location, args.u32(1), args.u32(2))
}

/// Implements fchown(2).
pub fn fchown(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let location = fd_location(task, args.int(0))?;
    chown_location(task, &location, args.u32(1), args.u32(2))
}

/// Implements fchownat(2).
pub fn fchownat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.int(4);
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let location = target_at(task, args.int(0), args.addr(1), flags, libc::AT_SYMLINK_NOFOLLOW)?.location()?;
    chown_location(task, &location, args.u32(2), args.u32(3))
}

/// Sets access and modification times: `None` means now for both.
/// Explicit times need the owner (or root); "now" also write access.
fn set_times(task: &TaskCtx, location: &Location, times: Option<[Timespec; 2]>) -> SyscallResult {
    writable_mount(location)?;
    let st = location.stat()?;
    let now = crate::vfs::now();
    let pick = |t: Timespec| match t.tv_nsec {
        libc::UTIME_OMIT => Ok(None),
        libc::UTIME_NOW => Ok(Some(now)),
        nsec if (0..1_000_000_000).contains(&nsec) => Ok(Some(t)),
        _ => Err(Errno::EINVAL),
    };
    let (atime, mtime, explicit) = match times {
        None => (Some(now), Some(now), false),
        Some([a, m]) => {
            let explicit = ![a.tv_nsec, m.tv_nsec]
                .iter()
                .all(|&n| n == libc::UTIME_NOW || n == libc::UTIME_OMIT);
            (pick(a)?, pick(m)?, explicit)
        }
    };
    if atime.is_none() && mtime.is_none() {
        return Ok(0);
    }
    let owner = owner_or_capable(task.credentials(), &st);
    if explicit && !owner {
        return Err(Errno::EPERM);
    }
    if !explicit && !owner {
        check_access(&st, task.credentials(), MAY_WRITE)?;
    }
    apply(
        location,
        SetAttr {
            atime,
            mtime,
            ..SetAttr::default()
        },
    )
}

/// Implements utimensat(2).
pub fn utimensat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.int(3);
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let times = match args.addr(2) {
        addr if addr.is_null() => None,
        addr => {
            // One statement each: a guard from `task.mm()` lives to the end
            // of its statement, and the memory manager's lock is not
            // reentrant.
            let atime = task.mm().read_pod::<Timespec>(addr)?;
            let mtime = task.mm().read_pod::<Timespec>(addr + 16)?;
            Some([atime, mtime])
        }
    };
    // A null path means the file dirfd names (futimens).
    let target = if args.u64(1) == 0 {
        Target::Fd(task.fds().get(args.int(0))?)
    } else {
        target_at(task, args.int(0), args.addr(1), flags, libc::AT_SYMLINK_NOFOLLOW)?
    };
    set_times(task, &target.location()?, times)
}

/// utimes-style times (two timevals) as timespecs.
fn read_timevals(task: &TaskCtx, addr: UserAddr) -> Result<Option<[Timespec; 2]>, Errno> {
    if addr.is_null() {
        return Ok(None);
    }
    let mut out = [Timespec { tv_sec: 0, tv_nsec: 0 }; 2];
    for (i, slot) in out.iter_mut().enumerate() {
        let tv = task.mm().read_pod::<Timeval>(addr + 16 * usize_to_u64(i))?;
        if !(0..1_000_000).contains(&tv.tv_usec) {
            return Err(Errno::EINVAL);
        }
        *slot = Timespec {
            tv_sec: tv.tv_sec,
            tv_nsec: tv.tv_usec * 1000,
        };
    }
    Ok(Some(out))
}

/// Implements utimes(2).
pub fn utimes(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let times = read_timevals(task, args.addr(1))?;
    let location = target_at(task, libc::AT_FDCWD, args.addr(0), 0, 0)?.location()?;
    set_times(task, &location, times)
}

/// Implements futimesat(2).
pub fn futimesat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let times = read_timevals(task, args.addr(2))?;
    let location = target_at(task, args.int(0), args.addr(1), 0, 0)?.location()?;
    set_times(task, &location, times)
}

/// Implements utime(2) (struct utimbuf: two time_t seconds).
pub fn utime(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let times = match args.addr(1) {
        addr if addr.is_null() => None,
        addr => {
            let actime = task.mm().read_pod::<i64>(addr)?;
            let modtime = task.mm().read_pod::<i64>(addr + 8)?;
            Some([
                Timespec {
                    tv_sec: actime,
                    tv_nsec: 0,
                },
                Timespec {
                    tv_sec: modtime,
                    tv_nsec: 0,
                },
            ])
        }
    };
    let location = target_at(task, libc::AT_FDCWD, args.addr(0), 0, 0)?.location()?;
    set_times(task, &location, times)
}

/// Implements truncate(2).
pub fn truncate(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // The length is an off_t: negative is EINVAL.
    let size = u64::try_from(args.long(1)).map_err(|_| Errno::EINVAL)?;
    let location = target_at(task, libc::AT_FDCWD, args.addr(0), 0, 0)?.location()?;
    let st = location.stat()?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => return Err(Errno::EISDIR),
        libc::S_IFREG => {}
        _ => return Err(Errno::EINVAL),
    }
    writable_mount(&location)?;
    check_access(&st, task.credentials(), MAY_WRITE)?;
    apply(
        &location,
        SetAttr {
            size: Some(size),
            ..SetAttr::default()
        },
    )
}

/// Implements ftruncate(2).
pub fn ftruncate(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let size = u64::try_from(args.long(1)).map_err(|_| Errno::EINVAL)?;
    // No file on a read-only mount is open for writing, so the file's own
    // EINVAL comes first there, as on Linux.
    task.fds().get(args.int(0))?.truncate(size)?;
    Ok(0)
}

/// Implements fallocate(2): mode 0 (grow the file), FALLOC_FL_KEEP_SIZE
/// (nothing to reserve in memory) and FALLOC_FL_PUNCH_HOLE (zeroes).
pub fn fallocate(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // Offset and length are loff_t: negative ones, and an empty length,
    // are EINVAL; an end past the largest loff_t is EFBIG.
    let mode = args.int(1);
    let (Ok(offset), Ok(len)) = (u64::try_from(args.long(2)), u64::try_from(args.long(3))) else {
        return Err(Errno::EINVAL);
    };
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let end = offset + len;
    if i64::try_from(end).is_err() {
        return Err(Errno::EFBIG);
    }
    let file = task.fds().get(args.int(0))?;
    if flags::access_mode(file.status_flags()?) == libc::O_RDONLY {
        return Err(Errno::EBADF);
    }
    let location = file.location().ok_or(Errno::ESPIPE)?;
    let st = location.stat()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            Errno::EISDIR
        } else {
            Errno::ENODEV
        });
    }
    match mode {
        0 if end > st.size() => file.truncate(end)?,
        0 | libc::FALLOC_FL_KEEP_SIZE => {}
        m if m == libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE => {
            location.inode().punch_hole(offset, len)?;
        }
        _ => return Err(Errno::EOPNOTSUPP),
    }
    Ok(0)
}

/// Implements fsync(2).
pub fn fsync(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.fds().get(args.int(0))?.sync()?;
    Ok(0)
}

/// Implements fdatasync(2).
pub fn fdatasync(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    fsync(task, args)
}

/// Implements sync(2): file data lives in sandbox memory or is read-only.
pub fn sync(_task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(0)
}

/// Implements syncfs(2).
pub fn syncfs(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.fds().get(args.int(0))?;
    Ok(0)
}

/// The longest attribute name and value (Linux's XATTR_NAME_MAX and
/// XATTR_SIZE_MAX).
const XATTR_NAME_MAX: usize = 255;
const XATTR_SIZE_MAX: usize = 65536;

/// Which file an xattr call names: by path (following or not) or by fd.
#[derive(Clone, Copy)]
enum XattrTarget {
    Follow,
    NoFollow,
    Fd,
}

/// The file the first argument of an xattr call names: an fd, or a path.
fn xattr_location(task: &TaskCtx, which: XattrTarget, args: &SyscallArgs) -> Result<Location, Errno> {
    match which {
        XattrTarget::Fd => fd_location(task, args.int(0)),
        XattrTarget::Follow => target_at(task, libc::AT_FDCWD, args.addr(0), 0, 0)?.location(),
        XattrTarget::NoFollow => {
            let nofollow = libc::AT_SYMLINK_NOFOLLOW;
            target_at(task, libc::AT_FDCWD, args.addr(0), nofollow, nofollow)?.location()
        }
    }
}

fn xattr_name(task: &TaskCtx, addr: UserAddr) -> Result<Vec<u8>, Errno> {
    let name = task
        .mm()
        .read_cstring(addr, XATTR_NAME_MAX)
        .map_err(|errno| match errno {
            Errno::ENAMETOOLONG => Errno::ERANGE,
            errno => errno,
        })?;
    if name.is_empty() {
        return Err(Errno::ERANGE);
    }
    Ok(name)
}

/// Copies `value` out as the get/list calls do: size 0 asks for the size.
fn copy_sized(task: &TaskCtx, addr: UserAddr, size: usize, value: &[u8]) -> SyscallResult {
    if size == 0 {
        return Ok(usize_to_u64(value.len()));
    }
    if size < value.len() {
        return Err(Errno::ERANGE);
    }
    task.mm().copy_out(addr, value)?;
    Ok(usize_to_u64(value.len()))
}

/// Linux's xattr_permission: user.* attributes exist only on regular
/// files and directories and follow the file's read and write permissions
/// (a sticky directory's only its owner's); trusted.* need CAP_SYS_ADMIN;
/// security.* may be read by anyone and written with CAP_SYS_ADMIN.
fn xattr_permission(task: &TaskCtx, location: &Location, name: &[u8], want: u32) -> Result<(), Errno> {
    let st = location.stat()?;
    let root = task.credentials().has(Capability::SYS_ADMIN);
    let write = want & MAY_WRITE != 0;
    let denied = if write { Errno::EPERM } else { Errno::ENODATA };
    if name.starts_with(b"security.") {
        return if write && !root { Err(Errno::EPERM) } else { Ok(()) };
    }
    if name.starts_with(b"trusted.") {
        return if root { Ok(()) } else { Err(denied) };
    }
    if name.starts_with(b"user.") {
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => {}
            libc::S_IFDIR => {
                let owner = owner_or_capable(task.credentials(), &st);
                if write && st.st_mode & libc::S_ISVTX != 0 && !owner {
                    return Err(Errno::EPERM);
                }
            }
            _ => return Err(denied),
        }
    }
    check_access(&st, task.credentials(), want)
}

fn getxattr_common(task: &TaskCtx, which: XattrTarget, args: &SyscallArgs) -> SyscallResult {
    let location = xattr_location(task, which, args)?;
    let name = xattr_name(task, args.addr(1))?;
    xattr_permission(task, &location, &name, MAY_READ)?;
    let value = location.inode().get_xattr(&name)?;
    copy_sized(task, args.addr(2), args.size(3), &value)
}

fn setxattr_common(task: &TaskCtx, which: XattrTarget, args: &SyscallArgs) -> SyscallResult {
    let location = xattr_location(task, which, args)?;
    let name = xattr_name(task, args.addr(1))?;
    let size = args.size(3);
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let flags = args.int(4);
    if flags & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut value = vec![0u8; size];
    task.mm().copy_in(args.addr(2), &mut value)?;
    writable_mount(&location)?;
    xattr_permission(task, &location, &name, MAY_WRITE)?;
    location.inode().set_xattr(&name, Some(&value), flags)?;
    Ok(0)
}

fn listxattr_common(task: &TaskCtx, which: XattrTarget, args: &SyscallArgs) -> SyscallResult {
    let location = xattr_location(task, which, args)?;
    let names = match location.inode().list_xattr() {
        Ok(names) => names,
        Err(Errno::EOPNOTSUPP) => Vec::new(),
        Err(errno) => return Err(errno),
    };
    let mut list = Vec::new();
    // trusted.* names are listed for CAP_SYS_ADMIN only.
    let root = task.credentials().has(Capability::SYS_ADMIN);
    for name in names.into_iter().filter(|name| root || !name.starts_with(b"trusted.")) {
        list.extend_from_slice(&name);
        list.push(0);
    }
    copy_sized(task, args.addr(1), args.size(2), &list)
}

fn removexattr_common(task: &TaskCtx, which: XattrTarget, args: &SyscallArgs) -> SyscallResult {
    let location = xattr_location(task, which, args)?;
    let name = xattr_name(task, args.addr(1))?;
    writable_mount(&location)?;
    xattr_permission(task, &location, &name, MAY_WRITE)?;
    location.inode().set_xattr(&name, None, 0)?;
    Ok(0)
}

/// Implements getxattr(2).
pub fn getxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    getxattr_common(task, XattrTarget::Follow, args)
}
/// Implements lgetxattr(2).
pub fn lgetxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    getxattr_common(task, XattrTarget::NoFollow, args)
}
/// Implements fgetxattr(2).
pub fn fgetxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    getxattr_common(task, XattrTarget::Fd, args)
}
/// Implements setxattr(2).
pub fn setxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    setxattr_common(task, XattrTarget::Follow, args)
}
/// Implements lsetxattr(2).
pub fn lsetxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    setxattr_common(task, XattrTarget::NoFollow, args)
}
/// Implements fsetxattr(2).
pub fn fsetxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    setxattr_common(task, XattrTarget::Fd, args)
}
/// Implements listxattr(2).
pub fn listxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    listxattr_common(task, XattrTarget::Follow, args)
}
/// Implements llistxattr(2).
pub fn llistxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    listxattr_common(task, XattrTarget::NoFollow, args)
}
/// Implements flistxattr(2).
pub fn flistxattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    listxattr_common(task, XattrTarget::Fd, args)
}
/// Implements removexattr(2).
pub fn removexattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    removexattr_common(task, XattrTarget::Follow, args)
}
/// Implements lremovexattr(2).
pub fn lremovexattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    removexattr_common(task, XattrTarget::NoFollow, args)
}
/// Implements fremovexattr(2).
pub fn fremovexattr(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    removexattr_common(task, XattrTarget::Fd, args)
}
