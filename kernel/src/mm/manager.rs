//! The memory manager of one address space: VMAs, brk, and the platform
//! mappings that mirror them.
//!
//! Lock order: a memory manager is used under its owner's lock
//! (`Arc<Mutex<MemoryManager>>`: `Task::mm`, a view's `mm`), which is taken
//! after the futex table's (`FutexTable::queues`) and may be taken under an
//! open file's `position` (/proc/PID/maps, cmdline, environ are generated
//! under it). Under it only the memory file's allocator
//! (`MemoryFile::allocator`: the ranges allocated, grown and freed here) is
//! taken, never the task set's lock, an fd table's or a file's: a file's
//! data is read before the mapping is locked (`syscalls::memory`).
//!
//! Every VMA is backed by one contiguous range of the memory file, mapped
//! eagerly into the platform address space (the file is sparse, so an
//! untouched page costs nothing). Adjacent VMAs with equal attributes form
//! what Linux would show as one mapping; operations that Linux limits to a
//! single VMA (mremap) accept such a run.

use std::collections::BTreeMap;
use std::sync::Arc;

use nix::errno::Errno;

use crate::abi::UserAddr;
use crate::abi::arch::{PAGE_SIZE, TASK_SIZE, page_down, page_up};
use crate::abi::pod::Pod;
use crate::memory::{MemoryFile, Prot};
use crate::platform::AddressSpace;

/// The lowest address an application may map (vm.mmap_min_addr).
pub const MMAP_MIN_ADDR: u64 = 0x10000;
/// The end of application addresses: the last page below TASK_SIZE belongs
/// to the platform (the ptrace stub's code page).
pub const USER_END: u64 = TASK_SIZE - PAGE_SIZE;
/// The gap kept free below a growing stack (Linux's stack_guard_gap).
const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// What a VMA holds, for diagnostics and `/proc/PID/maps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmaKind {
    Anonymous,
    /// The brk heap.
    Heap,
    /// The main thread's stack.
    Stack,
    /// A segment of the executable.
    Image,
    /// A mapping of a file (mmap with an fd).
    File,
}

/// The file range behind MAP_SHARED memory, which several VMAs (split
/// pieces, forked copies) may share; freed when the last one goes.
#[derive(Debug)]
pub struct SharedBacking {
    file: Arc<MemoryFile>,
    offset: u64,
    len: u64,
}

impl SharedBacking {
    /// A new range of `len` bytes (a page multiple) of the memory file,
    /// freed when the last holder drops it.
    pub fn allocate(file: &Arc<MemoryFile>, len: u64) -> Result<Arc<SharedBacking>, Errno> {
        let offset = file.allocate(len)?;
        Ok(Arc::new(SharedBacking {
            file: Arc::clone(file),
            offset,
            len,
        }))
    }

    /// Where the range starts in the memory file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many bytes it holds.
    pub fn size(&self) -> u64 {
        self.len
    }
}

/// A piece of a shared file mapping: `len` bytes of `backing` from memory
/// file offset `offset`.
#[derive(Debug, Clone)]
pub struct SharedPiece {
    pub backing: Arc<SharedBacking>,
    pub offset: u64,
    pub len: u64,
}

impl Drop for SharedBacking {
    fn drop(&mut self) {
        self.file.free(self.offset, self.len);
    }
}

#[derive(Debug, Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    /// MAP_SHARED: fork shares the pages instead of copying them.
    pub shared: bool,
    /// MAP_GROWSDOWN: a fault just below extends it.
    pub growsdown: bool,
    pub kind: VmaKind,
    /// Memory-file offset backing `start`.
    pub offset: u64,
    /// Owner of the file range of a shared VMA; private VMAs own theirs.
    backing: Option<Arc<SharedBacking>>,
}

impl Vma {
    fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether `next` continues this VMA as part of one Linux mapping.
    fn same_mapping(&self, next: &Vma) -> bool {
        self.end == next.start
            && self.prot == next.prot
            && self.shared == next.shared
            && self.growsdown == next.growsdown
            && self.kind == next.kind
    }

    /// Whether `next` can be merged into this VMA: same mapping and
    /// contiguous file ranges.
    fn mergeable(&self, next: &Vma) -> bool {
        let same_backing = match (&self.backing, &next.backing) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        self.same_mapping(next) && same_backing && self.offset + self.len() == next.offset
    }
}

/// An mmap(2) request for anonymous memory, already decoded.
#[derive(Debug, Clone, Copy)]
pub struct MapRequest {
    /// A hint, or the exact address with `fixed`/`noreplace`.
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
    pub shared: bool,
    /// MAP_FIXED: replace whatever is mapped there.
    pub fixed: bool,
    /// MAP_FIXED_NOREPLACE: exactly there, or EEXIST.
    pub noreplace: bool,
    pub growsdown: bool,
    pub kind: VmaKind,
}

impl MapRequest {
    /// A private read-write anonymous mapping of `len` bytes at exactly `addr`.
    pub fn fixed(addr: u64, len: u64, prot: Prot, kind: VmaKind) -> Self {
        MapRequest {
            addr,
            len,
            prot,
            shared: false,
            fixed: true,
            noreplace: false,
            growsdown: false,
            kind,
        }
    }
}

/// Which access the kernel makes to user memory on the application's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    /// The kernel itself, whatever the protection.
    Kernel,
}

pub struct MemoryManager {
    file: Arc<MemoryFile>,
    /// Keyed by start address; never overlapping.
    vmas: BTreeMap<u64, Vma>,
    /// Sum of VMA lengths, checked against RLIMIT_AS.
    mapped: u64,
    brk_start: u64,
    brk: u64,
    /// Top of the area searched downward for mappings without an address.
    mmap_base: u64,
    /// VMAs taken out of the map whose pages the platform failed to unmap.
    /// The application may still reach those pages, so their file ranges
    /// stay allocated (leaked rather than handed to another address space)
    /// until the manager goes, as every VMA's do: by then no application
    /// code runs in this address space.
    stranded: Vec<Vma>,
    /// Set when the platform failed to unmap, or to put protections back
    /// after a failed mprotect: its mappings may differ from the VMAs, and
    /// the address space must not run again.
    broken: bool,
    /// Whether the process may be inspected by its own user (Linux keeps
    /// it in the mm's flags: PR_SET_DUMPABLE, cleared when an execve or a
    /// change of ids gives the process more than its user has).
    dumpable: bool,
}

impl MemoryManager {
    pub fn new(file: Arc<MemoryFile>) -> Self {
        MemoryManager {
            file,
            vmas: BTreeMap::new(),
            mapped: 0,
            brk_start: 0,
            brk: 0,
            mmap_base: USER_END,
            stranded: Vec::new(),
            broken: false,
            dumpable: true,
        }
    }

    pub fn dumpable(&self) -> bool {
        self.dumpable
    }

    pub fn set_dumpable(&mut self, dumpable: bool) {
        self.dumpable = dumpable;
    }

    /// Whether the platform failed to make its mappings match the VMAs.
    /// Such an address space is dead: the task layer kills every task that
    /// would switch into it, before it runs application code again.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn set_mmap_base(&mut self, base: u64) {
        self.mmap_base = page_down(base);
    }

    /// Places the program break (the loader calls this after the image).
    pub fn set_brk_start(&mut self, addr: u64) {
        self.brk_start = addr;
        self.brk = addr;
    }

    pub fn vmas(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.values()
    }

    /// Where mmap(2) without an address would put `len` bytes, without
    /// mapping them. The loader places an ELF interpreter's span there, as
    /// Linux's load_elf_interp() maps its first segment.
    pub fn unmapped_area(&self, len: u64) -> Result<u64, Errno> {
        let len = page_up(len).filter(|&len| len > 0).ok_or(Errno::ENOMEM)?;
        self.find_free(0, len).ok_or(Errno::ENOMEM)
    }

    /// Picks the address of a new mapping of `len` bytes (page-rounded) and
    /// takes out the VMAs a MAP_FIXED replaces, which it returns: their
    /// pages are still mapped in the platform and allocated, until the
    /// caller maps over them (then frees them) or unmaps them.
    /// `address_limit` is RLIMIT_AS.
    fn place(&mut self, req: &MapRequest, len: u64, address_limit: u64) -> Result<(u64, Vec<Vma>), Errno> {
        if self.mapped.saturating_add(len) > address_limit {
            return Err(Errno::ENOMEM);
        }
        let addr = if req.fixed || req.noreplace {
            if req.addr % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
            let end = req
                .addr
                .checked_add(len)
                .filter(|&end| end <= USER_END)
                .ok_or(Errno::ENOMEM)?;
            if req.addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            if req.noreplace && self.overlaps(req.addr, end) {
                return Err(Errno::EEXIST);
            }
            req.addr
        } else {
            self.find_free(page_down(req.addr), len).ok_or(Errno::ENOMEM)?
        };
        // A MAP_FIXED over existing memory replaces it; the platform mapping
        // that follows replaces the host pages in one step.
        Ok((addr, self.take_range(addr, addr + len)))
    }

    /// mmap(2) of anonymous memory. `address_limit` is RLIMIT_AS.
    pub fn map(&mut self, req: MapRequest, address_limit: u64, space: &dyn AddressSpace) -> Result<u64, Errno> {
        if req.len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(req.len).ok_or(Errno::ENOMEM)?;
        let (addr, replaced) = self.place(&req, len, address_limit)?;
        let offset = match self.file.allocate(len) {
            Ok(offset) => offset,
            Err(errno) => {
                // A failure to unmap leaves the manager broken; the caller
                // hears of the failed mmap.
                let _ = self.unmap_and_release(addr, addr + len, replaced, space);
                return Err(errno);
            }
        };
        let backing = req.shared.then(|| {
            Arc::new(SharedBacking {
                file: Arc::clone(&self.file),
                offset,
                len,
            })
        });
        let vma = Vma {
            start: addr,
            end: addr + len,
            prot: req.prot,
            shared: req.shared,
            growsdown: req.growsdown,
            kind: req.kind,
            offset,
            backing,
        };
        if let Err(err) = space.map(addr, len, req.prot, offset) {
            tracing::warn!(%err, addr, len, "platform mapping failed");
            // A failed mmap may have left old pages mapped, or new ones.
            let mut gone = replaced;
            gone.push(vma);
            let _ = self.unmap_and_release(addr, addr + len, gone, space);
            return Err(Errno::ENOMEM);
        }
        self.release_all(replaced);
        self.insert(vma);
        Ok(addr)
    }

    /// mmap(2) with MAP_SHARED of a file whose pages live in the memory
    /// file: `pieces` cover the mapping in order, and every process mapping
    /// them sees the same pages as the file's reads and writes.
    pub fn map_shared(
        &mut self,
        req: MapRequest,
        pieces: Vec<SharedPiece>,
        address_limit: u64,
        space: &dyn AddressSpace,
    ) -> Result<u64, Errno> {
        let len: u64 = pieces.iter().map(|piece| piece.len).sum();
        if len == 0 || pieces.iter().any(|piece| piece.len % PAGE_SIZE != 0) {
            return Err(Errno::EINVAL);
        }
        let (addr, replaced) = self.place(&req, len, address_limit)?;
        let mut at = addr;
        for piece in pieces {
            let vma = Vma {
                start: at,
                end: at + piece.len,
                prot: req.prot,
                shared: true,
                growsdown: false,
                kind: VmaKind::File,
                offset: piece.offset,
                backing: Some(piece.backing),
            };
            if let Err(err) = space.map(at, piece.len, req.prot, piece.offset) {
                tracing::warn!(%err, addr = at, len = piece.len, "platform mapping failed");
                let mut gone = self.take_range(addr, at);
                gone.push(vma);
                gone.extend(replaced);
                let _ = self.unmap_and_release(addr, addr + len, gone, space);
                return Err(Errno::ENOMEM);
            }
            self.insert(vma);
            at += piece.len;
        }
        self.release_all(replaced);
        Ok(addr)
    }

    /// mmap(2) with MAP_PRIVATE of a file whose pages live in the memory
    /// file (a memfd): a copy of `pieces` taken now (there is no
    /// copy-on-write, so later writes to the file do not show through, which
    /// Linux leaves unspecified). Holes stay holes.
    pub fn map_copy(
        &mut self,
        req: MapRequest,
        pieces: &[SharedPiece],
        address_limit: u64,
        space: &dyn AddressSpace,
    ) -> Result<u64, Errno> {
        let len: u64 = pieces.iter().map(|piece| piece.len).sum();
        let addr = self.map(MapRequest { len, ..req }, address_limit, space)?;
        let offset = self.vma_containing(addr).expect("just mapped").offset;
        let mut at = offset;
        for piece in pieces {
            self.file.copy_data(piece.offset, at, piece.len);
            at += piece.len;
        }
        Ok(addr)
    }

    /// Reads `buf.len()` bytes at `addr` whatever the protection of the
    /// pages (a tracer's PTRACE_PEEKDATA, /proc/PID/mem: Linux's
    /// FOLL_FORCE). The range must be mapped.
    pub fn peek(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0usize;
        self.for_each_piece(addr, buf.len() as u64, Access::Kernel, |offset, len| {
            self.file.read(offset, &mut buf[done..done + len as usize]);
            done += len as usize;
        })
    }

    /// Writes `data` at `addr` whatever the protection of the pages (the
    /// kernel filling a private file mapping, a tracer's POKEDATA). The
    /// range must be mapped.
    pub fn fill(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let mut done = 0usize;
        self.for_each_piece(addr, data.len() as u64, Access::Kernel, |offset, len| {
            self.file.write(offset, &data[done..done + len as usize]);
            done += len as usize;
        })
    }

    /// munmap(2).
    pub fn unmap(&mut self, addr: u64, len: u64, space: &dyn AddressSpace) -> Result<(), Errno> {
        if addr % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len)
            .and_then(|len| addr.checked_add(len))
            .filter(|&end| end <= TASK_SIZE)
            .ok_or(Errno::EINVAL)?;
        let end = end.min(USER_END);
        if addr >= end {
            return Ok(());
        }
        let removed = self.take_range(addr, end);
        if removed.is_empty() {
            return Ok(());
        }
        self.unmap_and_release(addr, end, removed, space)
    }

    /// mprotect(2). The platform changes first, the VMAs once it has; a
    /// platform call that failed is undone.
    pub fn protect(&mut self, addr: u64, len: u64, prot: Prot, space: &dyn AddressSpace) -> Result<(), Errno> {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_up(len)
            .and_then(|len| addr.checked_add(len))
            .ok_or(Errno::ENOMEM)?;
        if !self.covered(addr, end) {
            return Err(Errno::ENOMEM);
        }
        if let Err(err) = space.protect(addr, end - addr, prot) {
            tracing::warn!(%err, addr, len, "platform mprotect failed");
            self.restore_protection(addr, end, space);
            return Err(Errno::ENOMEM);
        }
        self.split_at(addr);
        self.split_at(end);
        let starts: Vec<u64> = self.vmas.range(addr..end).map(|(&start, _)| start).collect();
        for start in &starts {
            self.vmas.get_mut(start).expect("VMA listed above").prot = prot;
        }
        // Merging a VMA into the one before it, or the next one into it,
        // removes that one from the map.
        for start in starts {
            if self.vmas.contains_key(&start) {
                self.merge_around(start);
            }
        }
        Ok(())
    }

    /// Gives the platform's pages in `[start, end)` their VMAs' protection
    /// again, after a platform mprotect that failed, perhaps part way (as
    /// Linux's may). If that fails too, the manager is broken.
    fn restore_protection(&mut self, start: u64, end: u64, space: &dyn AddressSpace) {
        let pieces: Vec<(u64, u64, Prot)> = self
            .vmas
            .range(..end)
            .rev()
            .take_while(|(_, vma)| vma.end > start)
            .map(|(_, vma)| (vma.start.max(start), vma.end.min(end), vma.prot))
            .collect();
        for (from, to, prot) in pieces {
            if let Err(err) = space.protect(from, to - from, prot) {
                tracing::error!(
                    %err,
                    addr = from,
                    len = to - from,
                    "cannot undo a failed platform mprotect: the address space is lost"
                );
                self.broken = true;
                return;
            }
        }
    }

    /// brk(2): returns the new break, or the old one if it cannot move.
    /// `data_limit` is RLIMIT_DATA.
    pub fn set_brk(&mut self, addr: u64, data_limit: u64, space: &dyn AddressSpace) -> u64 {
        if addr < self.brk_start {
            return self.brk;
        }
        let Some(new_end) = page_up(addr) else { return self.brk };
        let old_end = page_up(self.brk).expect("brk is below USER_END");
        if new_end > old_end {
            if addr - self.brk_start > data_limit
                || new_end > self.mmap_base.min(USER_END)
                || self.overlaps(old_end, new_end)
            {
                return self.brk;
            }
            let grown = self.extend_last(old_end, new_end, VmaKind::Heap, Prot::READ_WRITE, space);
            if grown.is_err() {
                let req = MapRequest::fixed(old_end, new_end - old_end, Prot::READ_WRITE, VmaKind::Heap);
                if self.map(req, u64::MAX, space).is_err() {
                    return self.brk;
                }
            }
        } else if new_end < old_end {
            let _ = self.unmap(new_end, old_end - new_end, space);
        }
        self.brk = addr;
        addr
    }

    /// mremap(2) of anonymous memory.
    pub fn remap(
        &mut self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
        space: &dyn AddressSpace,
    ) -> Result<u64, Errno> {
        let known = (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP) as u64;
        let may_move = flags & libc::MREMAP_MAYMOVE as u64 != 0;
        let fixed = flags & libc::MREMAP_FIXED as u64 != 0;
        let dont_unmap = flags & libc::MREMAP_DONTUNMAP as u64 != 0;
        if flags & !known != 0 || old_addr % PAGE_SIZE != 0 || ((fixed || dont_unmap) && !may_move) {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        // old_len == 0 duplicates a shared mapping on Linux; that needs
        // shared file mappings, which arrive with the filesystems.
        if new_len == 0 || old_len == 0 || (dont_unmap && old_len != new_len) {
            return Err(Errno::EINVAL);
        }
        let old_end = old_addr.checked_add(old_len).ok_or(Errno::EFAULT)?;
        if !self.one_mapping(old_addr, old_end) {
            return Err(Errno::EFAULT);
        }
        if fixed {
            if new_addr % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
            let new_end = new_addr
                .checked_add(new_len)
                .filter(|&end| end <= USER_END)
                .ok_or(Errno::EINVAL)?;
            if new_addr < old_end && old_addr < new_end {
                return Err(Errno::EINVAL);
            }
            self.unmap(new_addr, new_len, space)?;
            return self.move_mapping(old_addr, old_len, new_addr, new_len, dont_unmap, space);
        }
        if new_len <= old_len && !dont_unmap {
            if new_len < old_len {
                self.unmap(old_addr + new_len, old_len - new_len, space)?;
            }
            return Ok(old_addr);
        }
        if !dont_unmap {
            let grow_end = old_addr.checked_add(new_len).filter(|&end| end <= USER_END);
            if let Some(grow_end) = grow_end {
                if !self.overlaps(old_end, grow_end) {
                    self.grow_in_place(old_end, grow_end, space)?;
                    return Ok(old_addr);
                }
            }
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let dest = self.find_free(0, new_len).ok_or(Errno::ENOMEM)?;
        self.move_mapping(old_addr, old_len, dest, new_len, dont_unmap, space)
    }

    /// madvise(2).
    pub fn advise(&mut self, addr: u64, len: u64, advice: i32) -> Result<(), Errno> {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let discards = match advice {
            libc::MADV_DONTNEED | libc::MADV_FREE => true,
            libc::MADV_NORMAL
            | libc::MADV_RANDOM
            | libc::MADV_SEQUENTIAL
            | libc::MADV_WILLNEED
            | libc::MADV_DONTFORK
            | libc::MADV_DOFORK
            | libc::MADV_MERGEABLE
            | libc::MADV_UNMERGEABLE
            | libc::MADV_HUGEPAGE
            | libc::MADV_NOHUGEPAGE
            | libc::MADV_DONTDUMP
            | libc::MADV_DODUMP
            | libc::MADV_COLD
            | libc::MADV_PAGEOUT => false,
            _ => return Err(Errno::EINVAL),
        };
        if len == 0 {
            return Ok(());
        }
        let end = page_up(len)
            .and_then(|len| addr.checked_add(len))
            .ok_or(Errno::EINVAL)?;
        if !self.covered(addr, end) {
            return Err(Errno::ENOMEM);
        }
        if discards {
            // Private anonymous pages read as zero afterwards; shared ones
            // keep their contents, as shmem does on Linux. MADV_FREE may
            // discard at any time, so discarding now is a valid choice.
            for vma in self
                .vmas
                .range(..end)
                .map(|(_, vma)| vma)
                .filter(|vma| vma.end > addr && !vma.shared)
            {
                let from = vma.start.max(addr);
                let to = vma.end.min(end);
                self.file.decommit(vma.offset + (from - vma.start), to - from);
            }
        }
        Ok(())
    }

    /// Extends a MAP_GROWSDOWN mapping down to cover `addr`, as a page fault
    /// just below it would on Linux. `stack_limit` is RLIMIT_STACK.
    pub fn grow_down(&mut self, addr: u64, stack_limit: u64, space: &dyn AddressSpace) -> bool {
        let Some(above) = self.vmas.range(addr..).next().map(|(_, vma)| vma.clone()) else {
            return false;
        };
        if !above.growsdown || addr < MMAP_MIN_ADDR {
            return false;
        }
        let new_start = page_down(addr);
        let below_end = self.vmas.range(..above.start).next_back().map_or(0, |(_, vma)| vma.end);
        if new_start < below_end.saturating_add(STACK_GUARD_GAP) {
            return false;
        }
        let mut top = above.end;
        while let Some(next) = self.vmas.get(&top).filter(|next| next.growsdown) {
            top = next.end;
        }
        if top - new_start > stack_limit {
            return false;
        }
        let req = MapRequest {
            growsdown: true,
            ..MapRequest::fixed(new_start, above.start - new_start, above.prot, above.kind)
        };
        self.map(req, u64::MAX, space).is_ok()
    }

    /// The memory of a forked child: private VMAs copied into new file
    /// ranges (only the pages that hold data), shared ones shared.
    pub fn fork_copy(&self) -> Result<ForkedMemory, Errno> {
        let mut forked = ForkedMemory {
            file: Arc::clone(&self.file),
            vmas: Vec::with_capacity(self.vmas.len()),
            brk_start: self.brk_start,
            brk: self.brk,
            mmap_base: self.mmap_base,
            dumpable: self.dumpable,
        };
        for vma in self.vmas.values() {
            if vma.backing.is_some() {
                forked.vmas.push(vma.clone());
                continue;
            }
            // On failure, `forked` frees what it already holds.
            let offset = self.file.allocate(vma.len())?;
            self.file.copy_data(vma.offset, offset, vma.len());
            forked.vmas.push(Vma { offset, ..vma.clone() });
        }
        Ok(forked)
    }

    /// A child's memory manager over a new platform address space.
    pub fn from_fork(file: Arc<MemoryFile>, space: &dyn AddressSpace, mut forked: ForkedMemory) -> Result<Self, Errno> {
        let mut mm = MemoryManager::new(file);
        mm.brk_start = forked.brk_start;
        mm.brk = forked.brk;
        mm.mmap_base = forked.mmap_base;
        mm.dumpable = forked.dumpable;
        for vma in std::mem::take(&mut forked.vmas) {
            if let Err(err) = space.map(vma.start, vma.len(), vma.prot, vma.offset) {
                tracing::warn!(%err, "platform mapping failed in a forked child");
                mm.release(&vma);
                return Err(Errno::ENOMEM);
            }
            mm.mapped += vma.len();
            mm.vmas.insert(vma.start, vma);
        }
        Ok(mm)
    }

    /// Copies bytes from application memory, as copy_from_user does.
    pub fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        self.for_each_piece(addr.get(), buf.len() as u64, Access::Read, |offset, len| {
            self.file.read(offset, &mut buf[done..done + len as usize]);
            done += len as usize;
        })
    }

    /// Copies bytes into application memory, as copy_to_user does.
    pub fn copy_out(&self, addr: UserAddr, buf: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        self.for_each_piece(addr.get(), buf.len() as u64, Access::Write, |offset, len| {
            self.file.write(offset, &buf[done..done + len as usize]);
            done += len as usize;
        })
    }

    /// Zeroes application memory.
    pub fn zero_out(&self, addr: UserAddr, len: u64) -> Result<(), Errno> {
        self.for_each_piece(addr.get(), len, Access::Write, |offset, len| {
            self.file.zero(offset, len)
        })
    }

    pub fn read_pod<T: Pod>(&self, addr: UserAddr) -> Result<T, Errno> {
        let mut buf = vec![0u8; std::mem::size_of::<T>()];
        self.copy_in(addr, &mut buf)?;
        Ok(T::from_bytes(&buf))
    }

    pub fn write_pod<T: Pod>(&self, addr: UserAddr, value: &T) -> Result<(), Errno> {
        self.copy_out(addr, value.as_bytes())
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the
    /// NUL); ENAMETOOLONG past that.
    pub fn read_cstring(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let chunk = (PAGE_SIZE - at.get() % PAGE_SIZE) as usize;
            let mut buf = vec![0u8; chunk];
            self.copy_in(at, &mut buf)?;
            if let Some(nul) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return if out.len() > max {
                    Err(Errno::ENAMETOOLONG)
                } else {
                    Ok(out)
                };
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at = at + chunk as u64;
        }
    }

    /// Reads a NUL-terminated string, keeping at most `max` bytes of it
    /// (PR_SET_NAME truncates rather than fails).
    pub fn read_cstring_prefix(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        for i in 0..max as u64 {
            let mut byte = [0u8];
            self.copy_in(addr + i, &mut byte)?;
            if byte[0] == 0 {
                break;
            }
            out.push(byte[0]);
        }
        Ok(out)
    }

    /// The key of the futex word at `addr`: its offset in the memory file
    /// (see crate::sync::futex). The word must be readable and 4-byte aligned.
    pub fn futex_key(&self, addr: UserAddr) -> Result<u64, Errno> {
        let addr = addr.get();
        if addr % 4 != 0 {
            return Err(Errno::EINVAL);
        }
        let vma = self
            .vma_containing(addr)
            .filter(|vma| vma.prot.readable())
            .ok_or(Errno::EFAULT)?;
        Ok(vma.offset + (addr - vma.start))
    }

    /// Atomically replaces the u32 at `addr` with `update(old)` and returns
    /// the old value (FUTEX_WAKE_OP).
    pub fn atomic_update_u32(&self, addr: UserAddr, update: impl Fn(u32) -> u32) -> Result<u32, Errno> {
        let addr = addr.get();
        if addr % 4 != 0 {
            return Err(Errno::EINVAL);
        }
        let vma = self
            .vma_containing(addr)
            .filter(|vma| vma.prot.writable())
            .ok_or(Errno::EFAULT)?;
        Ok(self.file.atomic_update_u32(vma.offset + (addr - vma.start), update))
    }

    /// Checks that `[addr, addr + len)` is mapped for the access, without
    /// touching it: EFAULT before a read consumes data it cannot store.
    pub fn check(&self, addr: UserAddr, len: u64, for_write: bool) -> Result<(), Errno> {
        let access = if for_write { Access::Write } else { Access::Read };
        self.for_each_piece(addr.get(), len, access, |_, _| {})
    }

    /// Calls `f(file_offset, len)` for each VMA piece of `[addr, addr+len)`,
    /// after checking that all of it is mapped with `access`.
    fn for_each_piece(&self, addr: u64, len: u64, access: Access, mut f: impl FnMut(u64, u64)) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
        let mut pieces = Vec::new();
        let mut at = addr;
        while at < end {
            let vma = self.vma_containing(at).ok_or(Errno::EFAULT)?;
            let allowed = match access {
                Access::Read => vma.prot.readable(),
                Access::Write => vma.prot.writable(),
                Access::Kernel => true,
            };
            if !allowed {
                return Err(Errno::EFAULT);
            }
            let piece_end = vma.end.min(end);
            pieces.push((vma.offset + (at - vma.start), piece_end - at));
            at = piece_end;
        }
        for (offset, len) in pieces {
            f(offset, len);
        }
        Ok(())
    }

    /// Whether every page of `[addr, addr + len)` is mapped (any protection).
    pub fn is_mapped(&self, addr: UserAddr, len: u64) -> bool {
        self.for_each_piece(addr.get(), len, Access::Kernel, |_, _| {}).is_ok()
    }

    fn vma_containing(&self, addr: u64) -> Option<&Vma> {
        self.vmas
            .range(..=addr)
            .next_back()
            .map(|(_, vma)| vma)
            .filter(|vma| addr < vma.end)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .next_back()
            .is_some_and(|(_, vma)| vma.end > start)
    }

    /// Whether `[start, end)` is mapped without a hole.
    fn covered(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.vma_containing(at) {
                Some(vma) => at = vma.end,
                None => return false,
            }
        }
        true
    }

    /// Whether `[start, end)` lies within one Linux mapping (a run of VMAs
    /// with the same attributes and no hole).
    fn one_mapping(&self, start: u64, end: u64) -> bool {
        let Some(mut current) = self.vma_containing(start) else {
            return false;
        };
        while current.end < end {
            match self.vmas.get(&current.end) {
                Some(next) if current.same_mapping(next) => current = next,
                _ => return false,
            }
        }
        true
    }

    /// Splits the VMA containing `addr` (strictly inside) in two.
    fn split_at(&mut self, addr: u64) {
        let Some(vma) = self.vma_containing(addr).cloned() else {
            return;
        };
        if vma.start == addr {
            return;
        }
        let upper = Vma {
            start: addr,
            offset: vma.offset + (addr - vma.start),
            ..vma.clone()
        };
        self.vmas.get_mut(&vma.start).expect("VMA found above").end = addr;
        self.vmas.insert(addr, upper);
    }

    /// Removes the VMAs within `[start, end)`, splitting those that cross
    /// its edges, and returns them. Their file ranges are still allocated.
    fn take_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        self.split_at(start);
        self.split_at(end);
        let starts: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        let removed: Vec<Vma> = starts
            .iter()
            .map(|s| self.vmas.remove(s).expect("VMA listed above"))
            .collect();
        self.mapped -= removed.iter().map(Vma::len).sum::<u64>();
        removed
    }

    /// Frees the file range of a VMA taken out of the map. A shared VMA's
    /// range goes when the last VMA holding its backing is dropped.
    fn release(&self, vma: &Vma) {
        if vma.backing.is_none() {
            self.file.free(vma.offset, vma.len());
        }
    }

    fn insert(&mut self, vma: Vma) {
        let start = vma.start;
        self.mapped += vma.len();
        self.vmas.insert(start, vma);
        self.merge_around(start);
    }

    /// Merges the VMA at `start` with the one before it and with those
    /// after it, where possible.
    fn merge_around(&mut self, start: u64) {
        let mut start = start;
        if let Some((&prev_start, prev)) = self.vmas.range(..start).next_back() {
            if prev.mergeable(&self.vmas[&start]) {
                let end = self.vmas.remove(&start).expect("VMA exists").end;
                self.vmas.get_mut(&prev_start).expect("VMA exists").end = end;
                start = prev_start;
            }
        }
        loop {
            let current = &self.vmas[&start];
            let Some(next) = self.vmas.get(&current.end).filter(|next| current.mergeable(next)) else {
                return;
            };
            let (next_start, next_end) = (next.start, next.end);
            self.vmas.remove(&next_start);
            self.vmas.get_mut(&start).expect("VMA exists").end = next_end;
        }
    }

    /// Grows the VMA ending at `old_end` to `new_end` by extending its file
    /// range in place. Fails (changing nothing) when the file range after it
    /// is taken or there is no such private VMA of `kind` and `prot`: a
    /// shared VMA's range belongs to its backing, which cannot grow.
    fn extend_last(
        &mut self,
        old_end: u64,
        new_end: u64,
        kind: VmaKind,
        prot: Prot,
        space: &dyn AddressSpace,
    ) -> Result<(), Errno> {
        let Some(last) = self
            .vma_containing(old_end - 1)
            .filter(|vma| vma.end == old_end && vma.kind == kind && vma.prot == prot && vma.backing.is_none())
            .cloned()
        else {
            return Err(Errno::ENOMEM);
        };
        if !self.file.try_extend(last.offset, last.len(), new_end - last.start) {
            return Err(Errno::ENOMEM);
        }
        let added = new_end - old_end;
        if let Err(err) = space.map(old_end, added, last.prot, last.offset + last.len()) {
            tracing::warn!(%err, "platform mapping failed");
            self.file.free(last.offset + last.len(), added);
            return Err(Errno::ENOMEM);
        }
        self.vmas.get_mut(&last.start).expect("VMA found above").end = new_end;
        self.mapped += added;
        self.merge_around(last.start);
        Ok(())
    }

    /// Grows the mapping ending at `old_end` into the free `[old_end, new_end)`.
    fn grow_in_place(&mut self, old_end: u64, new_end: u64, space: &dyn AddressSpace) -> Result<(), Errno> {
        let last = self
            .vma_containing(old_end - 1)
            .cloned()
            .expect("checked by one_mapping");
        if self.extend_last(old_end, new_end, last.kind, last.prot, space).is_ok() {
            return Ok(());
        }
        let req = MapRequest {
            shared: last.shared,
            growsdown: last.growsdown,
            ..MapRequest::fixed(old_end, new_end - old_end, last.prot, last.kind)
        };
        self.map(req, u64::MAX, space).map(|_| ())
    }

    /// Moves the mapping at `[old, old+old_len)` to `dest` with `new_len`,
    /// keeping its pages (no copy: the file ranges are mapped again).
    fn move_mapping(
        &mut self,
        old: u64,
        old_len: u64,
        dest: u64,
        new_len: u64,
        dont_unmap: bool,
        space: &dyn AddressSpace,
    ) -> Result<u64, Errno> {
        let pieces = self.take_range(old, old + old_len);
        let template = pieces[0].clone();
        let mut placed = 0;
        // What a shrinking move leaves behind, freed once the platform no
        // longer maps it at `old`.
        let mut cut = Vec::new();
        for piece in pieces {
            let keep = piece.len().min(new_len.saturating_sub(placed));
            if keep > 0 {
                let moved = Vma {
                    start: dest + placed,
                    end: dest + placed + keep,
                    ..piece.clone()
                };
                if let Err(err) = space.map(moved.start, keep, moved.prot, moved.offset) {
                    tracing::warn!(%err, "platform mapping failed");
                }
                self.insert(moved);
            }
            if keep < piece.len() {
                cut.push(Vma {
                    start: piece.start + keep,
                    offset: piece.offset + keep,
                    ..piece
                });
            }
            placed += keep;
        }
        // The pages moved are mapped at `old` too until the platform mapping
        // there is replaced or removed, whether or not growing succeeds.
        let grown = if placed < new_len {
            self.grow_in_place(dest + placed, dest + new_len, space)
        } else {
            Ok(())
        };
        if dont_unmap {
            // The old range stays mapped, with fresh zero pages; nothing was
            // cut, the lengths being equal.
            let req = MapRequest {
                shared: template.shared,
                ..MapRequest::fixed(old, old_len, template.prot, template.kind)
            };
            self.map(req, u64::MAX, space)?;
        } else {
            self.unmap_and_release(old, old + old_len, cut, space)?;
        }
        grown.map(|()| dest)
    }

    /// Removes `[start, end)` from the platform, then frees the file ranges
    /// of `removed`, VMAs already taken out of the map there. If the
    /// platform cannot unmap, the application may still reach their pages:
    /// they are kept (`stranded`), the manager is broken, and the error is
    /// ENOMEM.
    fn unmap_and_release(
        &mut self,
        start: u64,
        end: u64,
        removed: Vec<Vma>,
        space: &dyn AddressSpace,
    ) -> Result<(), Errno> {
        if let Err(err) = space.unmap(start, end - start) {
            tracing::error!(
                %err,
                addr = start,
                len = end - start,
                "platform munmap failed: the address space is lost"
            );
            self.stranded.extend(removed);
            self.broken = true;
            return Err(Errno::ENOMEM);
        }
        self.release_all(removed);
        Ok(())
    }

    /// Frees the file ranges of VMAs taken out of the map, which the
    /// platform no longer maps.
    fn release_all(&self, removed: Vec<Vma>) {
        for vma in removed {
            self.release(&vma);
        }
    }

    /// Finds room for `len` bytes: at `hint` if it is free, else the highest
    /// gap below `mmap_base`, else any gap.
    fn find_free(&self, hint: u64, len: u64) -> Option<u64> {
        if hint != 0 {
            let hint = hint.max(MMAP_MIN_ADDR);
            if let Some(end) = hint.checked_add(len).filter(|&end| end <= USER_END) {
                if !self.overlaps(hint, end) {
                    return Some(hint);
                }
            }
        }
        let mut gaps = Vec::new();
        let mut at = MMAP_MIN_ADDR;
        for vma in self.vmas.values() {
            if vma.start > at {
                gaps.push((at, vma.start));
            }
            at = at.max(vma.end);
        }
        if at < USER_END {
            gaps.push((at, USER_END));
        }
        let below_base = gaps.iter().rev().find_map(|&(start, end)| {
            let end = end.min(self.mmap_base);
            (end >= start && end - start >= len).then(|| end - len)
        });
        below_base.or_else(|| {
            gaps.iter()
                .find(|&&(start, end)| end - start >= len)
                .map(|&(start, _)| start)
        })
    }
}

/// A parent's memory, copied for a child that has no address space yet.
pub struct ForkedMemory {
    file: Arc<MemoryFile>,
    vmas: Vec<Vma>,
    brk_start: u64,
    brk: u64,
    mmap_base: u64,
    dumpable: bool,
}

impl Drop for ForkedMemory {
    /// Frees the copies if the child never took them.
    fn drop(&mut self) {
        for vma in self.vmas.iter().filter(|vma| vma.backing.is_none()) {
            self.file.free(vma.offset, vma.len());
        }
    }
}

impl Drop for MemoryManager {
    fn drop(&mut self) {
        for vma in self.vmas.values().chain(&self.stranded) {
            self.release(vma);
        }
    }
}

#[cfg(test)]
mod consistency;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::NoSpace;

    static SPACE: NoSpace = NoSpace;

    fn manager() -> MemoryManager {
        let file = Arc::new(MemoryFile::new().expect("memfd"));
        let mut mm = MemoryManager::new(file);
        mm.set_mmap_base(0x7000_0000_0000);
        mm
    }

    const P: u64 = PAGE_SIZE;

    fn anon(len: u64) -> MapRequest {
        MapRequest {
            fixed: false,
            ..MapRequest::fixed(0, len, Prot::READ_WRITE, VmaKind::Anonymous)
        }
    }

    #[test]
    fn mappings_go_top_down_below_the_base() {
        let mut mm = manager();
        let a = mm.map(anon(P), u64::MAX, &SPACE).unwrap();
        let b = mm.map(anon(2 * P), u64::MAX, &SPACE).unwrap();
        assert_eq!(a, 0x7000_0000_0000 - P);
        assert_eq!(b, a - 2 * P);
    }

    #[test]
    fn munmap_in_the_middle_splits_and_copy_sees_holes() {
        let mut mm = manager();
        let a = mm.map(anon(3 * P), u64::MAX, &SPACE).unwrap();
        mm.copy_out(UserAddr::new(a + 2 * P), b"tail").unwrap();
        mm.unmap(a + P, P, &SPACE).unwrap();
        assert_eq!(mm.vmas().count(), 2);
        assert_eq!(mm.copy_out(UserAddr::new(a + P), b"x"), Err(Errno::EFAULT));
        let mut buf = [0u8; 4];
        mm.copy_in(UserAddr::new(a + 2 * P), &mut buf).unwrap();
        assert_eq!(&buf, b"tail");
    }

    #[test]
    fn unmapped_area_is_where_mmap_would_go() {
        let mut mm = manager();
        let a = mm.map(anon(P), u64::MAX, &SPACE).unwrap();
        let area = mm.unmapped_area(3 * P + 1).unwrap();
        assert_eq!(area, a - 4 * P);
        assert_eq!(mm.vmas().count(), 1, "nothing was mapped");
        assert_eq!(mm.unmapped_area(0), Err(Errno::ENOMEM));
    }

    #[test]
    fn fixed_noreplace_refuses_occupied_ranges() {
        let mut mm = manager();
        let a = mm.map(anon(P), u64::MAX, &SPACE).unwrap();
        let req = MapRequest {
            noreplace: true,
            fixed: false,
            ..MapRequest::fixed(a, P, Prot::READ, VmaKind::Anonymous)
        };
        assert_eq!(mm.map(req, u64::MAX, &SPACE), Err(Errno::EEXIST));
    }

    #[test]
    fn mprotect_read_only_blocks_kernel_writes_and_merges_back() {
        let mut mm = manager();
        let a = mm.map(anon(2 * P), u64::MAX, &SPACE).unwrap();
        mm.protect(a, P, Prot::READ, &SPACE).unwrap();
        assert_eq!(mm.copy_out(UserAddr::new(a), b"x"), Err(Errno::EFAULT));
        mm.copy_out(UserAddr::new(a + P), b"x").unwrap();
        mm.protect(a, P, Prot::READ_WRITE, &SPACE).unwrap();
        assert_eq!(mm.vmas().count(), 1);
        assert_eq!(mm.protect(a + 4 * P, P, Prot::READ, &SPACE), Err(Errno::ENOMEM));
    }

    #[test]
    fn mprotect_across_several_vmas_merges_them() {
        let mut mm = manager();
        let a = mm.map(anon(4 * P), u64::MAX, &SPACE).unwrap();
        mm.protect(a + P, 2 * P, Prot::READ, &SPACE).unwrap();
        assert_eq!(mm.vmas().count(), 3);
        // The first VMA swallows the second, which was still to be merged,
        // and then the one after the range.
        mm.protect(a, 3 * P, Prot::READ_WRITE, &SPACE).unwrap();
        assert_eq!(mm.vmas().count(), 1);
        assert_eq!(mm.vmas().next().map(|vma| (vma.start, vma.end)), Some((a, a + 4 * P)));
    }

    #[test]
    fn mremap_grows_and_moves_keeping_contents() {
        let mut mm = manager();
        let a = mm.map(anon(P), u64::MAX, &SPACE).unwrap();
        mm.copy_out(UserAddr::new(a), b"keep").unwrap();
        // Something right after `a` forces the move.
        let blocker = MapRequest {
            noreplace: true,
            fixed: false,
            ..MapRequest::fixed(a + P, P, Prot::READ, VmaKind::Anonymous)
        };
        mm.map(blocker, u64::MAX, &SPACE).unwrap();
        assert_eq!(mm.remap(a, P, 4 * P, 0, 0, &SPACE), Err(Errno::ENOMEM));
        let b = mm.remap(a, P, 4 * P, libc::MREMAP_MAYMOVE as u64, 0, &SPACE).unwrap();
        assert_ne!(a, b);
        let mut buf = [0u8; 4];
        mm.copy_in(UserAddr::new(b), &mut buf).unwrap();
        assert_eq!(&buf, b"keep");
        assert_eq!(mm.copy_in(UserAddr::new(a), &mut buf), Err(Errno::EFAULT));
        assert_eq!(mm.remap(b, 4 * P, P, 0, 0, &SPACE), Ok(b));
        assert_eq!(mm.copy_in(UserAddr::new(b + P), &mut buf), Err(Errno::EFAULT));
    }

    #[test]
    fn brk_grows_shrinks_and_respects_the_data_limit() {
        let mut mm = manager();
        mm.set_brk_start(0x40_0000);
        assert_eq!(mm.set_brk(0, u64::MAX, &SPACE), 0x40_0000);
        assert_eq!(mm.set_brk(0x40_3000, u64::MAX, &SPACE), 0x40_3000);
        mm.copy_out(UserAddr::new(0x40_2000), b"heap").unwrap();
        assert_eq!(mm.set_brk(0x40_5000, u64::MAX, &SPACE), 0x40_5000);
        assert_eq!(mm.vmas().count(), 1, "heap growth extends one VMA");
        assert_eq!(mm.set_brk(0x40_1000, u64::MAX, &SPACE), 0x40_1000);
        assert_eq!(mm.copy_out(UserAddr::new(0x40_2000), b"x"), Err(Errno::EFAULT));
        assert_eq!(mm.set_brk(0x50_0000, 0x1000, &SPACE), 0x40_1000);
    }

    #[test]
    fn brk_grows_read_write_whatever_the_top_of_the_heap_became() {
        let mut mm = manager();
        mm.set_brk_start(0x40_0000);
        mm.set_brk(0x40_2000, u64::MAX, &SPACE);
        mm.protect(0x40_1000, P, Prot::NONE, &SPACE).unwrap();
        assert_eq!(mm.set_brk(0x40_3000, u64::MAX, &SPACE), 0x40_3000);
        mm.copy_out(UserAddr::new(0x40_2000), b"new").unwrap();
        assert_eq!(mm.copy_out(UserAddr::new(0x40_1000), b"x"), Err(Errno::EFAULT));
    }

    #[test]
    fn mremap_grows_a_shared_mapping_without_leaking() {
        let mut mm = manager();
        let req = MapRequest {
            shared: true,
            ..anon(P)
        };
        let a = mm.map(req, u64::MAX, &SPACE).unwrap();
        assert_eq!(mm.remap(a, P, 3 * P, 0, 0, &SPACE), Ok(a));
        mm.copy_out(UserAddr::new(a + 2 * P), b"grown").unwrap();
        let file = Arc::clone(&mm.file);
        drop(mm);
        assert_eq!(file.allocate(1 << 30), Ok(0), "every page was freed");
    }

    #[test]
    fn dontneed_zeroes_private_pages() {
        let mut mm = manager();
        let a = mm.map(anon(P), u64::MAX, &SPACE).unwrap();
        mm.copy_out(UserAddr::new(a), b"gone").unwrap();
        mm.advise(a, P, libc::MADV_DONTNEED).unwrap();
        let mut buf = [1u8; 4];
        mm.copy_in(UserAddr::new(a), &mut buf).unwrap();
        assert_eq!(buf, [0; 4]);
        assert_eq!(mm.advise(a, P, 9999), Err(Errno::EINVAL));
    }

    #[test]
    fn growsdown_extends_within_the_limit() {
        let mut mm = manager();
        let top = 0x7100_0000_0000;
        let req = MapRequest {
            growsdown: true,
            ..MapRequest::fixed(top - P, P, Prot::READ_WRITE, VmaKind::Stack)
        };
        mm.map(req, u64::MAX, &SPACE).unwrap();
        assert!(mm.grow_down(top - 3 * P + 8, 8 << 20, &SPACE));
        mm.copy_out(UserAddr::new(top - 3 * P), b"s").unwrap();
        assert!(!mm.grow_down(top - (16 << 20), 8 << 20, &SPACE));
    }

    #[test]
    fn file_mappings_share_or_copy_their_pieces() {
        let mut mm = manager();
        let file = Arc::clone(&mm.file);
        let backing = SharedBacking::allocate(&file, 2 * P).unwrap();
        file.write(backing.offset() + P, b"file");
        let piece = SharedPiece {
            offset: backing.offset() + P,
            backing: Arc::clone(&backing),
            len: P,
        };
        let shared_req = MapRequest {
            shared: true,
            ..anon(P)
        };
        let shared = mm
            .map_shared(shared_req, vec![piece.clone()], u64::MAX, &SPACE)
            .unwrap();
        let private = mm.map_copy(anon(P), &[piece], u64::MAX, &SPACE).unwrap();
        mm.copy_out(UserAddr::new(shared), b"F").unwrap();
        mm.copy_out(UserAddr::new(private + 1), b"X").unwrap();
        let mut buf = [0u8; 4];
        file.read(backing.offset() + P, &mut buf);
        assert_eq!(&buf, b"File", "the shared mapping is the file");
        mm.copy_in(UserAddr::new(private), &mut buf).unwrap();
        assert_eq!(&buf, b"fXle", "the private mapping is a copy");
        drop(mm);
        assert_eq!(Arc::strong_count(&backing), 1, "unmapping lets go of the file's memory");
    }

    #[test]
    fn cstrings_stop_at_nul_and_limit() {
        let mut mm = manager();
        let a = mm.map(anon(P), u64::MAX, &SPACE).unwrap();
        mm.copy_out(UserAddr::new(a), b"/proc/self/exe\0").unwrap();
        assert_eq!(mm.read_cstring(UserAddr::new(a), 4096).unwrap(), b"/proc/self/exe");
        assert_eq!(mm.read_cstring(UserAddr::new(a), 3), Err(Errno::ENAMETOOLONG));
    }
}
