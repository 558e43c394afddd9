//! read(2), write(2) and their vector and positional forms.

use nix::errno::Errno;

use super::MAX_RW_COUNT;
use crate::arch::SyscallArgs;
use crate::errno::SyscallResult;
use crate::task::Task;

/// Linux's UIO_MAXIOV.
const IOV_MAX: u64 = 1024;

/// Which way data moves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From the file into application memory.
    Read,
    /// From application memory into the file.
    Write,
}

/// Host iovecs for a single user buffer.
fn buffer_iovecs(task: &Task, addr: u64, len: u64, direction: Direction) -> Result<Vec<libc::iovec>, Errno> {
    let mut iovecs = Vec::new();
    task.mm
        .host_iovecs(addr, len.min(MAX_RW_COUNT), direction == Direction::Read, &mut iovecs)?;
    Ok(iovecs)
}

/// Host iovecs for a user iovec array, as readv(2) and writev(2) take it.
fn vector_iovecs(task: &Task, iov: u64, count: u64, direction: Direction) -> Result<Vec<libc::iovec>, Errno> {
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; count as usize * 16];
    task.mm.copy_in(iov, &mut raw)?;
    let mut iovecs = Vec::new();
    let mut total: u64 = 0;
    for pair in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(pair[..8].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(pair[8..].try_into().expect("8 bytes"));
        if (len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        // The total is cut at MAX_RW_COUNT, as Linux does.
        let take = len.min(MAX_RW_COUNT - total);
        task.mm
            .host_iovecs(base, take, direction == Direction::Read, &mut iovecs)?;
        total += take;
    }
    Ok(iovecs)
}

fn transfer(task: &Task, fd: i32, iovecs: &[libc::iovec], offset: Option<u64>, direction: Direction) -> SyscallResult {
    let file = task.fds.get(fd)?;
    let done = match direction {
        Direction::Read => file.read(iovecs, offset)?,
        Direction::Write => file.write(iovecs, offset)?,
    };
    Ok(done as u64)
}

fn offset_arg(args: &SyscallArgs, i: usize) -> Result<Option<u64>, Errno> {
    if (args.u64(i) as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(args.u64(i)))
}

/// Implements read(2).
pub fn read(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.fds.get(args.int(0))?;
    let iovecs = buffer_iovecs(task, args.u64(1), args.u64(2), Direction::Read)?;
    transfer(task, args.int(0), &iovecs, None, Direction::Read)
}

/// Implements write(2).
pub fn write(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.fds.get(args.int(0))?;
    let iovecs = buffer_iovecs(task, args.u64(1), args.u64(2), Direction::Write)?;
    transfer(task, args.int(0), &iovecs, None, Direction::Write)
}

/// Implements readv(2).
pub fn readv(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.fds.get(args.int(0))?;
    let iovecs = vector_iovecs(task, args.u64(1), args.u64(2), Direction::Read)?;
    transfer(task, args.int(0), &iovecs, None, Direction::Read)
}

/// Implements writev(2).
pub fn writev(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.fds.get(args.int(0))?;
    let iovecs = vector_iovecs(task, args.u64(1), args.u64(2), Direction::Write)?;
    transfer(task, args.int(0), &iovecs, None, Direction::Write)
}

/// Implements pread64(2).
pub fn pread64(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.fds.get(args.int(0))?;
    let offset = offset_arg(args, 3)?;
    let iovecs = buffer_iovecs(task, args.u64(1), args.u64(2), Direction::Read)?;
    transfer(task, args.int(0), &iovecs, offset, Direction::Read)
}

/// Implements pwrite64(2).
pub fn pwrite64(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.fds.get(args.int(0))?;
    let offset = offset_arg(args, 3)?;
    let iovecs = buffer_iovecs(task, args.u64(1), args.u64(2), Direction::Write)?;
    transfer(task, args.int(0), &iovecs, offset, Direction::Write)
}
