//! signalfd(2): signalfd and signalfd4.

use std::sync::Arc;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::file::install;
use super::int_result;
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::abi::signal::SigSet;
use crate::kernel::signalfd::SignalFd;

/// The kernel's sigset_t is 64 bits on x86-64.
const SIGSET_SIZE: u64 = 8;

/// Creates a signalfd (`fd` -1) or changes the mask of the one at `fd`.
fn signalfd_common(task: &TaskCtx, fd: i32, mask_addr: UserAddr, size: u64, flags: i32) -> SyscallResult {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask: SigSet = task.mm().read_pod(mask_addr)?;
    if flags & !(libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    if fd != -1 {
        let file = task.fds().get(fd)?;
        SignalFd::of(&*file).ok_or(Errno::EINVAL)?.set_mask(mask);
        return Ok(int_result(fd));
    }
    let file = SignalFd::new(
        task.kernel,
        task.tid(),
        task.pid(),
        mask,
        flags & libc::SFD_NONBLOCK != 0,
    );
    install(task, Arc::new(file), flags & libc::SFD_CLOEXEC != 0)
}

/// Implements signalfd4(2).
pub fn signalfd4(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    signalfd_common(task, args.int(0), args.addr(1), args.u64(2), args.int(3))
}

/// Implements signalfd(2): signalfd4 without flags.
pub fn signalfd(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    signalfd_common(task, args.int(0), args.addr(1), args.u64(2), 0)
}
