//! Moving data between two files inside the kernel: sendfile,
//! copy_file_range, splice; and fadvise64, which only checks its arguments.

use std::sync::Arc;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::{MAX_RW_COUNT, buffer_len};
use crate::abi::UserAddr;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;
use crate::abi::flags;
use crate::task::Restart;
use crate::vfs::File;

/// The bounce buffer between the two files.
const CHUNK: usize = 128 << 10;

/// Where one side of a transfer reads or writes: at a position the caller
/// keeps (an offset pointer), or at the file's own position.
#[derive(Clone, Copy)]
enum Position {
    Own,
    At(u64),
}

/// Copies up to `count` bytes from `input` to `output`. Stops early at end
/// of input, or when a side would block after something was moved.
/// Returns the bytes moved and the positions after them.
fn copy(
    task: &mut TaskCtx,
    input: &Arc<dyn File>,
    mut from: Position,
    output: &Arc<dyn File>,
    mut to: Position,
    count: u64,
) -> Result<(u64, Position, Position), Errno> {
    let mut done = 0u64;
    let mut buf = vec![0u8; buffer_len(count, CHUNK)];
    while done < count {
        let want = buffer_len(count - done, buf.len());
        let offset = match from {
            Position::Own => None,
            Position::At(at) => Some(at),
        };
        let n = match input.read(task.caller(), &mut buf[..want], offset) {
            Ok(n) => n,
            Err(errno) if done > 0 && matches!(errno, Errno::EAGAIN | Errno::EINTR) => break,
            Err(errno) => return Err(errno),
        };
        if n == 0 {
            break;
        }
        let offset = match to {
            Position::Own => None,
            Position::At(at) => Some(at),
        };
        let written = match output.write(task.caller(), &buf[..n], offset) {
            Ok(written) => written,
            Err(errno) if done > 0 && matches!(errno, Errno::EAGAIN | Errno::EINTR) => break,
            Err(Errno::EPIPE) => {
                let _ = task
                    .tasks()
                    .send(task.pid(), crate::abi::signal::SigInfo::from_kernel(libc::SIGPIPE));
                return Err(Errno::EPIPE);
            }
            Err(errno) => return Err(errno),
        };
        if let Position::At(at) = &mut from {
            *at += usize_to_u64(written);
        }
        if let Position::At(at) = &mut to {
            *at += usize_to_u64(written);
        }
        done += usize_to_u64(written);
        if written < n {
            // The input gave more than the output took: put the input back
            // where the output stopped, for files with a position.
            if let Position::Own = from {
                let back = i64::try_from(n - written).expect("at most CHUNK");
                let _ = input.seek(-back, libc::SEEK_CUR);
            }
            break;
        }
        if n < want {
            break;
        }
    }
    Ok((done, from, to))
}

/// Reads an optional loff_t* argument.
fn read_offset(task: &TaskCtx, addr: UserAddr) -> Result<Position, Errno> {
    if addr.is_null() {
        return Ok(Position::Own);
    }
    let offset = task.mm().read_pod::<i64>(addr)?;
    let offset = u64::try_from(offset).map_err(|_| Errno::EINVAL)?;
    Ok(Position::At(offset))
}

fn write_offset(task: &TaskCtx, addr: UserAddr, position: Position) -> Result<(), Errno> {
    match position {
        // A position past the largest loff_t cannot be stored back:
        // EOVERFLOW, copy_file_range(2)'s errno for a range too large for
        // its types (Linux finds it before copying).
        Position::At(at) if !addr.is_null() => {
            let at = i64::try_from(at).map_err(|_| Errno::EOVERFLOW)?;
            task.mm().write_pod(addr, &at)
        }
        _ => Ok(()),
    }
}

fn readable(file: &Arc<dyn File>) -> Result<(), Errno> {
    match flags::access_mode(file.status_flags()?) {
        libc::O_WRONLY => Err(Errno::EBADF),
        _ => Ok(()),
    }
}

fn writable(file: &Arc<dyn File>) -> Result<(), Errno> {
    match flags::access_mode(file.status_flags()?) {
        libc::O_RDONLY => Err(Errno::EBADF),
        _ => Ok(()),
    }
}

fn finish(task: &mut TaskCtx, result: Result<u64, Errno>) -> SyscallResult {
    if result == Err(Errno::EINTR) {
        task.set_restart(Restart::UnlessHandled);
    }
    result
}

/// Implements sendfile(2): from a file with data (the offset pointer, or
/// its position) to any writable file.
pub fn sendfile(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let output = task.fds().get(args.int(0))?;
    let input = task.fds().get(args.int(1))?;
    readable(&input)?;
    writable(&output)?;
    // Linux refuses an input without data pages and an O_APPEND output.
    if input.location().is_none() || output.status_flags()? & flags::bits(libc::O_APPEND) != 0 {
        return Err(Errno::EINVAL);
    }
    let from = read_offset(task, args.addr(2))?;
    let count = args.u64(3).min(MAX_RW_COUNT);
    let result = copy(task, &input, from, &output, Position::Own, count);
    let result = result.and_then(|(done, from, _)| write_offset(task, args.addr(2), from).map(|()| done));
    finish(task, result)
}

/// Implements copy_file_range(2) between two files with data (no flags).
pub fn copy_file_range(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    if args.u32(5) != 0 {
        return Err(Errno::EINVAL);
    }
    let input = task.fds().get(args.int(0))?;
    let output = task.fds().get(args.int(2))?;
    readable(&input)?;
    writable(&output)?;
    if output.status_flags()? & flags::bits(libc::O_APPEND) != 0 {
        return Err(Errno::EBADF);
    }
    let (Some(in_location), Some(out_location)) = (input.location(), output.location()) else {
        return Err(Errno::EINVAL);
    };
    for location in [in_location, out_location] {
        match location.stat()?.st_mode & libc::S_IFMT {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
    }
    copy_with_offsets(task, &input, &output, args)
}

/// The common end of copy_file_range and splice, whose arguments are laid
/// out alike: (fd_in, off_in*, fd_out, off_out*, len, flags).
fn copy_with_offsets(
    task: &mut TaskCtx,
    input: &Arc<dyn File>,
    output: &Arc<dyn File>,
    args: &SyscallArgs,
) -> SyscallResult {
    let from = read_offset(task, args.addr(1))?;
    let to = read_offset(task, args.addr(3))?;
    let count = args.u64(4).min(MAX_RW_COUNT);
    let result = copy(task, input, from, output, to, count).and_then(|(done, from, to)| {
        write_offset(task, args.addr(1), from)?;
        write_offset(task, args.addr(3), to)?;
        Ok(done)
    });
    finish(task, result)
}

/// Implements splice(2) as a copy: one side must be a pipe, as on Linux;
/// the data is moved through a kernel buffer rather than by page.
pub fn splice(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let known = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MORE | libc::SPLICE_F_GIFT;
    if args.u32(5) & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let input = task.fds().get(args.int(0))?;
    let output = task.fds().get(args.int(2))?;
    readable(&input)?;
    writable(&output)?;
    let (in_pipe, out_pipe) = (input.pipe_size().is_ok(), output.pipe_size().is_ok());
    if !in_pipe && !out_pipe {
        return Err(Errno::EINVAL);
    }
    if (in_pipe && args.u64(1) != 0) || (out_pipe && args.u64(3) != 0) {
        return Err(Errno::ESPIPE);
    }
    copy_with_offsets(task, &input, &output, args)
}

/// Implements fadvise64(2): the advice is checked and then has nothing to
/// act on (file data is in memory or read on demand).
pub fn fadvise64(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let file = task.fds().get(args.int(0))?;
    if file.pipe_size().is_ok() {
        return Err(Errno::ESPIPE);
    }
    if !(libc::POSIX_FADV_NORMAL..=libc::POSIX_FADV_NOREUSE).contains(&args.int(3)) || args.long(2) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}
