//! Memory-management calls: brk, mmap, munmap, mprotect, mremap, madvise.

use nix::errno::Errno;

use super::buffer_len;
use super::context::TaskCtx;
use crate::abi::UserAddr;
use crate::abi::arch::{PAGE_SIZE, SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;
use crate::abi::flags;
use crate::memory::Prot;
use crate::mm::{MapRequest, VmaKind};

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

/// The largest MAP_SHARED mapping of a file: its pages come out of the
/// 1 TiB memory file, which the whole sandbox shares.
const MAX_SHARED_FILE_MAPPING: u64 = 64 << 30;

/// Implements brk(2).
pub fn brk(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let limit = task.limit(libc::RLIMIT_DATA);
    Ok(task.mm().set_brk(args.u64(0), limit, task.space()))
}

/// Implements mmap(2): anonymous memory, private mappings of any file with
/// data (a copy taken at mmap time), and shared mappings of files whose
/// pages live in sandbox memory (tmpfs, the overlay's copies); a shared
/// mapping of a host file is copied up first.
pub fn mmap(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
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
    let mut req = MapRequest {
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
    if flags & libc::MAP_ANONYMOUS != 0 {
        return task.mm().map(req, limit, task.space());
    }
    let file = task.fds().get(args.int(4))?;
    let access = flags::access_mode(file.status_flags()?);
    if access == libc::O_WRONLY || (shared && prot.writable() && access != libc::O_RDWR) {
        return Err(Errno::EACCES);
    }
    let Some(location) = file.location().cloned() else {
        return map_unnamed_file(task, req, &file, offset, limit);
    };
    let st = location.stat()?;
    if prot.contains(Prot::EXEC) && location.mount.flags.noexec {
        return Err(Errno::EPERM);
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {}
        // /dev/zero maps as anonymous memory.
        libc::S_IFCHR if st.st_rdev == libc::makedev(1, 5) => return task.mm().map(req, limit, task.space()),
        _ => return Err(Errno::ENODEV),
    }
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(Errno::ENOMEM)?;
    req.kind = VmaKind::File;
    if shared {
        // The file's pages for the whole range are made before the mapping
        // is: bound it first (RLIMIT_AS, and what the memory file can hold).
        if len > limit.min(MAX_SHARED_FILE_MAPPING) {
            return Err(Errno::ENOMEM);
        }
        if offset.checked_add(len).is_none_or(|end| end > i64::MAX as u64) {
            return Err(Errno::EOVERFLOW);
        }
        let pieces = location.inode().shared_pages(offset, len)?;
        return task.mm().map_shared(req, pieces, limit, task.space());
    }
    let addr = task.mm().map(req, limit, task.space())?;
    // Copy the file's bytes in; past its end the mapping reads zeros.
    let size = st.size();
    let mut at = 0u64;
    let mut buf = vec![0u8; buffer_len(len, 1 << 20)];
    while at < len && offset + at < size {
        let want = buffer_len((len - at).min(size - offset - at), buf.len());
        let n = match location.inode().read_at(task.caller(), &mut buf[..want], offset + at) {
            Ok(0) => break,
            Ok(n) => n,
            Err(errno) => {
                let _ = task.mm().unmap(addr, len, task.space());
                return Err(errno);
            }
        };
        task.mm().fill(addr + at, &buf[..n])?;
        at += usize_to_u64(n);
    }
    Ok(addr)
}

/// mmap(2) of a file with no name whose memory it keeps itself (a memfd):
/// the file says which pieces of the memory file back `[offset, offset +
/// len)`, or ENODEV (pipes, terminals, sockets).
fn map_unnamed_file(
    task: &TaskCtx,
    mut req: MapRequest,
    file: &std::sync::Arc<dyn crate::vfs::File>,
    offset: u64,
    limit: u64,
) -> SyscallResult {
    if req.len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = req.len.checked_next_multiple_of(PAGE_SIZE).ok_or(Errno::ENOMEM)?;
    if offset.checked_add(len).is_none_or(|end| end > i64::MAX as u64) {
        return Err(Errno::EOVERFLOW);
    }
    let pieces = file.mmap(offset, len, req.shared && req.prot.writable())?;
    req.kind = VmaKind::File;
    if req.shared {
        task.mm().map_shared(req, pieces, limit, task.space())
    } else {
        task.mm().map_copy(req, &pieces, limit, task.space())
    }
}

/// Implements munmap(2).
pub fn munmap(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.mm().unmap(args.u64(0), args.u64(1), task.space())?;
    Ok(0)
}

/// Implements mprotect(2). PROT_GROWSDOWN/PROT_GROWSUP are accepted and
/// apply to the given range only.
pub fn mprotect(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let grows = (libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) as u64;
    let prot = Prot::from_user(args.u64(2) & !grows).ok_or(Errno::EINVAL)?;
    task.mm().protect(args.u64(0), args.u64(1), prot, task.space())?;
    Ok(0)
}

/// Implements mremap(2).
pub fn mremap(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
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
pub fn madvise(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    task.mm().advise(args.u64(0), args.u64(1), args.int(2))?;
    Ok(0)
}

/// Implements msync(2): shared file mappings are the file's own pages, so
/// there is nothing to write back; the range must be mapped (ENOMEM).
pub fn msync(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (addr, len, flags) = (args.u64(0), args.u64(1), args.int(2));
    let known = libc::MS_ASYNC | libc::MS_SYNC | libc::MS_INVALIDATE;
    if addr % PAGE_SIZE != 0 || flags & !known != 0 || flags & libc::MS_ASYNC != 0 && flags & libc::MS_SYNC != 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(Errno::ENOMEM)?;
    if !task.mm().is_mapped(UserAddr::new(addr), len) {
        return Err(Errno::ENOMEM);
    }
    Ok(0)
}

/// Implements mincore(2): cordon does not track residency, so every page of
/// a mapped range is reported resident.
pub fn mincore(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (addr, len, vec) = (args.u64(0), args.u64(1), args.addr(2));
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(Errno::ENOMEM)?;
    if !task.mm().is_mapped(UserAddr::new(addr), len) {
        return Err(Errno::ENOMEM);
    }
    let count = usize::try_from(len / PAGE_SIZE).map_err(|_| Errno::ENOMEM)?;
    let pages = vec![1u8; count];
    task.mm().copy_out(vec, &pages)?;
    Ok(0)
}
