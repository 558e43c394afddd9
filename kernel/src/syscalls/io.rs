//! read(2), write(2) and their vector and positional forms.

use nix::errno::Errno;

use super::context::TaskCtx;
use super::{MAX_RW_COUNT, buffer_len};
use crate::abi::UserAddr;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;
use crate::abi::signal::SigInfo;
use crate::task::Restart;

/// Linux's UIO_MAXIOV.
const IOV_MAX: usize = 1024;

/// Which way data moves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From the file into application memory.
    Read,
    /// From application memory into the file.
    Write,
}

/// The user buffers of a readv/writev iovec array, as (address, length).
pub(super) fn vector_ranges(task: &TaskCtx, iov: UserAddr, count: usize) -> Result<Vec<(UserAddr, u64)>, Errno> {
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; count * 16];
    task.mm().copy_in(iov, &mut raw)?;
    let mut ranges = Vec::with_capacity(count);
    let mut total: u64 = 0;
    for pair in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(pair[..8].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(pair[8..].try_into().expect("8 bytes"));
        // Linux reads iov_len as an ssize_t: one with the top bit set is
        // negative, EINVAL.
        if i64::try_from(len).is_err() {
            return Err(Errno::EINVAL);
        }
        // The total is cut at MAX_RW_COUNT, as Linux does.
        let take = len.min(MAX_RW_COUNT - total);
        ranges.push((UserAddr::new(base), take));
        total += take;
    }
    Ok(ranges)
}

/// One read or write moves at most this much through a kernel buffer; a
/// larger request transfers less, as Linux may for any file but a regular
/// one.
const MAX_BOUNCE: usize = 64 << 20;

/// Moves data between the file at `fd` and the user buffers `ranges`.
/// A write to a pipe without readers also raises SIGPIPE, as Linux does.
fn transfer(
    task: &mut TaskCtx,
    fd: i32,
    ranges: &[(UserAddr, u64)],
    offset: Option<u64>,
    direction: Direction,
) -> SyscallResult {
    let file = task.fds().get(fd)?;
    let mut budget = MAX_BOUNCE;
    let ranges: Vec<(UserAddr, usize)> = ranges
        .iter()
        .map(|&(addr, len)| {
            let take = buffer_len(len, budget);
            budget -= take;
            (addr, take)
        })
        .filter(|&(_, len)| len > 0)
        .collect();
    let total: usize = ranges.iter().map(|&(_, len)| len).sum();
    let result = match direction {
        Direction::Read => {
            for &(addr, len) in &ranges {
                task.mm().check(addr, usize_to_u64(len), true)?;
            }
            let mut buf = vec![0u8; total];
            let done = file.read(task.caller(), &mut buf, offset);
            if let Ok(done) = done {
                scatter(task, &ranges, &buf[..done])?;
            }
            done
        }
        Direction::Write => {
            let mut data = Vec::with_capacity(total);
            for &(addr, len) in &ranges {
                let start = data.len();
                data.resize(start + len, 0);
                task.mm().copy_in(addr, &mut data[start..])?;
            }
            file.write(task.caller(), &data, offset)
        }
    };
    match result {
        Ok(done) => Ok(usize_to_u64(done)),
        Err(Errno::EPIPE) if direction == Direction::Write => {
            let _ = task.tasks().send(task.pid(), SigInfo::from_kernel(libc::SIGPIPE));
            Err(Errno::EPIPE)
        }
        Err(Errno::EINTR) => {
            task.set_restart(Restart::UnlessHandled);
            Err(Errno::EINTR)
        }
        Err(errno) => Err(errno),
    }
}

/// Copies `data` into the user buffers `ranges`, in order.
fn scatter(task: &TaskCtx, ranges: &[(UserAddr, usize)], data: &[u8]) -> Result<(), Errno> {
    let mut done = 0;
    for &(addr, len) in ranges {
        if done == data.len() {
            break;
        }
        let take = len.min(data.len() - done);
        task.mm().copy_out(addr, &data[done..done + take])?;
        done += take;
    }
    Ok(())
}

/// A positional call's offset, a loff_t: negative is EINVAL.
fn offset_arg(args: &SyscallArgs, i: usize) -> Result<Option<u64>, Errno> {
    let offset = u64::try_from(args.long(i)).map_err(|_| Errno::EINVAL)?;
    Ok(Some(offset))
}

/// Implements read(2).
pub fn read(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let range = (args.addr(1), args.u64(2).min(MAX_RW_COUNT));
    transfer(task, args.int(0), &[range], None, Direction::Read)
}

/// Implements write(2).
pub fn write(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let range = (args.addr(1), args.u64(2).min(MAX_RW_COUNT));
    transfer(task, args.int(0), &[range], None, Direction::Write)
}

/// Implements readv(2).
pub fn readv(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.fds().get(args.int(0))?;
    let ranges = vector_ranges(task, args.addr(1), args.size(2))?;
    transfer(task, args.int(0), &ranges, None, Direction::Read)
}

/// Implements writev(2).
pub fn writev(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.fds().get(args.int(0))?;
    let ranges = vector_ranges(task, args.addr(1), args.size(2))?;
    transfer(task, args.int(0), &ranges, None, Direction::Write)
}

/// Implements pread64(2).
pub fn pread64(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.fds().get(args.int(0))?;
    let offset = offset_arg(args, 3)?;
    let range = (args.addr(1), args.u64(2).min(MAX_RW_COUNT));
    transfer(task, args.int(0), &[range], offset, Direction::Read)
}

/// Implements pwrite64(2).
pub fn pwrite64(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.fds().get(args.int(0))?;
    let offset = offset_arg(args, 3)?;
    let range = (args.addr(1), args.u64(2).min(MAX_RW_COUNT));
    transfer(task, args.int(0), &[range], offset, Direction::Write)
}
