//! Advisory locks: flock(2) and fcntl(2)'s record locks.

use std::sync::Arc;

use nix::errno::Errno;

use super::context::TaskCtx;
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::abi::flags;
use crate::task::Restart;
use crate::vfs::File;
use crate::vfs::locks::{self, Owner, RangeLock};

/// The identity of a regular file or directory opened by path (locks are
/// released when such a description closes; devices, FIFOs and pipes are
/// refused).
fn identity(file: &Arc<dyn File>) -> Result<(u64, u64), Errno> {
    if !file.as_any().is_some_and(|any| any.is::<crate::vfs::OpenFile>()) {
        return Err(Errno::EINVAL);
    }
    let location = file.location().ok_or(Errno::EINVAL)?;
    let st = location.stat()?;
    Ok((st.st_dev, st.st_ino))
}

/// The owner of flock and OFD locks: the open file description itself.
fn description(file: &Arc<dyn File>) -> Owner {
    Owner::Description(Arc::as_ptr(file) as *const () as usize)
}

/// A blocked lock wait interrupted by a handled signal restarts only with
/// SA_RESTART (ERESTARTSYS), as on Linux.
fn interrupted(task: &mut TaskCtx, result: Result<(), Errno>) -> SyscallResult {
    match result {
        Ok(()) => Ok(0),
        Err(Errno::EINTR) => {
            task.set_restart(Restart::UnlessHandled);
            Err(Errno::EINTR)
        }
        Err(errno) => Err(errno),
    }
}

/// Implements flock(2) on files with a path.
pub fn flock(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let file = task.fds().get(args.int(0))?;
    let operation = args.int(1);
    let nonblocking = operation & libc::LOCK_NB != 0;
    let id = identity(&file)?;
    let owner = description(&file);
    match operation & !libc::LOCK_NB {
        libc::LOCK_UN => {
            locks::table().unflock(id, owner);
            Ok(0)
        }
        op @ (libc::LOCK_SH | libc::LOCK_EX) => {
            let result = locks::table().flock(id, owner, op == libc::LOCK_EX, nonblocking, task.caller());
            interrupted(task, result)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// struct flock as x86-64 lays it out: l_type and l_whence (shorts, kept
/// here as the ints libc's constants are), then l_start, l_len (off_t) and
/// l_pid.
struct Flock {
    kind: i32,
    whence: i32,
    start: i64,
    len: i64,
    pid: i32,
}

impl Flock {
    fn read(task: &TaskCtx, addr: UserAddr) -> Result<Flock, Errno> {
        let mut raw = [0u8; 32];
        task.mm().copy_in(addr, &mut raw)?;
        let i16_at = |i: usize| i16::from_ne_bytes(raw[i..i + 2].try_into().expect("2 bytes"));
        let i64_at = |i: usize| i64::from_ne_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
        Ok(Flock {
            kind: i32::from(i16_at(0)),
            whence: i32::from(i16_at(2)),
            start: i64_at(8),
            len: i64_at(16),
            pid: i32::from_ne_bytes(raw[24..28].try_into().expect("4 bytes")),
        })
    }

    fn write(&self, task: &TaskCtx, addr: UserAddr) -> Result<(), Errno> {
        let short = |value: i32| i16::try_from(value).expect("a short read in, or an F_ or SEEK_ constant");
        let mut raw = [0u8; 32];
        raw[0..2].copy_from_slice(&short(self.kind).to_ne_bytes());
        raw[2..4].copy_from_slice(&short(self.whence).to_ne_bytes());
        raw[8..16].copy_from_slice(&self.start.to_ne_bytes());
        raw[16..24].copy_from_slice(&self.len.to_ne_bytes());
        raw[24..28].copy_from_slice(&self.pid.to_ne_bytes());
        task.mm().copy_out(addr, &raw)
    }

    /// The byte range `[start, end]` this lock covers.
    fn range(&self, file: &Arc<dyn File>) -> Result<(u64, u64), Errno> {
        let base = match self.whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => i64::try_from(file.seek(0, libc::SEEK_CUR)?).map_err(|_| Errno::EOVERFLOW)?,
            libc::SEEK_END => file.stat()?.st_size,
            _ => return Err(Errno::EINVAL),
        };
        let start = base.checked_add(self.start).ok_or(Errno::EOVERFLOW)?;
        let (start, end) = match self.len {
            0 => (start, i128::from(u64::MAX)),
            len if len > 0 => (start, i128::from(start) + i128::from(len) - 1),
            len => (start.checked_add(len).ok_or(Errno::EINVAL)?, i128::from(start) - 1),
        };
        let start = u64::try_from(start).map_err(|_| Errno::EINVAL)?;
        // From a start that is not negative, the end is not either.
        let end = u64::try_from(end.min(i128::from(u64::MAX))).expect("end >= start >= 0");
        Ok((start, end))
    }
}

/// fcntl(2)'s F_GETLK, F_SETLK, F_SETLKW and their OFD forms.
pub fn record_lock(task: &mut TaskCtx, fd: i32, cmd: i32, addr: UserAddr) -> SyscallResult {
    let file = task.fds().get(fd)?;
    let id = identity(&file)?;
    let mut request = Flock::read(task, addr)?;
    let ofd = matches!(cmd, libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW);
    if ofd && request.pid != 0 {
        return Err(Errno::EINVAL);
    }
    let owner = if ofd {
        description(&file)
    } else {
        Owner::Process(task.pid())
    };
    let (start, end) = request.range(&file)?;
    let write = match request.kind {
        libc::F_RDLCK => false,
        libc::F_WRLCK => true,
        libc::F_UNLCK => false,
        _ => return Err(Errno::EINVAL),
    };
    let lock = RangeLock {
        owner,
        start,
        end,
        write,
    };
    if matches!(cmd, libc::F_GETLK | libc::F_OFD_GETLK) {
        if request.kind == libc::F_UNLCK {
            return Err(Errno::EINVAL);
        }
        match locks::table().conflicting(id, lock) {
            None => request.kind = libc::F_UNLCK,
            Some(held) => {
                request.kind = if held.write { libc::F_WRLCK } else { libc::F_RDLCK };
                request.whence = libc::SEEK_SET;
                // A lock that starts or spans past the largest off_t
                // cannot be described: EOVERFLOW, POSIX's errno for a value
                // fcntl cannot return.
                request.start = i64::try_from(held.start).map_err(|_| Errno::EOVERFLOW)?;
                request.len = if held.end == u64::MAX {
                    0
                } else {
                    i64::try_from(held.end - held.start + 1).map_err(|_| Errno::EOVERFLOW)?
                };
                request.pid = match held.owner {
                    Owner::Process(pid) => pid,
                    Owner::Description(_) => -1,
                };
            }
        }
        request.write(task, addr)?;
        return Ok(0);
    }
    let access = flags::access_mode(file.status_flags()?);
    let unlock = request.kind == libc::F_UNLCK;
    if !unlock && ((write && access == libc::O_RDONLY) || (!write && access == libc::O_WRONLY)) {
        return Err(Errno::EBADF);
    }
    let wait = matches!(cmd, libc::F_SETLKW | libc::F_OFD_SETLKW);
    let result = locks::table().set(id, lock, unlock, wait, task.caller());
    interrupted(task, result)
}
