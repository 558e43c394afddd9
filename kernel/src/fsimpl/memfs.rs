//! Files in sandbox memory: tmpfs, and the overlay that keeps application
//! writes off the host rootfs.
//!
//! Lock order: a directory's entries (`Dir`) before its children's: rmdir
//! and a rename over a directory lock the parent, then the child; a rename
//! between two directories locks them in address order, which cannot cross
//! the parent-child order only because the mount's `rename_lock` serializes
//! every rename and rmdir of the filesystem (each memfs is mounted once).
//! Under a directory's lock a node's `meta` (mode, owner, links, times) and
//! the overlay's `others` (inode numbers) may be taken. A file's `Data`
//! comes before the memory file's allocator (its chunks); no directory's
//! lock is taken under it. `meta` and `others` are leaves.
//!
//! A directory may have a host directory beneath it (its *lower*). Names
//! are then looked up first among the directory's own entries, then (unless
//! whited out) in the lower, and a lower file met this way becomes an entry
//! of its own that keeps reading the host until something writes to it;
//! then its data is copied into memory ("copy up"). Deleting a name that may
//! exist below leaves a whiteout. Attributes live in the node from the start,
//! so chmod, chown and utimes never touch the host either. Without a lower,
//! the same code is tmpfs.
//!
//! File data lives in the kernel's memory file, in fixed chunks: pages never
//! written stay holes (sparse files), the pages are the sandbox's own
//! memory, and shared mappings map them directly.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use nix::errno::Errno;

use super::host::HostNode;
use super::page_set::PageSet;
use crate::abi::arch::PAGE_SIZE;
use crate::abi::structs::{Stat, Statfs, Timespec};
use crate::fsimpl::Fifo;
use crate::vfs::File;
use crate::vfs::{DirEntry, FileKind, Inode, Location, NewAttr, NewNode, RenameFlags, SetAttr, empty_stat, now};

use crate::memory::MemoryFile;
use crate::mm::{SharedBacking, SharedPiece};

use crate::vfs::caller::Caller;

/// TMPFS_MAGIC, as statfs reports it.
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// OVERLAYFS_SUPER_MAGIC.
const OVERLAY_MAGIC: i64 = 0x794c_7630;
/// Inode numbers of nodes made in memory start here, above any the host
/// lower is likely to use.
const FIRST_MEMORY_INO: u64 = 1 << 40;
/// What each entry adds to a memory directory's st_size (shmem's
/// BOGO_DIRENT_SIZE; "." and ".." count too).
const BOGO_DIRENT_SIZE: u64 = 20;
/// Largest file size (Linux's MAX_LFS_FILESIZE).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// One memory filesystem (a tmpfs mount, or the overlay root).
pub struct MemFs {
    dev: u64,
    memory: Arc<MemoryFile>,
    next_ino: AtomicU64,
    /// The most file data it may hold (tmpfs size=), in bytes.
    limit: u64,
    /// File data held now, in bytes of memory-file ranges.
    used: AtomicU64,
    /// For an overlay, the host tree beneath it.
    lower: Option<Lower>,
}

/// What an overlay knows of the host tree beneath it.
///
/// Inode numbers: every host file shows the overlay's one device, so files
/// of host filesystems other than the root's (a separate /home or /boot,
/// whose roots are inode 2 like /) get numbers of their own; otherwise two
/// different files would look like one to find, du, cp -a and tar, which
/// compare (st_dev, st_ino).
struct Lower {
    /// The host directory the overlay covers: statfs reports its
    /// filesystem, as overlayfs reports its upper one.
    root: Arc<HostNode>,
    /// The host device of the overlay's root: its files keep their numbers.
    dev: u64,
    /// Guards the numbers given to files of other host devices, by (device,
    /// inode).
    others: Mutex<HashMap<(u64, u64), u64>>,
}

impl MemFs {
    /// A tmpfs of at most `limit` bytes whose root has mode `mode`.
    pub fn tmpfs(memory: Arc<MemoryFile>, dev: u64, limit: u64, mode: u32) -> Arc<MemNode> {
        let fs = Arc::new(MemFs {
            dev,
            memory,
            next_ino: AtomicU64::new(FIRST_MEMORY_INO),
            limit,
            used: AtomicU64::new(0),
            lower: None,
        });
        MemNode::new(
            &fs,
            libc::S_IFDIR | (mode & 0o7777),
            0,
            0,
            Body::Dir(Mutex::new(Dir::default())),
        )
    }

    /// An overlay whose lower layer is the host directory `lower`.
    pub fn overlay(memory: Arc<MemoryFile>, dev: u64, lower: Arc<HostNode>) -> Result<Arc<MemNode>, Errno> {
        let fs = Arc::new(MemFs {
            dev,
            memory,
            next_ino: AtomicU64::new(FIRST_MEMORY_INO),
            limit: u64::MAX,
            used: AtomicU64::new(0),
            lower: Some(Lower {
                root: Arc::clone(&lower),
                dev: lower.stat()?.st_dev,
                others: Mutex::new(HashMap::new()),
            }),
        });
        MemNode::import(&fs, lower)
    }

    /// The inode number the overlay shows for host inode `ino` of host
    /// device `dev`.
    fn host_ino(&self, dev: u64, ino: u64) -> u64 {
        match &self.lower {
            Some(lower) if lower.dev != dev => *lower
                .others
                .lock()
                .expect("lower inode map poisoned")
                .entry((dev, ino))
                .or_insert_with(|| self.next_ino.fetch_add(1, Ordering::Relaxed)),
            _ => ino,
        }
    }

    fn charge(&self, bytes: u64) -> Result<(), Errno> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let new = used
                .checked_add(bytes)
                .filter(|&n| n <= self.limit)
                .ok_or(Errno::ENOSPC)?;
            match self
                .used
                .compare_exchange(used, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    fn uncharge(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Owner, mode, link count and times.
struct Meta {
    /// S_IFMT bits and permissions.
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    rdev: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

#[derive(Default)]
struct Dir {
    entries: BTreeMap<Vec<u8>, Arc<MemNode>>,
    /// Names deleted here that may still exist in the lower.
    whiteouts: BTreeSet<Vec<u8>>,
    lower: Option<Arc<HostNode>>,
    /// Removed by rmdir or replaced by a rename (Linux's S_DEAD): nothing
    /// can be found, listed or made in it any more.
    removed: bool,
}

impl Dir {
    /// The merged entries: the lower's, less whiteouts, then the own ones.
    fn listing(&self, fs: &MemFs) -> Result<Vec<DirEntry>, Errno> {
        let mut listing: BTreeMap<Vec<u8>, DirEntry> = BTreeMap::new();
        if let Some(lower) = &self.lower {
            let dev = lower.stat()?.st_dev;
            for mut entry in lower.list()? {
                if !self.whiteouts.contains(&entry.name) {
                    entry.ino = fs.host_ino(dev, entry.ino);
                    listing.insert(entry.name.clone(), entry);
                }
            }
        }
        for (name, node) in &self.entries {
            listing.insert(
                name.clone(),
                DirEntry {
                    name: name.clone(),
                    ino: node.ino,
                    kind: node.kind(),
                },
            );
        }
        Ok(listing.into_values().collect())
    }

    /// Whether the merged directory has no entries.
    fn is_empty(&self) -> Result<bool, Errno> {
        if !self.entries.is_empty() {
            return Ok(false);
        }
        let Some(lower) = &self.lower else {
            return Ok(true);
        };
        Ok(lower.list()?.iter().all(|entry| self.whiteouts.contains(&entry.name)))
    }
}

enum Data {
    /// Still the host file's data, unchanged.
    Lower(Arc<HostNode>, u64),
    Memory(Pages),
}

/// A file's data: 2 MiB chunks of the memory file, made on first write.
/// Chunks never move, so a MAP_SHARED mapping holds the file's own pages
/// (an unwritten chunk is a hole and reads as zeros).
#[derive(Default)]
struct Pages {
    chunks: BTreeMap<u64, Arc<SharedBacking>>,
    size: u64,
    /// The pages of the range that hold data; the filesystem is charged
    /// for these only.
    data: PageSet,
}

/// The size of one chunk of file data.
const CHUNK: u64 = 2 << 20;

enum Body {
    Dir(Mutex<Dir>),
    File(Mutex<Data>),
    Symlink(Vec<u8>),
    Fifo(Fifo),
    /// Devices and sockets: a name and attributes, no data.
    Special,
}

/// A node of a memory filesystem.
pub struct MemNode {
    /// The node itself, so a `&MemNode` found through `as_any` can be
    /// linked under another name.
    me: Weak<MemNode>,
    fs: Arc<MemFs>,
    ino: u64,
    meta: Mutex<Meta>,
    body: Body,
}

impl MemNode {
    fn new(fs: &Arc<MemFs>, mode: u32, uid: u32, gid: u32, body: Body) -> Arc<MemNode> {
        let t = now();
        let nlink = if mode & libc::S_IFMT == libc::S_IFDIR { 2 } else { 1 };
        Arc::new_cyclic(|me| MemNode {
            me: me.clone(),
            fs: Arc::clone(fs),
            ino: fs.next_ino.fetch_add(1, Ordering::Relaxed),
            meta: Mutex::new(Meta {
                mode,
                uid,
                gid,
                nlink,
                rdev: 0,
                atime: t,
                mtime: t,
                ctime: t,
                xattrs: BTreeMap::new(),
            }),
            body,
        })
    }

    /// A node for a host file met in a lower directory.
    fn import(fs: &Arc<MemFs>, host: Arc<HostNode>) -> Result<Arc<MemNode>, Errno> {
        let st = host.stat()?;
        let body = match FileKind::from_mode(st.st_mode) {
            FileKind::Directory => Body::Dir(Mutex::new(Dir {
                lower: Some(host),
                ..Dir::default()
            })),
            FileKind::Regular => Body::File(Mutex::new(Data::Lower(host, st.st_size as u64))),
            FileKind::Symlink => Body::Symlink(host.readlink()?),
            FileKind::Fifo => Body::Fifo(Fifo::default()),
            _ => Body::Special,
        };
        Ok(Arc::new_cyclic(|me| MemNode {
            me: me.clone(),
            fs: Arc::clone(fs),
            ino: fs.host_ino(st.st_dev, st.st_ino),
            meta: Mutex::new(Meta {
                mode: st.st_mode,
                uid: st.st_uid,
                gid: st.st_gid,
                nlink: st.st_nlink,
                rdev: st.st_rdev,
                atime: Timespec {
                    tv_sec: st.st_atime,
                    tv_nsec: st.st_atime_nsec,
                },
                mtime: Timespec {
                    tv_sec: st.st_mtime,
                    tv_nsec: st.st_mtime_nsec,
                },
                ctime: Timespec {
                    tv_sec: st.st_ctime,
                    tv_nsec: st.st_ctime_nsec,
                },
                xattrs: BTreeMap::new(),
            }),
            body,
        }))
    }

    fn meta(&self) -> MutexGuard<'_, Meta> {
        self.meta.lock().expect("memfs meta poisoned")
    }

    /// The directory's entries, locked; ENOENT once it was removed.
    fn dir(&self) -> Result<MutexGuard<'_, Dir>, Errno> {
        match &self.body {
            Body::Dir(dir) => {
                let dir = dir.lock().expect("memfs dir poisoned");
                if dir.removed {
                    return Err(Errno::ENOENT);
                }
                Ok(dir)
            }
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    fn kind(&self) -> FileKind {
        FileKind::from_mode(self.meta().mode)
    }

    fn touch(&self, modified: bool) {
        let t = now();
        let mut meta = self.meta();
        meta.ctime = t;
        if modified {
            meta.mtime = t;
        }
    }

    /// A subdirectory's ".." now links here. A host directory whose
    /// filesystem does not count links (btrfs says 1) keeps saying 1.
    fn subdir_added(&self) {
        let mut meta = self.meta();
        if meta.nlink > 1 {
            meta.nlink += 1;
        }
    }

    /// A subdirectory's ".." no longer links here; never below the 2 of an
    /// empty directory, nor changing the 1 of an uncounted one.
    fn subdir_removed(&self) {
        let mut meta = self.meta();
        if meta.nlink > 2 {
            meta.nlink -= 1;
        }
    }

    /// The entry `name` of a locked directory, importing it from the lower
    /// when it is only there.
    fn entry(&self, dir: &mut Dir, name: &[u8]) -> Result<Arc<MemNode>, Errno> {
        if let Some(node) = dir.entries.get(name) {
            return Ok(Arc::clone(node));
        }
        if dir.whiteouts.contains(name) {
            return Err(Errno::ENOENT);
        }
        let lower = dir.lower.as_ref().ok_or(Errno::ENOENT)?;
        let host = lower.lookup_host(name)?;
        let node = MemNode::import(&self.fs, host)?;
        dir.entries.insert(name.to_vec(), Arc::clone(&node));
        Ok(node)
    }

    /// Whether a directory node has no entries (merged with its lower).
    fn is_empty_dir(&self) -> Result<bool, Errno> {
        self.dir()?.is_empty()
    }

    fn memory(&self) -> &MemoryFile {
        &self.fs.memory
    }

    /// Copies a lower file's data into memory, if it is still the host's.
    fn copy_up(&self, data: &mut Data) -> Result<(), Errno> {
        self.copy_up_to(data, u64::MAX)
    }

    /// Copies at most the first `keep` bytes of a lower file into memory
    /// (a truncation copies only what it keeps).
    fn copy_up_to(&self, data: &mut Data, keep: u64) -> Result<(), Errno> {
        let Data::Lower(host, size) = data else {
            return Ok(());
        };
        let (host, size) = (Arc::clone(host), (*size).min(keep));
        let mut pages = Pages::default();
        let mut buf = vec![0u8; (1 << 20).min(size as usize)];
        let mut done = 0u64;
        while done < size {
            let want = buf.len().min((size - done) as usize);
            let n = match host.read_at(&mut buf[..want], done) {
                Ok(0) => break,
                Ok(n) => n,
                Err(errno) => {
                    self.release(&mut pages);
                    return Err(errno);
                }
            };
            if let Err(errno) = self.store(&mut pages, &buf[..n], done) {
                self.release(&mut pages);
                return Err(errno);
            }
            done += n as u64;
        }
        pages.size = size;
        *data = Data::Memory(pages);
        Ok(())
    }

    /// Gives back the charge of every data page (the chunks go with
    /// their last holder).
    fn release(&self, pages: &mut Pages) {
        self.fs.uncharge(pages.data.len() * PAGE_SIZE);
        pages.data = PageSet::default();
        pages.chunks.clear();
    }

    /// The chunk with index `index`, made if missing.
    fn chunk(&self, pages: &mut Pages, index: u64) -> Result<Arc<SharedBacking>, Errno> {
        if let Some(chunk) = pages.chunks.get(&index) {
            return Ok(Arc::clone(chunk));
        }
        let chunk = SharedBacking::allocate(&self.fs.memory, CHUNK)?;
        pages.chunks.insert(index, Arc::clone(&chunk));
        Ok(chunk)
    }

    /// Writes `bytes` at `offset` into the chunks, charging the filesystem
    /// for pages that held no data. When it is nearly full the write stops
    /// at the last page that fit, as shmem writes page by page; ENOSPC when
    /// not even one does. Returns how many bytes were stored (the size is
    /// the caller's).
    fn store(&self, pages: &mut Pages, bytes: &[u8], offset: u64) -> Result<usize, Errno> {
        let end = offset.checked_add(bytes.len() as u64).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let end = self.charge_write(pages, offset, end)?;
        let len = (end - offset) as usize;
        let mut done = 0usize;
        while done < len {
            let at = offset + done as u64;
            let within = at % CHUNK;
            let n = ((CHUNK - within) as usize).min(len - done);
            let chunk = self.chunk(pages, at / CHUNK)?;
            self.memory().write(chunk.offset() + within, &bytes[done..done + n]);
            done += n;
        }
        Ok(len)
    }

    /// Charges the filesystem for the pages of `offset..end` that hold no
    /// data yet; returns where the write may end.
    fn charge_write(&self, pages: &mut Pages, offset: u64, end: u64) -> Result<u64, Errno> {
        let (first, last) = (offset / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
        let missing = pages.data.missing(first, last);
        if self.fs.charge(missing * PAGE_SIZE).is_ok() {
            pages.data.insert(first, last);
            return Ok(end);
        }
        let mut page = first;
        while page < last {
            if pages.data.missing(page, page + 1) == 1 {
                if self.fs.charge(PAGE_SIZE).is_err() {
                    break;
                }
                pages.data.insert(page, page + 1);
            }
            page += 1;
        }
        let stop = (page * PAGE_SIZE).min(end);
        if stop <= offset {
            return Err(Errno::ENOSPC);
        }
        Ok(stop)
    }

    /// Writes `bytes` at `offset`, or at the end when None (the end found
    /// under the same lock, so appends from several files never overlap).
    /// Returns the bytes written and where they end.
    fn write(&self, bytes: &[u8], offset: Option<u64>) -> Result<(usize, u64), Errno> {
        let Body::File(data) = &self.body else {
            return Err(if self.is_dir() { Errno::EISDIR } else { Errno::EINVAL });
        };
        let (written, end) = {
            let mut data = data.lock().expect("memfs data poisoned");
            self.copy_up(&mut data)?;
            let Data::Memory(pages) = &mut *data else {
                unreachable!("copied up above")
            };
            let offset = offset.unwrap_or(pages.size);
            if bytes.is_empty() {
                return Ok((0, offset));
            }
            let written = self.store(pages, bytes, offset)?;
            let end = offset + written as u64;
            pages.size = pages.size.max(end);
            (written, end)
        };
        self.touch(true);
        Ok((written, end))
    }

    /// Zeroes `[from, to)` (within one chunk's reach or across several)
    /// where chunks exist; holes already read as zeros.
    fn zero_range(&self, pages: &Pages, from: u64, to: u64) {
        let mut at = from;
        while at < to {
            let within = at % CHUNK;
            let n = (CHUNK - within).min(to - at);
            if let Some(chunk) = pages.chunks.get(&(at / CHUNK)) {
                self.memory().zero(chunk.offset() + within, n);
            }
            at += n;
        }
    }

    /// Drops the whole pages of `[first, last)` (page numbers): their
    /// memory goes back to the host and they read as zeros.
    fn decommit_pages(&self, pages: &mut Pages, first: u64, last: u64) {
        let (mut at, end) = (first * PAGE_SIZE, last * PAGE_SIZE);
        while at < end {
            let within = at % CHUNK;
            let n = (CHUNK - within).min(end - at);
            if let Some(chunk) = pages.chunks.get(&(at / CHUNK)) {
                self.memory().decommit(chunk.offset() + within, n);
            }
            at += n;
        }
        let freed = pages.data.remove(first, last);
        self.fs.uncharge(freed * PAGE_SIZE);
    }

    /// Sets the size of file data. A shrink drops whole chunks and pages
    /// past the end and zeroes the rest of the last page, so a later growth
    /// reads zeros. Growing charges nothing: the new range is a hole.
    fn resize(&self, data: &mut Data, size: u64) -> Result<(), Errno> {
        self.copy_up_to(data, size)?;
        let Data::Memory(pages) = data else {
            unreachable!("copied up above")
        };
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        if size < pages.size {
            let page_end = size.next_multiple_of(PAGE_SIZE);
            self.zero_range(pages, size, page_end.min(pages.size));
            let old_pages = pages.size.div_ceil(PAGE_SIZE);
            self.decommit_pages(pages, page_end / PAGE_SIZE, old_pages.max(page_end / PAGE_SIZE));
            let cut = pages.data.truncate(page_end / PAGE_SIZE);
            self.fs.uncharge(cut * PAGE_SIZE);
            let first_dropped = size.div_ceil(CHUNK);
            pages.chunks.retain(|&index, _| index < first_dropped);
        }
        pages.size = size;
        Ok(())
    }

    /// The file's pages covering `[offset, offset + len)` for a shared
    /// mapping (copied up first, holes made into chunks; the pages are
    /// charged as they are, since the mapping may write them).
    fn shared(&self, data: &mut Data, offset: u64, len: u64) -> Result<Vec<SharedPiece>, Errno> {
        self.copy_up(data)?;
        let Data::Memory(pages) = data else {
            unreachable!("copied up above")
        };
        let end = offset.checked_add(len).ok_or(Errno::EOVERFLOW)?;
        let mut pieces = Vec::new();
        let mut at = offset;
        while at < end {
            let within = at % CHUNK;
            let n = (CHUNK - within).min(end - at);
            let chunk = self.chunk(pages, at / CHUNK)?;
            pieces.push(SharedPiece {
                offset: chunk.offset() + within,
                backing: chunk,
                len: n,
            });
            at += n;
        }
        Ok(pieces)
    }

    /// st_size and st_blocks (512-byte blocks of data). A directory of
    /// the host shows the host's; one in memory shows tmpfs's nominal 20
    /// bytes an entry above 40, and no blocks.
    fn size_and_blocks(&self) -> Result<(u64, u64), Errno> {
        Ok(match &self.body {
            Body::File(data) => match &*data.lock().expect("memfs data poisoned") {
                Data::Lower(_, size) => (*size, size.next_multiple_of(PAGE_SIZE) / 512),
                Data::Memory(pages) => (pages.size, pages.data.len() * PAGE_SIZE / 512),
            },
            Body::Symlink(target) => (target.len() as u64, 0),
            Body::Fifo(_) => (0, 0),
            Body::Dir(dir) => {
                let dir = dir.lock().expect("memfs dir poisoned");
                match &dir.lower {
                    Some(lower) => {
                        let st = lower.stat()?;
                        (st.st_size as u64, st.st_blocks as u64)
                    }
                    None => (BOGO_DIRENT_SIZE * (2 + dir.entries.len() as u64), 0),
                }
            }
            Body::Special => (0, 0),
        })
    }

    /// The node behind an inode of the same filesystem.
    fn same_fs<'a>(&self, other: &'a Arc<dyn Inode>) -> Result<&'a MemNode, Errno> {
        match other.as_any().downcast_ref::<MemNode>() {
            Some(node) if Arc::ptr_eq(&node.fs, &self.fs) => Ok(node),
            _ => Err(Errno::EXDEV),
        }
    }
}

impl Drop for MemNode {
    fn drop(&mut self) {
        // The chunks go with their last holder (this node or a mapping).
        let Body::File(data) = &self.body else {
            return;
        };
        if let Data::Memory(pages) = &*data.lock().expect("memfs data poisoned") {
            self.fs.uncharge(pages.data.len() * PAGE_SIZE);
        }
    }
}

impl Inode for MemNode {
    fn stat(&self) -> Result<Stat, Errno> {
        let (size, blocks) = self.size_and_blocks()?;
        let meta = self.meta();
        let mut st = empty_stat();
        st.st_dev = self.fs.dev;
        st.st_ino = self.ino;
        st.st_mode = meta.mode;
        st.st_nlink = meta.nlink;
        st.st_uid = meta.uid;
        st.st_gid = meta.gid;
        st.st_rdev = meta.rdev;
        st.st_size = size as i64;
        st.st_blksize = 4096;
        st.st_blocks = blocks as i64;
        st.st_atime = meta.atime.tv_sec;
        st.st_atime_nsec = meta.atime.tv_nsec;
        st.st_mtime = meta.mtime.tv_sec;
        st.st_mtime_nsec = meta.mtime.tv_nsec;
        st.st_ctime = meta.ctime.tv_sec;
        st.st_ctime_nsec = meta.ctime.tv_nsec;
        Ok(st)
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let mut dir = self.dir()?;
        Ok(self.entry(&mut dir, name)?)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        self.dir()?.listing(&self.fs)
    }

    fn readlink(&self, _caller: &dyn Caller) -> Result<Vec<u8>, Errno> {
        match &self.body {
            Body::Symlink(target) => Ok(target.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn read_at(&self, _caller: &dyn Caller, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let Body::File(data) = &self.body else {
            return Err(if self.is_dir() { Errno::EISDIR } else { Errno::EINVAL });
        };
        let data = data.lock().expect("memfs data poisoned");
        match &*data {
            Data::Lower(host, _) => host.read_at(buf, offset),
            Data::Memory(pages) => {
                if offset >= pages.size {
                    return Ok(0);
                }
                let n = buf.len().min((pages.size - offset) as usize);
                let mut done = 0usize;
                while done < n {
                    let at = offset + done as u64;
                    let within = at % CHUNK;
                    let take = ((CHUNK - within) as usize).min(n - done);
                    match pages.chunks.get(&(at / CHUNK)) {
                        Some(chunk) => self.memory().read(chunk.offset() + within, &mut buf[done..done + take]),
                        None => buf[done..done + take].fill(0),
                    }
                    done += take;
                }
                Ok(n)
            }
        }
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> Result<usize, Errno> {
        self.write(bytes, Some(offset)).map(|(written, _)| written)
    }

    fn append(&self, bytes: &[u8]) -> Result<(usize, u64), Errno> {
        self.write(bytes, None)
    }

    fn punch_hole(&self, offset: u64, len: u64) -> Result<(), Errno> {
        let Body::File(data) = &self.body else {
            return Err(if self.is_dir() { Errno::EISDIR } else { Errno::ENODEV });
        };
        {
            let mut data = data.lock().expect("memfs data poisoned");
            self.copy_up(&mut data)?;
            let Data::Memory(pages) = &mut *data else {
                unreachable!("copied up above")
            };
            let end = offset.saturating_add(len).min(pages.size);
            if offset >= end {
                return Ok(());
            }
            // Whole pages go back; the partial ones at the edges are zeroed.
            let (first, last) = (offset.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
            if first < last {
                self.decommit_pages(pages, first, last);
                self.zero_range(pages, offset, first * PAGE_SIZE);
                self.zero_range(pages, last * PAGE_SIZE, end);
            } else {
                self.zero_range(pages, offset, end);
            }
        }
        self.touch(true);
        Ok(())
    }

    fn open(&self, location: &Location, flags: i32, caller: &dyn Caller) -> Result<Option<Arc<dyn File>>, Errno> {
        match &self.body {
            Body::Fifo(fifo) => fifo.open(location.clone(), flags, caller).map(Some),
            _ => Ok(None),
        }
    }

    fn create(&self, name: &[u8], node: NewNode, attr: NewAttr) -> Result<Arc<dyn Inode>, Errno> {
        let mut dir = self.dir()?;
        match self.entry(&mut dir, name) {
            Ok(_) => return Err(Errno::EEXIST),
            Err(Errno::ENOENT) => {}
            Err(errno) => return Err(errno),
        }
        let (kind, body, rdev) = match node {
            NewNode::Regular => (
                FileKind::Regular,
                Body::File(Mutex::new(Data::Memory(Pages::default()))),
                0,
            ),
            NewNode::Directory => (FileKind::Directory, Body::Dir(Mutex::new(Dir::default())), 0),
            NewNode::Symlink(target) => (FileKind::Symlink, Body::Symlink(target), 0),
            NewNode::Fifo => (FileKind::Fifo, Body::Fifo(Fifo::default()), 0),
            NewNode::CharDevice(rdev) => (FileKind::CharDevice, Body::Special, rdev),
        };
        let mode = if kind == FileKind::Symlink {
            0o777
        } else {
            attr.mode & 0o7777
        };
        let new = MemNode::new(&self.fs, kind.mode_bits() | mode, attr.uid, attr.gid, body);
        new.meta().rdev = rdev;
        dir.entries.insert(name.to_vec(), Arc::clone(&new));
        dir.whiteouts.remove(name);
        if kind == FileKind::Directory {
            self.subdir_added();
        }
        drop(dir);
        self.touch(true);
        Ok(new)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let node = self.same_fs(target)?;
        if node.is_dir() {
            return Err(Errno::EPERM);
        }
        let mut dir = self.dir()?;
        match self.entry(&mut dir, name) {
            Ok(_) => return Err(Errno::EEXIST),
            Err(Errno::ENOENT) => {}
            Err(errno) => return Err(errno),
        }
        let node_arc = node.me.upgrade().ok_or(Errno::ENOENT)?;
        node_arc.meta().nlink += 1;
        node_arc.touch(false);
        dir.entries.insert(name.to_vec(), node_arc);
        dir.whiteouts.remove(name);
        drop(dir);
        self.touch(true);
        Ok(())
    }

    fn unlink(&self, name: &[u8], directory: bool) -> Result<(), Errno> {
        let mut dir = self.dir()?;
        let node = self.entry(&mut dir, name)?;
        if directory {
            if !node.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            // Emptiness and removal under the child's lock, so nothing is
            // made in it in between.
            let mut child = node.dir()?;
            if !child.is_empty()? {
                return Err(Errno::ENOTEMPTY);
            }
            child.removed = true;
        } else if node.is_dir() {
            return Err(Errno::EISDIR);
        }
        dir.entries.remove(name);
        if dir.lower.is_some() {
            dir.whiteouts.insert(name.to_vec());
        }
        drop(dir);
        if directory {
            node.meta().nlink = 0;
            self.subdir_removed();
        } else {
            let mut meta = node.meta();
            meta.nlink = meta.nlink.saturating_sub(1);
        }
        node.touch(false);
        self.touch(true);
        Ok(())
    }

    fn rename(&self, name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8], flags: RenameFlags) -> Result<(), Errno> {
        let target_dir = self.same_fs(new_dir)?;
        if std::ptr::eq(self, target_dir) {
            let mut dir = self.dir()?;
            let node = self.entry(&mut dir, name)?;
            let existing = optional(self.entry(&mut dir, new_name))?;
            check_replace(&node, existing.as_ref(), flags)?;
            if existing.as_ref().is_some_and(|existing| Arc::ptr_eq(existing, &node)) {
                return Ok(());
            }
            if flags.exchange {
                let other = existing.expect("checked by check_replace");
                dir.entries.insert(name.to_vec(), other);
                dir.entries.insert(new_name.to_vec(), Arc::clone(&node));
            } else {
                dir.entries.remove(name);
                if dir.lower.is_some() {
                    dir.whiteouts.insert(name.to_vec());
                }
                dir.whiteouts.remove(new_name);
                if let Some(replaced) = dir.entries.insert(new_name.to_vec(), Arc::clone(&node)) {
                    replaced_gone(&replaced, self);
                }
            }
            drop(dir);
            node.touch(false);
            self.touch(true);
            return Ok(());
        }
        // Two directories, locked in address order.
        let (mut old, mut new) = if (self as *const MemNode) < (target_dir as *const MemNode) {
            let old = self.dir()?;
            (old, target_dir.dir()?)
        } else {
            let new = target_dir.dir()?;
            (self.dir()?, new)
        };
        let node = self.entry(&mut old, name)?;
        let existing = optional(target_dir.entry(&mut new, new_name))?;
        let is_a_parent =
            |node: &Arc<MemNode>| std::ptr::eq(node.as_ref(), self) || std::ptr::eq(node.as_ref(), target_dir);
        if existing.as_ref().is_some_and(is_a_parent) {
            return Err(if flags.exchange {
                Errno::EINVAL
            } else {
                Errno::ENOTEMPTY
            });
        }
        check_replace(&node, existing.as_ref(), flags)?;
        if existing.as_ref().is_some_and(|existing| Arc::ptr_eq(existing, &node)) {
            return Ok(());
        }
        if flags.exchange {
            let other = existing.expect("checked by check_replace");
            old.entries.insert(name.to_vec(), Arc::clone(&other));
            new.entries.insert(new_name.to_vec(), Arc::clone(&node));
            fix_dir_links(&other, target_dir, self);
            fix_dir_links(&node, self, target_dir);
        } else {
            old.entries.remove(name);
            if old.lower.is_some() {
                old.whiteouts.insert(name.to_vec());
            }
            new.whiteouts.remove(new_name);
            if let Some(replaced) = new.entries.insert(new_name.to_vec(), Arc::clone(&node)) {
                replaced_gone(&replaced, target_dir);
            }
            fix_dir_links(&node, self, target_dir);
        }
        drop(old);
        drop(new);
        node.touch(false);
        self.touch(true);
        target_dir.touch(true);
        Ok(())
    }

    fn set_attr(&self, attr: SetAttr) -> Result<(), Errno> {
        if let Some(size) = attr.size {
            let Body::File(data) = &self.body else {
                return Err(if self.is_dir() { Errno::EISDIR } else { Errno::EINVAL });
            };
            self.resize(&mut data.lock().expect("memfs data poisoned"), size)?;
        }
        let t = now();
        let mut meta = self.meta();
        if let Some(mode) = attr.mode {
            meta.mode = (meta.mode & libc::S_IFMT) | (mode & 0o7777);
        }
        if let Some(uid) = attr.uid {
            meta.uid = uid;
        }
        if let Some(gid) = attr.gid {
            meta.gid = gid;
        }
        if let Some(atime) = attr.atime {
            meta.atime = atime;
        }
        if let Some(mtime) = attr.mtime {
            meta.mtime = mtime;
        }
        if attr.size.is_some() && attr.mtime.is_none() {
            meta.mtime = t;
        }
        meta.ctime = t;
        Ok(())
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        if let Some(lower) = &self.fs.lower {
            let mut st = lower.root.statfs()?;
            st.f_type = OVERLAY_MAGIC;
            return Ok(st);
        }
        let mut st = crate::vfs::synthetic_statfs(TMPFS_MAGIC);
        if self.fs.limit != u64::MAX {
            let blocks = self.fs.limit / 4096;
            let used = self.fs.used.load(Ordering::Relaxed) / 4096;
            st.f_blocks = blocks;
            st.f_bfree = blocks.saturating_sub(used);
            st.f_bavail = st.f_bfree;
        }
        Ok(st)
    }

    fn shared_pages(&self, offset: u64, len: u64) -> Result<Vec<SharedPiece>, Errno> {
        let Body::File(data) = &self.body else {
            return Err(Errno::ENODEV);
        };
        self.shared(&mut data.lock().expect("memfs data poisoned"), offset, len)
    }

    fn get_xattr(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        self.meta().xattrs.get(name).cloned().ok_or(Errno::ENODATA)
    }

    fn set_xattr(&self, name: &[u8], value: Option<&[u8]>, flags: i32) -> Result<(), Errno> {
        if !name.starts_with(b"user.") && !name.starts_with(b"trusted.") && !name.starts_with(b"security.") {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut meta = self.meta();
        let exists = meta.xattrs.contains_key(name);
        match value {
            None if !exists => return Err(Errno::ENODATA),
            None => {
                meta.xattrs.remove(name);
            }
            Some(_) if flags & libc::XATTR_CREATE != 0 && exists => return Err(Errno::EEXIST),
            Some(_) if flags & libc::XATTR_REPLACE != 0 && !exists => return Err(Errno::ENODATA),
            Some(value) => {
                meta.xattrs.insert(name.to_vec(), value.to_vec());
            }
        }
        meta.ctime = now();
        Ok(())
    }

    fn list_xattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(self.meta().xattrs.keys().cloned().collect())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An entry that may be missing: ENOENT becomes None.
fn optional(entry: Result<Arc<MemNode>, Errno>) -> Result<Option<Arc<MemNode>>, Errno> {
    match entry {
        Ok(node) => Ok(Some(node)),
        Err(Errno::ENOENT) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// rename(2)'s rules for replacing `existing` with `node`.
fn check_replace(node: &MemNode, existing: Option<&Arc<MemNode>>, flags: RenameFlags) -> Result<(), Errno> {
    let Some(existing) = existing else {
        return if flags.exchange { Err(Errno::ENOENT) } else { Ok(()) };
    };
    if flags.no_replace {
        return Err(Errno::EEXIST);
    }
    if std::ptr::eq(node, existing.as_ref()) || flags.exchange {
        return Ok(());
    }
    match (node.is_dir(), existing.is_dir()) {
        (true, false) => Err(Errno::ENOTDIR),
        (false, true) => Err(Errno::EISDIR),
        (true, true) if !existing.is_empty_dir()? => Err(Errno::ENOTEMPTY),
        _ => Ok(()),
    }
}

/// A node replaced by a rename loses the name it had.
fn replaced_gone(replaced: &MemNode, dir: &MemNode) {
    if let Body::Dir(entries) = &replaced.body {
        entries.lock().expect("memfs dir poisoned").removed = true;
        replaced.meta().nlink = 0;
        dir.subdir_removed();
    } else {
        let mut meta = replaced.meta();
        meta.nlink = meta.nlink.saturating_sub(1);
    }
}

/// A directory moved from `from` to `to` moves its ".." link count.
fn fix_dir_links(node: &MemNode, from: &MemNode, to: &MemNode) {
    if node.is_dir() && !std::ptr::eq(from, to) {
        from.subdir_removed();
        to.subdir_added();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::identity;

    fn tmpfs() -> Arc<MemNode> {
        let memory = Arc::new(MemoryFile::new().expect("memfd"));
        MemFs::tmpfs(memory, 1, u64::MAX, 0o755)
    }

    fn attr() -> NewAttr {
        NewAttr {
            mode: 0o644,
            uid: 0,
            gid: 0,
        }
    }

    fn names(dir: &Arc<dyn Inode>) -> Vec<Vec<u8>> {
        dir.readdir().unwrap().into_iter().map(|entry| entry.name).collect()
    }

    /// The two directories are locked in address order; the entry must
    /// move from the old to the new whichever comes first.
    #[test]
    fn rename_between_directories_in_both_directions() {
        let root = tmpfs();
        let a = root.create(b"a", NewNode::Directory, attr()).unwrap();
        let b = root.create(b"b", NewNode::Directory, attr()).unwrap();
        let file = a.create(b"f", NewNode::Regular, attr()).unwrap();
        a.rename(b"f", &b, b"g", RenameFlags::default()).unwrap();
        assert!(names(&a).is_empty());
        assert_eq!(names(&b), [b"g".to_vec()]);
        b.rename(b"g", &a, b"f", RenameFlags::default()).unwrap();
        assert_eq!(names(&a), [b"f".to_vec()]);
        assert!(names(&b).is_empty());
        assert_eq!(identity(a.lookup(b"f").unwrap().as_ref()), identity(file.as_ref()));
    }

    /// rename(2): two links of one file stay as they are.
    #[test]
    fn rename_between_links_of_one_file_does_nothing() {
        let root = tmpfs();
        let file = root.create(b"x", NewNode::Regular, attr()).unwrap();
        root.link(b"y", &file).unwrap();
        let dir: Arc<dyn Inode> = root.clone();
        root.rename(b"x", &dir, b"y", RenameFlags::default()).unwrap();
        assert_eq!(names(&dir), [b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(file.stat().unwrap().st_nlink, 2);
        let no_replace = RenameFlags {
            no_replace: true,
            ..RenameFlags::default()
        };
        assert_eq!(root.rename(b"x", &dir, b"x", no_replace), Err(Errno::EEXIST));
    }

    /// rmdir(2) leaves an open directory that nothing can be made in or
    /// listed from, as Linux's dead directories.
    #[test]
    fn a_removed_directory_takes_no_new_names() {
        let root = tmpfs();
        let dir = root.create(b"d", NewNode::Directory, attr()).unwrap();
        root.unlink(b"d", true).unwrap();
        assert_eq!(dir.stat().unwrap().st_nlink, 0);
        assert_eq!(dir.create(b"f", NewNode::Regular, attr()).err(), Some(Errno::ENOENT));
        assert_eq!(dir.readdir().err(), Some(Errno::ENOENT));
        assert_eq!(dir.lookup(b"f").err(), Some(Errno::ENOENT));
        assert_eq!(root.stat().unwrap().st_nlink, 2);
    }

    /// tmpfs charges the pages that hold data: holes are free, and a write
    /// that does not fit is cut at the last page that did.
    #[test]
    fn only_data_pages_count_against_the_size() {
        let memory = Arc::new(MemoryFile::new().expect("memfd"));
        let root = MemFs::tmpfs(memory, 1, 3 * PAGE_SIZE, 0o755);
        let file = root.create(b"f", NewNode::Regular, attr()).unwrap();
        assert_eq!(file.write_at(b"x", 1 << 20).unwrap(), 1);
        let st = file.stat().unwrap();
        assert_eq!((st.st_size, st.st_blocks), ((1 << 20) + 1, 8));
        let grow = SetAttr {
            size: Some(1 << 30),
            ..SetAttr::default()
        };
        file.set_attr(grow).unwrap();
        let page = vec![7u8; PAGE_SIZE as usize];
        let three_pages = page.repeat(3);
        assert_eq!(file.write_at(&three_pages, 0).unwrap(), 2 * PAGE_SIZE as usize);
        assert_eq!(file.write_at(&page, 8 * PAGE_SIZE), Err(Errno::ENOSPC));
        assert_eq!(root.statfs().unwrap().f_bfree, 0);
        root.unlink(b"f", false).unwrap();
        drop(file);
        assert_eq!(root.statfs().unwrap().f_bfree, 3);
    }

    /// Host files keep their inode numbers on the root's host filesystem
    /// only: /proc, another filesystem, is numbered by the overlay, the
    /// same way in listings and in stat.
    #[test]
    fn an_overlay_numbers_files_of_other_host_filesystems() {
        let memory = Arc::new(MemoryFile::new().expect("memfd"));
        let fd = nix::fcntl::open("/", nix::fcntl::OFlag::O_PATH, nix::sys::stat::Mode::empty()).expect("open /");
        let root = MemFs::overlay(memory, 1, HostNode::from_fd(&fd).unwrap()).unwrap();
        let host_root = nix::sys::stat::stat("/").unwrap();
        assert_eq!(root.stat().unwrap().st_ino, host_root.st_ino);
        let proc = root.lookup(b"proc").unwrap();
        let proc_ino = proc.stat().unwrap().st_ino;
        assert!(proc_ino >= FIRST_MEMORY_INO, "/proc kept host inode {proc_ino}");
        let version = proc.lookup(b"version").unwrap().stat().unwrap().st_ino;
        let listed = proc
            .readdir()
            .unwrap()
            .into_iter()
            .find(|entry| entry.name == b"version")
            .unwrap();
        assert_eq!(listed.ino, version);
        assert!(version >= FIRST_MEMORY_INO);
        assert_eq!(proc.stat().unwrap().st_ino, proc_ino, "numbers are stable");
    }

    /// Directories whose filesystem does not count subdirectories (nlink
    /// 1, as btrfs's) keep 1; nothing drops below 2 otherwise.
    #[test]
    fn directory_link_counts_never_underflow() {
        let root = tmpfs();
        root.meta().nlink = 1;
        let a = root.create(b"a", NewNode::Directory, attr()).unwrap();
        root.create(b"b", NewNode::Directory, attr()).unwrap();
        assert_eq!(root.stat().unwrap().st_nlink, 1);
        root.unlink(b"a", true).unwrap();
        root.unlink(b"b", true).unwrap();
        assert_eq!(root.stat().unwrap().st_nlink, 1);
        assert_eq!(a.stat().unwrap().st_nlink, 0);
        let counted = tmpfs();
        counted.create(b"c", NewNode::Directory, attr()).unwrap();
        assert_eq!(counted.stat().unwrap().st_nlink, 3);
        counted.unlink(b"c", true).unwrap();
        assert_eq!(counted.stat().unwrap().st_nlink, 2);
    }
}
