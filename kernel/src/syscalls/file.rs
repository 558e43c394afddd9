//! The fd table and queries on open files: close, dup, fcntl, ioctl, pipes, lseek.
//!
//! Lock order: the fd table's lock (`Task::fds`) is let go of before a file
//! is used. `close` and `close_range` drop what they remove outside it;
//! `dup2` and `dup3` drop the file they replace under it (`vfs::fd_table`).

use std::sync::Arc;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::int_result;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;
use crate::abi::flags;
use crate::fsimpl::{Memfd, new_pipe};

use crate::vfs::File;

fn nofile(task: &TaskCtx) -> u64 {
    task.limit(libc::RLIMIT_NOFILE)
}

/// Implements close_range(2), with CLOSE_RANGE_CLOEXEC;
/// CLOSE_RANGE_UNSHARE unshares the table first, as Linux does.
pub fn close_range(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (first, last, flags) = (args.u32(0), args.u32(1), args.u32(2));
    let known = libc::CLOSE_RANGE_CLOEXEC | libc::CLOSE_RANGE_UNSHARE;
    if flags & !known != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if flags & libc::CLOSE_RANGE_UNSHARE != 0 {
        task.unshare_files();
    }
    let closed = task
        .fds()
        .close_range(first, last, flags & libc::CLOSE_RANGE_CLOEXEC != 0);
    // Files are dropped here, outside the table's lock.
    drop(closed);
    Ok(0)
}

/// Installs a new file at the lowest free fd: what every call that creates
/// a file (eventfd, epoll_create, memfd_create, …) returns.
pub(super) fn install(task: &TaskCtx, file: Arc<dyn File>, cloexec: bool) -> SyscallResult {
    let limit = nofile(task);
    Ok(int_result(task.fds().install(file, cloexec, 0, limit)?))
}

/// Implements close(2). Closing any fd of a file drops the process's
/// POSIX record locks on it, as on Linux.
pub fn close(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let file = task.fds().remove(args.int(0))?;
    if let Some(location) = file.location() {
        if let Ok(st) = location.stat() {
            crate::vfs::locks::table().release_process_file((st.st_dev, st.st_ino), task.pid());
        }
    }
    Ok(0)
}

/// Implements dup(2).
pub fn dup(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let file = task.fds().get(args.int(0))?;
    let limit = nofile(task);
    Ok(int_result(task.fds().install(file, false, 0, limit)?))
}

/// Implements dup2(2).
pub fn dup2(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (old, new) = (args.int(0), args.int(1));
    let file = task.fds().get(old)?;
    if old == new {
        return Ok(int_result(new));
    }
    let limit = nofile(task);
    task.fds().install_at(new, file, false, limit)?;
    Ok(int_result(new))
}

/// Implements dup3(2).
pub fn dup3(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (old, new, flags) = (args.int(0), args.int(1), args.int(2));
    if flags & !libc::O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    let file = task.fds().get(old)?;
    let limit = nofile(task);
    task.fds().install_at(new, file, flags & libc::O_CLOEXEC != 0, limit)?;
    Ok(int_result(new))
}

/// Implements fcntl(2) for the fd-table commands and F_GETFL.
pub fn fcntl(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let fd = args.int(0);
    let file = task.fds().get(fd)?;
    match args.int(1) {
        cmd @ (libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) => {
            let limit = nofile(task);
            let min = args.u64(2);
            if min >= limit {
                return Err(Errno::EINVAL);
            }
            let min = i32::try_from(min).map_err(|_| Errno::EINVAL)?;
            let fd = task.fds().install(file, cmd == libc::F_DUPFD_CLOEXEC, min, limit)?;
            Ok(int_result(fd))
        }
        libc::F_GETFD => Ok(if task.fds().cloexec(fd)? {
            libc::FD_CLOEXEC as u64
        } else {
            0
        }),
        libc::F_SETFD => {
            task.fds().set_cloexec(fd, args.u64(2) & libc::FD_CLOEXEC as u64 != 0)?;
            Ok(0)
        }
        libc::F_GETFL => Ok(u64::from(file.status_flags()?)),
        libc::F_SETFL => file.set_status_flags(args.u32(2)).map(|()| 0),
        libc::F_GETPIPE_SZ => file.pipe_size().map(usize_to_u64),
        cmd @ (libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | libc::F_OFD_GETLK
        | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW) => super::lock::record_lock(task, fd, cmd, args.addr(2)),
        libc::F_SETPIPE_SZ => file.set_pipe_size(args.u32(2) as usize).map(usize_to_u64),
        // Seals exist on memfds only; other files answer EINVAL.
        libc::F_ADD_SEALS => Memfd::of(&*file)
            .ok_or(Errno::EINVAL)?
            .add_seals(args.u32(2))
            .map(|()| 0),
        libc::F_GET_SEALS => Ok(u64::from(Memfd::of(&*file).ok_or(Errno::EINVAL)?.seals())),
        _ => Err(Errno::ENOSYS),
    }
}

/// Implements ioctl(2): the generic fd requests here, the rest by the file.
/// A terminal request interrupted by job control (SIGTTOU) restarts as
/// ERESTARTSYS does.
pub fn ioctl(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let fd = args.int(0);
    let file = task.fds().get(fd)?;
    // The request is an unsigned int; the upper half of the register is noise.
    let result = match u64::from(args.u32(1)) {
        libc::FIOCLEX => task.fds().set_cloexec(fd, true).map(|()| 0),
        libc::FIONCLEX => task.fds().set_cloexec(fd, false).map(|()| 0),
        libc::FIONBIO => {
            let on = task.mm().read_pod::<i32>(args.addr(2))? != 0;
            let flags = file.status_flags()? & !flags::bits(libc::O_NONBLOCK);
            let nonblock = if on { flags::bits(libc::O_NONBLOCK) } else { 0 };
            file.set_status_flags(flags | nonblock).map(|()| 0)
        }
        request => file.ioctl(task.caller(), request, args.u64(2)),
    };
    if result == Err(Errno::EINTR) {
        task.set_restart(crate::task::Restart::UnlessHandled);
    }
    result
}

/// Implements pipe2(2).
pub fn pipe2(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.int(1);
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (read_end, write_end) = new_pipe(flags & libc::O_NONBLOCK != 0);
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let limit = nofile(task);
    let read_fd = task.fds().install(read_end, cloexec, 0, limit)?;
    let write_fd = match task.fds().install(write_end, cloexec, 0, limit) {
        Ok(fd) => fd,
        Err(errno) => {
            let _ = task.fds().remove(read_fd);
            return Err(errno);
        }
    };
    let mut pair = [0u8; 8];
    pair[..4].copy_from_slice(&read_fd.to_le_bytes());
    pair[4..].copy_from_slice(&write_fd.to_le_bytes());
    if let Err(errno) = task.mm().copy_out(args.addr(0), &pair) {
        let _ = task.fds().remove(read_fd);
        let _ = task.fds().remove(write_fd);
        return Err(errno);
    }
    Ok(0)
}

/// Implements pipe(2).
pub fn pipe(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    pipe2(
        task,
        &SyscallArgs {
            number: args.number,
            args: [args.u64(0), 0, 0, 0, 0, 0],
        },
    )
}

/// Implements lseek(2).
pub fn lseek(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.fds().get(args.int(0))?.seek(args.long(1), args.int(2))
}
