//! Memory-management calls: brk, mmap, munmap, mprotect, mremap, madvise.

use nix::errno::Errno;

use crate::arch::{PAGE_SIZE, SyscallArgs, page_up};
use crate::errno::SyscallResult;
use crate::memory::{MapRequest, Prot, VmaKind};
use crate::task::Task;

/// mmap flags cordon accepts; the ones it does not act on are hints Linux
/// may ignore too (MAP_NORESERVE, MAP_POPULATE, MAP_STACK, …).
const KNOWN_MAP_FLAGS: i32 = libc::MAP_TYPE
    | libc::MAP_FIXED
    | libc::MAP_ANONYMOUS
    | libc::MAP_32BIT
    | libc::MAP_GROWSDOWN
    | libc::MAP_DENYWRITE
    | libc::MAP_EXECUTABLE
    | libc::MAP_LOCKED
    | libc::MAP_NORESERVE
    | libc::MAP_POPULATE
    | libc::MAP_NONBLOCK
    | libc::MAP_STACK
    | libc::MAP_HUGETLB
    | libc::MAP_SYNC
    | libc::MAP_FIXED_NOREPLACE
    | libc::MAP_HUGE_MASK << libc::MAP_HUGE_SHIFT;

/// Implements brk(2).
pub fn brk(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let limit = task.limit(libc::RLIMIT_DATA);
    Ok(task.mm().set_brk(args.u64(0), limit, task.space()))
}

/// Implements mmap(2) for anonymous memory and for files that can be
/// mapped (memfds).
pub fn mmap(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (addr, len, flags, offset) = (args.u64(0), args.u64(1), args.int(3), args.u64(5));
    let prot = Prot::from_user(args.u64(2)).ok_or(Errno::EINVAL)?;
    let shared = match flags & libc::MAP_TYPE {
        libc::MAP_SHARED => true,
        libc::MAP_PRIVATE => false,
        libc::MAP_SHARED_VALIDATE => {
            if flags & !KNOWN_MAP_FLAGS != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            true
        }
        _ => return Err(Errno::EINVAL),
    };
    if offset % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let req = MapRequest {
        addr,
        len,
        prot,
        shared,
        fixed: flags & libc::MAP_FIXED != 0,
        noreplace: flags & libc::MAP_FIXED_NOREPLACE != 0,
        growsdown: flags & libc::MAP_GROWSDOWN != 0,
        kind: VmaKind::Anonymous,
    };
    let limit = task.limit(libc::RLIMIT_AS);
    if flags & libc::MAP_ANONYMOUS == 0 {
        return map_file(task, req, args.int(4), offset, limit);
    }
    task.mm().map(req, limit, task.space())
}

/// mmap(2) of the file at `fd`, from `offset`: the file says which memory
/// backs it, or ENODEV (pipes, terminals and host files cannot be mapped).
fn map_file(task: &Task, req: MapRequest, fd: i32, offset: u64, limit: u64) -> SyscallResult {
    let file = task.fds().get(fd)?;
    if req.len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_up(req.len).ok_or(Errno::ENOMEM)?;
    if offset.checked_add(len).is_none_or(|end| end > i64::MAX as u64) {
        return Err(Errno::EOVERFLOW);
    }
    let pieces = file.mmap(offset, len, req.shared && req.prot.writable())?;
    task.mm().map_file(req, pieces, limit, task.space())
}

/// Implements munmap(2).
pub fn munmap(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.mm().unmap(args.u64(0), args.u64(1), task.space())?;
    Ok(0)
}

/// Implements mprotect(2). PROT_GROWSDOWN/PROT_GROWSUP are accepted and
/// apply to the given range only.
pub fn mprotect(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let grows = (libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) as u64;
    let prot = Prot::from_user(args.u64(2) & !grows).ok_or(Errno::EINVAL)?;
    task.mm().protect(args.u64(0), args.u64(1), prot, task.space())?;
    Ok(0)
}

/// Implements mremap(2).
pub fn mremap(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.mm().remap(
        args.u64(0),
        args.u64(1),
        args.u64(2),
        args.u64(3),
        args.u64(4),
        task.space(),
    )
}

/// Implements madvise(2).
pub fn madvise(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    task.mm().advise(args.u64(0), args.u64(1), args.int(2))?;
    Ok(0)
}
