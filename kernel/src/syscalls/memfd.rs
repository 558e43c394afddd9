//! memfd_create(2).

use std::sync::Arc;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::file::install;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::fsimpl::Memfd;

const MFD_CLOEXEC: u32 = 0x1;
const MFD_ALLOW_SEALING: u32 = 0x2;
/// NAME_MAX less the "memfd:" prefix.
const MAX_NAME: usize = 249;

/// Implements memfd_create(2). MFD_HUGETLB (and the MFD_EXEC flags Linux
/// 6.3 added) are EINVAL.
pub fn memfd_create(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.u32(1);
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = task.mm().read_cstring(args.addr(0), MAX_NAME).map_err(|errno| {
        if errno == Errno::ENAMETOOLONG {
            Errno::EINVAL
        } else {
            errno
        }
    })?;
    let file = Memfd::new(
        Arc::clone(&task.core().memory_file),
        String::from_utf8_lossy(&name).into_owned(),
        flags & MFD_ALLOW_SEALING != 0,
        task.credentials().fsuid,
        task.credentials().fsgid,
    );
    install(task, Arc::new(file), flags & MFD_CLOEXEC != 0)
}
