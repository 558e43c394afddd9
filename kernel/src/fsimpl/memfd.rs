//! memfd_create(2): an anonymous regular file whose data lives in the
//! kernel's memory file, with file seals (fcntl(2), "File Sealing").
//!
//! Lock order: `state` (extents, size, position, seals) before the memory
//! file's allocator (extents are allocated under it); nothing else is taken
//! under it.
//!
//! The contents are held in extents of the memory file, each a
//! [`SharedBacking`] that MAP_SHARED mappings of the file share, so writes
//! through the file and through any mapping see the same pages. Extents are
//! added as writes or mappings reach past them (each at least doubling the
//! room) and are never moved, so mappings stay valid. The size is separate:
//! ftruncate(2) only moves it, and bytes past it read as zero.

use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use crate::abi::arch::{PAGE_SIZE, page_up};
use crate::abi::pod::Pod;
use crate::abi::structs::{Stat, Timespec};
use crate::memory::MemoryFile;
use crate::mm::{SharedBacking, SharedPiece};
use crate::vfs::File;
use crate::vfs::status_flags::StatusFlags;

use crate::vfs::caller::Caller;

use crate::sync::WaitQueue;

const F_SEAL_SEAL: u32 = libc::F_SEAL_SEAL as u32;
const F_SEAL_SHRINK: u32 = libc::F_SEAL_SHRINK as u32;
const F_SEAL_GROW: u32 = libc::F_SEAL_GROW as u32;
const F_SEAL_WRITE: u32 = libc::F_SEAL_WRITE as u32;
const F_SEAL_FUTURE_WRITE: u32 = libc::F_SEAL_FUTURE_WRITE as u32;
/// The seals Linux 6.1 knows (F_SEAL_EXEC came in 6.3).
const KNOWN_SEALS: u32 = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

/// The largest file offset (MAX_LFS_FILESIZE).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// One extent: where in the file it starts, and its memory.
struct Extent {
    start: u64,
    backing: Arc<SharedBacking>,
}

struct MemfdState {
    /// In file order, without gaps, from offset 0.
    extents: Vec<Extent>,
    /// The file offsets the extents cover.
    room: u64,
    size: u64,
    /// The file position of the (one) open file description.
    position: u64,
    seals: u32,
    /// st_mtime and st_ctime.
    changed: Timespec,
}

impl MemfdState {
    /// Whether a mapping holds some extent (the memfd holds one reference
    /// itself).
    fn mapped(&self) -> bool {
        self.extents.iter().any(|extent| Arc::strong_count(&extent.backing) > 1)
    }

    /// Calls `f(memory-file offset, offset within the range, length)` for
    /// each part of `[offset, offset + len)` the extents cover.
    fn for_each_piece(&self, offset: u64, len: u64, mut f: impl FnMut(&Extent, u64, u64, u64)) {
        let end = offset.saturating_add(len).min(self.room);
        for extent in &self.extents {
            let extent_end = extent.start + extent.backing.size();
            let from = offset.max(extent.start);
            let to = end.min(extent_end);
            if from < to {
                f(
                    extent,
                    extent.backing.offset() + (from - extent.start),
                    from - offset,
                    to - from,
                );
            }
        }
    }
}

/// A memfd.
pub struct Memfd {
    /// The name given to memfd_create, without the "memfd:" prefix.
    name: String,
    inode: u64,
    uid: u32,
    gid: u32,
    memory: Arc<MemoryFile>,
    state: Mutex<MemfdState>,
    flags: StatusFlags,
    /// Never notified: a regular file is always ready.
    queue: WaitQueue,
}

impl Memfd {
    /// An empty memfd; without `allow_sealing` it is sealed against seals.
    pub fn new(memory: Arc<MemoryFile>, name: String, allow_sealing: bool, uid: u32, gid: u32) -> Self {
        static NEXT_INODE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Memfd {
            name,
            inode: NEXT_INODE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            uid,
            gid,
            memory,
            state: Mutex::new(MemfdState {
                extents: Vec::new(),
                room: 0,
                size: 0,
                position: 0,
                seals: if allow_sealing { 0 } else { F_SEAL_SEAL },
                changed: crate::vfs::now(),
            }),
            flags: StatusFlags::with((libc::O_RDWR | libc::O_LARGEFILE) as u32),
            queue: WaitQueue::default(),
        }
    }

    /// The file as a memfd, if it is one.
    pub fn of(file: &dyn File) -> Option<&Memfd> {
        file.as_any()?.downcast_ref::<Memfd>()
    }

    fn lock(&self) -> MutexGuard<'_, MemfdState> {
        self.state.lock().expect("memfd poisoned")
    }

    /// F_GET_SEALS.
    pub fn seals(&self) -> u32 {
        self.lock().seals
    }

    /// F_ADD_SEALS.
    pub fn add_seals(&self, seals: u32) -> Result<(), Errno> {
        if seals & !KNOWN_SEALS != 0 {
            return Err(Errno::EINVAL);
        }
        let mut state = self.lock();
        if state.seals & F_SEAL_SEAL != 0 {
            return Err(Errno::EPERM);
        }
        // Linux refuses while a writable shared mapping exists; mappings
        // are not told apart by their protection here, so any shared
        // mapping counts.
        if seals & F_SEAL_WRITE != 0 && state.seals & F_SEAL_WRITE == 0 && state.mapped() {
            return Err(Errno::EBUSY);
        }
        state.seals |= seals;
        Ok(())
    }

    /// Extends the extents to cover `end`, at least doubling the room.
    fn reserve(&self, state: &mut MemfdState, end: u64) -> Result<(), Errno> {
        if end <= state.room {
            return Ok(());
        }
        let needed = page_up(end - state.room).ok_or(Errno::EFBIG)?;
        let len = needed.max(state.room);
        let backing =
            SharedBacking::allocate(&self.memory, len).or_else(|_| SharedBacking::allocate(&self.memory, needed))?;
        let added = backing.size();
        state.extents.push(Extent {
            start: state.room,
            backing,
        });
        state.room += added;
        Ok(())
    }

    /// Zeroes the bytes in `[from, to)`, dropping whole pages.
    fn clear(&self, state: &MemfdState, from: u64, to: u64) {
        if from < to {
            state.for_each_piece(from, to - from, |_, offset, _, len| self.memory.decommit(offset, len));
        }
    }

    fn read_at(&self, state: &MemfdState, offset: u64, buf: &mut [u8]) -> usize {
        let n = (buf.len() as u64).min(state.size.saturating_sub(offset)) as usize;
        let buf = &mut buf[..n];
        // Bytes past the extents were never written.
        buf.fill(0);
        state.for_each_piece(offset, n as u64, |_, at, within, len| {
            self.memory.read(at, &mut buf[within as usize..(within + len) as usize]);
        });
        n
    }

    fn write_at(&self, state: &mut MemfdState, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        if data.is_empty() {
            return Ok(0);
        }
        if state.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
        let mut len = data.len() as u64;
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= MAX_FILE_SIZE)
            .ok_or(Errno::EFBIG)?;
        if end > state.size && state.seals & F_SEAL_GROW != 0 {
            // What fits below the size is written, as Linux's page-by-page
            // write would.
            if offset >= state.size {
                return Err(Errno::EPERM);
            }
            len = state.size - offset;
        }
        if len == 0 {
            return Ok(0);
        }
        self.reserve(state, offset + len).map_err(|_| Errno::ENOSPC)?;
        if offset > state.size {
            self.clear(state, state.size, offset);
        }
        state.for_each_piece(offset, len, |_, at, within, piece| {
            self.memory.write(at, &data[within as usize..(within + piece) as usize]);
        });
        state.size = state.size.max(offset + len);
        state.changed = crate::vfs::now();
        Ok(len as usize)
    }
}

impl File for Memfd {
    fn read(&self, _caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
        let mut state = self.lock();
        match offset {
            Some(offset) => Ok(self.read_at(&state, offset, buf)),
            None => {
                let n = self.read_at(&state, state.position, buf);
                state.position += n as u64;
                Ok(n)
            }
        }
    }

    /// O_APPEND writes at the end, even pwrite(2) (a Linux bug the man page
    /// documents).
    fn write(&self, _caller: &dyn Caller, data: &[u8], offset: Option<u64>) -> Result<usize, Errno> {
        let mut state = self.lock();
        let append = self.flags.append();
        let at = match offset {
            _ if append => state.size,
            Some(offset) => offset,
            None => state.position,
        };
        let n = self.write_at(&mut state, at, data)?;
        if offset.is_none() {
            state.position = at + n as u64;
        }
        Ok(n)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let state = self.lock();
        let mut stat = <Stat as Pod>::zeroed();
        stat.st_ino = self.inode;
        stat.st_mode = libc::S_IFREG | 0o777;
        // Unlinked from the start.
        stat.st_nlink = 0;
        stat.st_uid = self.uid;
        stat.st_gid = self.gid;
        stat.st_size = state.size as i64;
        stat.st_blksize = PAGE_SIZE as i64;
        let held = page_up(state.size).unwrap_or(u64::MAX).min(state.room);
        stat.st_blocks = (held / 512) as i64;
        stat.st_mtime = state.changed.tv_sec;
        stat.st_mtime_nsec = state.changed.tv_nsec;
        stat.st_ctime = state.changed.tv_sec;
        stat.st_ctime_nsec = state.changed.tv_nsec;
        stat.st_atime = state.changed.tv_sec;
        stat.st_atime_nsec = state.changed.tv_nsec;
        Ok(stat)
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags.get())
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        self.flags.set(flags);
        Ok(())
    }

    fn poll(&self) -> u16 {
        (libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLWRNORM) as u16
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.queue)
    }

    fn pollable(&self) -> bool {
        false
    }

    fn seek(&self, offset: i64, whence: i32) -> Result<u64, Errno> {
        let mut state = self.lock();
        let base = match whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => state.position as i64,
            libc::SEEK_END => state.size as i64,
            // The whole file counts as data: holes are not tracked.
            libc::SEEK_DATA | libc::SEEK_HOLE => {
                let at = u64::try_from(offset).map_err(|_| Errno::ENXIO)?;
                if at >= state.size {
                    return Err(Errno::ENXIO);
                }
                state.position = if whence == libc::SEEK_DATA { at } else { state.size };
                return Ok(state.position);
            }
            _ => return Err(Errno::EINVAL),
        };
        let target = base.checked_add(offset).filter(|&at| at >= 0).ok_or(Errno::EINVAL)?;
        state.position = target as u64;
        Ok(state.position)
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut state = self.lock();
        if (len < state.size && state.seals & F_SEAL_SHRINK != 0)
            || (len > state.size && state.seals & F_SEAL_GROW != 0)
        {
            return Err(Errno::EPERM);
        }
        // Whatever lies between the old and the new end reads as zero now:
        // the truncated tail, or pages a mapping wrote past the old end.
        let (from, to) = (len.min(state.size), len.max(state.size));
        self.clear(&state, from, to);
        state.size = len;
        state.changed = crate::vfs::now();
        Ok(())
    }

    /// Mapping past the end of the file is allowed (the bytes read as zero
    /// rather than raising SIGBUS, as Linux would), and reserves the room,
    /// so that growing the file later shows in the mapping.
    fn mmap(&self, offset: u64, len: u64, shared_write: bool) -> Result<Vec<SharedPiece>, Errno> {
        let mut state = self.lock();
        if shared_write && state.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
        let end = offset.checked_add(len).ok_or(Errno::EOVERFLOW)?;
        self.reserve(&mut state, end).map_err(|_| Errno::ENOMEM)?;
        let mut pieces = Vec::new();
        state.for_each_piece(offset, len, |extent, _, within, piece_len| {
            pieces.push(SharedPiece {
                backing: Arc::clone(&extent.backing),
                offset: extent.backing.offset() + offset + within - extent.start,
                len: piece_len,
            });
        });
        Ok(pieces)
    }

    fn link_name(&self) -> Option<String> {
        Some(format!("/memfd:{} (deleted)", self.name))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::vfs::caller::test_caller;

    fn memfd(sealing: bool) -> Memfd {
        let memory = Arc::new(MemoryFile::new().expect("memory file"));
        Memfd::new(memory, "test".into(), sealing, 0, 0)
    }

    fn with_caller<T>(f: impl FnOnce(&dyn Caller) -> T) -> T {
        f(&test_caller())
    }

    #[test]
    fn writes_extend_and_reads_stop_at_the_end() {
        let file = memfd(false);
        with_caller(|caller| {
            assert_eq!(file.write(caller, b"hello", None), Ok(5));
            assert_eq!(file.write(caller, b"!", Some(9000)), Ok(1));
            assert_eq!(file.stat().unwrap().st_size, 9001);
            let mut buf = [1u8; 16];
            assert_eq!(file.read(caller, &mut buf, Some(0)), Ok(16));
            assert_eq!(&buf[..6], b"hello\0");
            assert_eq!(file.read(caller, &mut buf, Some(8995)), Ok(6));
            assert_eq!(&buf[..6], b"\0\0\0\0\0!");
            assert_eq!(file.read(caller, &mut buf, Some(9001)), Ok(0));
        });
    }

    #[test]
    fn truncation_zeroes_what_it_cuts() {
        let file = memfd(false);
        with_caller(|caller| {
            file.write(caller, b"abcdef", None).unwrap();
            file.truncate(2).unwrap();
            file.truncate(6).unwrap();
            let mut buf = [9u8; 6];
            assert_eq!(file.read(caller, &mut buf, Some(0)), Ok(6));
            assert_eq!(&buf, b"ab\0\0\0\0");
        });
    }

    #[test]
    fn seals_refuse_what_they_seal() {
        let unsealable = memfd(false);
        assert_eq!(unsealable.add_seals(F_SEAL_GROW), Err(Errno::EPERM));
        let file = memfd(true);
        with_caller(|caller| {
            file.write(caller, b"0123", None).unwrap();
            file.add_seals(F_SEAL_GROW | F_SEAL_SHRINK).unwrap();
            assert_eq!(file.truncate(8), Err(Errno::EPERM));
            assert_eq!(file.truncate(1), Err(Errno::EPERM));
            assert_eq!(file.write(caller, b"abcdef", Some(2)), Ok(2), "written up to the size");
            assert_eq!(file.write(caller, b"x", Some(4)), Err(Errno::EPERM));
            let mapping = file.mmap(0, PAGE_SIZE, true).unwrap();
            assert_eq!(file.add_seals(F_SEAL_WRITE), Err(Errno::EBUSY));
            drop(mapping);
            file.add_seals(F_SEAL_WRITE | F_SEAL_SEAL).unwrap();
            assert_eq!(file.write(caller, b"x", Some(0)), Err(Errno::EPERM));
            assert_eq!(file.mmap(0, PAGE_SIZE, true).err(), Some(Errno::EPERM));
            assert_eq!(file.add_seals(F_SEAL_SHRINK), Err(Errno::EPERM));
            assert_eq!(file.seals(), KNOWN_SEALS & !F_SEAL_FUTURE_WRITE);
        });
    }

    #[test]
    fn mappings_share_the_file_pages_across_extents() {
        let file = memfd(true);
        with_caller(|caller| {
            file.write(caller, b"first", None).unwrap();
            // The first extent is one page; the mapping needs a second.
            let pieces = file.mmap(0, 3 * PAGE_SIZE, true).unwrap();
            assert_eq!(pieces.len(), 2);
            assert_eq!(pieces.iter().map(|piece| piece.len).sum::<u64>(), 3 * PAGE_SIZE);
            let second = &pieces[1];
            file.memory.write(second.offset + 10, b"mapped");
            file.truncate(2 * PAGE_SIZE).unwrap();
            let mut buf = [0u8; 6];
            file.read(caller, &mut buf, Some(PAGE_SIZE + 10)).unwrap();
            assert_eq!(
                &buf, b"\0\0\0\0\0\0",
                "growing zeroes what a mapping wrote past the end"
            );
            file.write(caller, b"shared", Some(PAGE_SIZE + 10)).unwrap();
            let mut seen = [0u8; 6];
            file.memory.read(second.offset + 10, &mut seen);
            assert_eq!(&seen, b"shared");
        });
    }
}
