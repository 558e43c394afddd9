//! eventfd(2): eventfd and eventfd2.

use std::sync::Arc;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::file::install;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::fsimpl::EventFd;

const EFD_SEMAPHORE: i32 = 1;

/// Implements eventfd2(2).
pub fn eventfd2(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (initial, flags) = (args.u32(0), args.int(1));
    if flags & !(libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | EFD_SEMAPHORE) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = EventFd::new(initial, flags & EFD_SEMAPHORE != 0, flags & libc::EFD_NONBLOCK != 0);
    install(task, Arc::new(file), flags & libc::EFD_CLOEXEC != 0)
}

/// Implements eventfd(2): eventfd2 without flags.
pub fn eventfd(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    install(task, Arc::new(EventFd::new(args.u32(0), false, false)), false)
}
