//! The memory file: one memfd holding every page of application memory.
//!
//! The kernel maps the whole file once into its own address space and copies
//! to and from the application through that mapping; stubs map ranges of the
//! same file at application addresses. The file is sparse: a range costs
//! memory only once it is touched, and freeing a range punches a hole.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;

use crate::abi::arch::PAGE_SIZE;

/// Virtual size of the memory file: the most application memory (resident
/// or reserved) a sandbox can address at once.
const FILE_SIZE: u64 = 1 << 40;

#[derive(Debug)]
pub struct MemoryFile {
    fd: OwnedFd,
    /// The kernel's mapping of the whole file.
    base: *mut u8,
    /// Guards the allocation map of file ranges.
    allocator: Mutex<RangeAllocator>,
}

// SAFETY: `base` points at a MAP_SHARED mapping that lives as long as the
// MemoryFile; concurrent access to application memory through it is the
// same as the application's own threads racing, and the allocator is
// behind a mutex.
unsafe impl Send for MemoryFile {}
// SAFETY: as for Send.
unsafe impl Sync for MemoryFile {}

impl MemoryFile {
    pub fn new() -> std::io::Result<MemoryFile> {
        let fd = nix::sys::memfd::memfd_create(c"cordon-memory", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
        nix::unistd::ftruncate(&fd, FILE_SIZE as i64)?;
        // SAFETY: a fresh shared mapping of our own memfd, at an address the
        // host picks; nothing else is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                FILE_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // Stubs are forked from this process and unmap everything at once;
        // not copying this mapping's page tables makes the fork cheaper.
        // SAFETY: advice on the mapping just made.
        unsafe { libc::madvise(base, FILE_SIZE as usize, libc::MADV_DONTFORK) };
        Ok(MemoryFile {
            fd,
            base: base.cast(),
            allocator: Mutex::new(RangeAllocator::new(FILE_SIZE)),
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Bytes of the file backed by memory: what applications use, since
    /// freed ranges are punched out.
    pub fn resident_bytes(&self) -> u64 {
        nix::sys::stat::fstat(&self.fd).map_or(0, |stat| u64::try_from(stat.st_blocks).unwrap_or(0) * 512)
    }

    /// Reserves `len` bytes (a page multiple) of the file; they read as zero.
    pub fn allocate(&self, len: u64) -> Result<u64, Errno> {
        self.allocator
            .lock()
            .expect("memory file allocator poisoned")
            .allocate(len)
            .ok_or(Errno::ENOMEM)
    }

    /// Grows the allocation at `offset` from `old_len` to `new_len` in place,
    /// if the file range right after it is free.
    pub fn try_extend(&self, offset: u64, old_len: u64, new_len: u64) -> bool {
        self.allocator
            .lock()
            .expect("memory file allocator poisoned")
            .try_extend(offset + old_len, new_len - old_len)
    }

    /// Releases a range: its memory goes back to the host and the range may
    /// be handed out again.
    pub fn free(&self, offset: u64, len: u64) {
        self.decommit(offset, len);
        self.allocator
            .lock()
            .expect("memory file allocator poisoned")
            .free(offset, len);
    }

    /// Drops the pages of a range; it stays allocated and reads as zero.
    pub fn decommit(&self, offset: u64, len: u64) {
        let mode = nix::fcntl::FallocateFlags::FALLOC_FL_PUNCH_HOLE | nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE;
        if let Err(err) = nix::fcntl::fallocate(self.fd.as_fd(), mode, offset as i64, len as i64) {
            tracing::warn!(offset, len, %err, "cannot punch a hole in the memory file");
        }
    }

    /// The kernel's address of file offset `offset`.
    ///
    /// Precondition: `offset + len` lies within the file.
    pub fn host_address(&self, offset: u64, len: u64) -> *mut u8 {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= FILE_SIZE),
            "memory file range out of bounds"
        );
        // SAFETY: in bounds of the mapping, as just checked.
        unsafe { self.base.add(offset as usize) }
    }

    /// Replaces the 4-byte-aligned word at `offset` with `update` of it,
    /// atomically (compare-and-swap until no other writer intervened), and
    /// returns the word it held: FUTEX_WAKE_OP's update of a futex word
    /// that application threads may touch at the same time.
    pub fn atomic_update_u32(&self, offset: u64, update: impl Fn(u32) -> u32) -> u32 {
        assert!(offset % 4 == 0, "atomic words are 4-byte aligned");
        let word = self.host_address(offset, 4);
        // SAFETY: the word lies in the file's mapping (host_address checked
        // it) and is 4-byte aligned; application threads reach it only
        // through their own atomic instructions or plain racy accesses, as
        // with any shared memory on Linux.
        let atomic = unsafe { AtomicU32::from_ptr(word.cast()) };
        let mut old = atomic.load(Ordering::SeqCst);
        loop {
            match atomic.compare_exchange(old, update(old), Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return old,
                Err(current) => old = current,
            }
        }
    }

    /// Copies bytes out of the file.
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        let src = self.host_address(offset, buf.len() as u64);
        // SAFETY: src is in bounds; the mapping cannot overlap `buf`, which
        // is kernel memory.
        unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
    }

    /// Copies bytes into the file.
    pub fn write(&self, offset: u64, buf: &[u8]) {
        let dst = self.host_address(offset, buf.len() as u64);
        // SAFETY: as for `read`.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, buf.len()) };
    }

    /// Copies `len` bytes between two ranges of the file.
    pub fn copy_within(&self, from: u64, to: u64, len: u64) {
        let src = self.host_address(from, len);
        let dst = self.host_address(to, len);
        // SAFETY: both ranges are in bounds; `copy` tolerates overlap.
        unsafe { std::ptr::copy(src, dst, len as usize) };
    }

    /// Copies `len` bytes from `from` to `to` (a fresh, all-hole range),
    /// skipping holes so that untouched pages stay unallocated.
    pub fn copy_data(&self, from: u64, to: u64, len: u64) {
        let end = from + len;
        let mut at = from;
        while at < end {
            let data = match nix::unistd::lseek(self.fd.as_fd(), at as i64, nix::unistd::Whence::SeekData) {
                Ok(data) => data as u64,
                // ENXIO: no data at or after `at`.
                Err(_) => return,
            };
            if data >= end {
                return;
            }
            let hole = nix::unistd::lseek(self.fd.as_fd(), data as i64, nix::unistd::Whence::SeekHole)
                .map_or(end, |hole| hole as u64)
                .min(end);
            self.copy_within(data, to + (data - from), hole - data);
            at = hole;
        }
    }

    /// How many bytes of `[offset, offset + len)` hold data (pages that
    /// were touched and not freed): the resident size of a mapping.
    pub fn resident(&self, offset: u64, len: u64) -> u64 {
        let end = offset + len;
        let mut at = offset;
        let mut total = 0;
        while at < end {
            let data = match nix::unistd::lseek(self.fd.as_fd(), at as i64, nix::unistd::Whence::SeekData) {
                Ok(data) => data as u64,
                Err(_) => break,
            };
            if data >= end {
                break;
            }
            let hole = nix::unistd::lseek(self.fd.as_fd(), data as i64, nix::unistd::Whence::SeekHole)
                .map_or(end, |hole| hole as u64)
                .min(end);
            total += hole - data;
            at = hole;
        }
        total
    }

    /// Bytes of memory the whole file holds now: what the sandbox's
    /// applications use.
    pub fn usage(&self) -> u64 {
        nix::sys::stat::fstat(self.fd.as_fd()).map_or(0, |st| st.st_blocks as u64 * 512)
    }

    /// Zeroes bytes of the file.
    pub fn zero(&self, offset: u64, len: u64) {
        let dst = self.host_address(offset, len);
        // SAFETY: in bounds, as host_address checked.
        unsafe { std::ptr::write_bytes(dst, 0, len as usize) };
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`; nothing refers to it
        // once the MemoryFile is gone.
        unsafe { libc::munmap(self.base.cast(), FILE_SIZE as usize) };
    }
}

/// First-fit allocator of page-aligned file ranges.
#[derive(Debug)]
struct RangeAllocator {
    /// Free ranges below `top`: start → length, never adjacent.
    free: BTreeMap<u64, u64>,
    /// Everything at or above `top` is free.
    top: u64,
    size: u64,
}

impl RangeAllocator {
    fn new(size: u64) -> Self {
        RangeAllocator {
            free: BTreeMap::new(),
            top: 0,
            size,
        }
    }

    fn allocate(&mut self, len: u64) -> Option<u64> {
        debug_assert!(len > 0 && len % PAGE_SIZE == 0);
        let found = self
            .free
            .iter()
            .find(|&(_, &free_len)| free_len >= len)
            .map(|(&start, &free_len)| (start, free_len));
        if let Some((start, free_len)) = found {
            self.free.remove(&start);
            if free_len > len {
                self.free.insert(start + len, free_len - len);
            }
            return Some(start);
        }
        let start = self.top;
        let end = start.checked_add(len).filter(|&end| end <= self.size)?;
        self.top = end;
        Some(start)
    }

    /// Takes `[start, start + len)` if it is entirely free.
    fn try_extend(&mut self, start: u64, len: u64) -> bool {
        if start == self.top {
            return match start.checked_add(len).filter(|&end| end <= self.size) {
                Some(end) => {
                    self.top = end;
                    true
                }
                None => false,
            };
        }
        match self.free.get(&start).copied() {
            Some(free_len) if free_len >= len => {
                self.free.remove(&start);
                if free_len > len {
                    self.free.insert(start + len, free_len - len);
                }
                true
            }
            _ => false,
        }
    }

    fn free(&mut self, start: u64, len: u64) {
        let mut start = start;
        let mut len = len;
        // Merge with the free range just below, and the one just above.
        if let Some((&below, &below_len)) = self.free.range(..start).next_back() {
            if below + below_len == start {
                self.free.remove(&below);
                start = below;
                len += below_len;
            }
        }
        if let Some(above_len) = self.free.remove(&(start + len)) {
            len += above_len;
        }
        if start + len == self.top {
            self.top = start;
        } else {
            self.free.insert(start, len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;

    #[test]
    fn freed_ranges_are_reused_and_merged() {
        let mut alloc = RangeAllocator::new(100 * P);
        let a = alloc.allocate(2 * P).unwrap();
        let b = alloc.allocate(P).unwrap();
        let c = alloc.allocate(P).unwrap();
        assert_eq!((a, b, c), (0, 2 * P, 3 * P));
        alloc.free(a, 2 * P);
        alloc.free(b, P);
        assert_eq!(alloc.allocate(3 * P), Some(0));
        alloc.free(c, P);
        assert_eq!(alloc.top, 3 * P);
    }

    #[test]
    fn extends_at_the_top_and_into_free_space() {
        let mut alloc = RangeAllocator::new(10 * P);
        let a = alloc.allocate(P).unwrap();
        assert!(alloc.try_extend(a + P, P));
        assert_eq!(alloc.top, 2 * P);
        assert!(!alloc.try_extend(a + 2 * P, 20 * P));
        assert_eq!(alloc.allocate(20 * P), None);
    }

    #[test]
    fn copy_data_copies_data_and_leaves_holes() {
        let file = MemoryFile::new().expect("memfd");
        let from = file.allocate(4 * P).unwrap();
        let to = file.allocate(4 * P).unwrap();
        file.write(from + 2 * P + 5, b"data");
        file.copy_data(from, to, 4 * P);
        let mut buf = [0u8; 4];
        file.read(to + 2 * P + 5, &mut buf);
        assert_eq!(&buf, b"data");
        let first_data = nix::unistd::lseek(file.fd.as_fd(), to as i64, nix::unistd::Whence::SeekData).unwrap();
        assert_eq!(first_data as u64, to + 2 * P, "the leading hole stays a hole");
    }

    #[test]
    fn memory_file_round_trip_and_decommit() {
        let file = MemoryFile::new().expect("memfd");
        let offset = file.allocate(P).unwrap();
        file.write(offset + 10, b"cordon");
        let mut buf = [0u8; 6];
        file.read(offset + 10, &mut buf);
        assert_eq!(&buf, b"cordon");
        file.decommit(offset, P);
        file.read(offset + 10, &mut buf);
        assert_eq!(buf, [0; 6]);
    }
}
