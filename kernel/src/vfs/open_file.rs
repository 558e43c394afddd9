//! The open file description of a file with data or entries: regular
//! files and directories of every filesystem.
//!
//! Lock order: `position` is held across the inode's read, write or
//! listing, so it comes before every lock the filesystem takes there (a
//! memfs file's data, a directory's entries) and, for /proc, the task set's
//! lock and a process's memory manager, fd table and fs context. It is
//! never taken while another file's `position` is held: fdinfo reads
//! `offset` without it. The last drop of a description takes the lock
//! table's `files` (its flock and OFD locks go).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use nix::errno::Errno;

use super::dentry::Location;
use super::{DirEntry, FileKind, SetAttr};
use crate::abi::structs::Stat;
use crate::vfs::File;
use crate::vfs::caller::Caller;

/// The F_SETFL flags Linux lets change.
const SETTABLE_FLAGS: u32 =
    (libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME) as u32;

/// An open regular file or directory.
pub struct OpenFile {
    location: Location,
    kind: FileKind,
    /// The access mode and status flags (F_GETFL).
    flags: AtomicU32,
    /// Held by every read, write, seek and getdents that uses or moves
    /// `offset`, so that they do one at a time.
    position: Mutex<Position>,
    /// The file position; for a directory, the index of the next entry in
    /// the listing. Moved only under `position`; /proc/PID/fdinfo reads it
    /// without (see [`File::fdinfo_position`]).
    offset: AtomicU64,
}

#[derive(Default)]
struct Position {
    /// A directory's entries as they were at the first getdents after
    /// opening or rewinding.
    listing: Option<Vec<DirEntry>>,
}

impl OpenFile {
    pub fn new(location: Location, flags: i32) -> Result<OpenFile, Errno> {
        let kind = FileKind::from_mode(location.stat()?.st_mode);
        let kept = flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_TRUNC | libc::O_CLOEXEC);
        Ok(OpenFile {
            location,
            kind,
            flags: AtomicU32::new(kept as u32),
            position: Mutex::new(Position::default()),
            offset: AtomicU64::new(0),
        })
    }

    fn access_mode(&self) -> i32 {
        self.flags.load(Ordering::Relaxed) as i32 & libc::O_ACCMODE
    }

    fn readable(&self) -> bool {
        self.flags.load(Ordering::Relaxed) as i32 & libc::O_PATH == 0 && self.access_mode() != libc::O_WRONLY
    }

    fn writable(&self) -> bool {
        self.flags.load(Ordering::Relaxed) as i32 & libc::O_PATH == 0 && self.access_mode() != libc::O_RDONLY
    }

    fn position(&self) -> std::sync::MutexGuard<'_, Position> {
        self.position.lock().expect("file position poisoned")
    }

    /// The linux_dirent64 record of one entry.
    fn dirent(entry: &DirEntry, next: u64) -> Vec<u8> {
        let len = (19 + entry.name.len() + 1).next_multiple_of(8);
        let mut record = Vec::with_capacity(len);
        record.extend_from_slice(&entry.ino.to_ne_bytes());
        record.extend_from_slice(&next.to_ne_bytes());
        record.extend_from_slice(&(len as u16).to_ne_bytes());
        record.push(entry.kind.dirent_type());
        record.extend_from_slice(&entry.name);
        record.resize(len, 0);
        record
    }

    /// "." and ".." and then the directory's own entries.
    fn listing(&self) -> Result<Vec<DirEntry>, Errno> {
        let inode = self.location.inode();
        let own = inode.stat()?.st_ino;
        let parent = self
            .location
            .dentry
            .parent()
            .and_then(|parent| parent.inode().stat().ok())
            .map_or(own, |st| st.st_ino);
        let mut entries = vec![
            DirEntry {
                name: b".".to_vec(),
                ino: own,
                kind: FileKind::Directory,
            },
            DirEntry {
                name: b"..".to_vec(),
                ino: parent,
                kind: FileKind::Directory,
            },
        ];
        entries.extend(inode.readdir()?);
        Ok(entries)
    }
}

impl File for OpenFile {
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if self.kind == FileKind::Directory {
            return Err(Errno::EISDIR);
        }
        let inode = self.location.inode();
        match offset {
            Some(offset) => inode.read_at(caller, buf, offset),
            None => {
                let _position = self.position();
                let offset = self.offset.load(Ordering::Relaxed);
                let n = inode.read_at(caller, buf, offset)?;
                self.offset.store(offset + n as u64, Ordering::Relaxed);
                Ok(n)
            }
        }
    }

    fn write(&self, _caller: &dyn Caller, data: &[u8], offset: Option<u64>) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        let inode = self.location.inode();
        let append = self.flags.load(Ordering::Relaxed) & libc::O_APPEND as u32 != 0;
        match offset {
            // pwrite on an O_APPEND file appends anyway, as on Linux, and
            // leaves the position alone.
            Some(_) if append => inode.append(data).map(|(n, _)| n),
            Some(offset) => inode.write_at(data, offset),
            None if append => {
                let _position = self.position();
                let (n, end) = inode.append(data)?;
                self.offset.store(end, Ordering::Relaxed);
                Ok(n)
            }
            None => {
                let _position = self.position();
                let offset = self.offset.load(Ordering::Relaxed);
                let n = inode.write_at(data, offset)?;
                self.offset.store(offset + n as u64, Ordering::Relaxed);
                Ok(n)
            }
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.location.stat()
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags.load(Ordering::Relaxed))
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        let old = self.flags.load(Ordering::Relaxed);
        self.flags
            .store((old & !SETTABLE_FLAGS) | (flags & SETTABLE_FLAGS), Ordering::Relaxed);
        Ok(())
    }

    fn poll(&self) -> u16 {
        (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM) as u16
    }

    fn seek(&self, offset: i64, whence: i32) -> Result<u64, Errno> {
        let mut position = self.position();
        let size = self.location.stat()?.st_size;
        let base = match whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => self.offset.load(Ordering::Relaxed) as i64,
            libc::SEEK_END => size,
            // Every byte is data: the only hole is at the end.
            libc::SEEK_DATA if offset < size => 0,
            libc::SEEK_HOLE if offset < size => return self.set_offset(&mut position, size),
            libc::SEEK_DATA | libc::SEEK_HOLE => return Err(Errno::ENXIO),
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).filter(|&new| new >= 0).ok_or(Errno::EINVAL)?;
        self.set_offset(&mut position, new)
    }

    fn fdinfo_position(&self) -> u64 {
        self.offset.load(Ordering::Relaxed)
    }

    fn location(&self) -> Option<&Location> {
        Some(&self.location)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    /// Regular files and directories are always ready; epoll refuses them.
    fn pollable(&self) -> bool {
        false
    }

    fn getdents(&self, capacity: usize) -> Result<Vec<u8>, Errno> {
        if self.kind != FileKind::Directory {
            return Err(Errno::ENOTDIR);
        }
        let mut position = self.position();
        if position.listing.is_none() {
            position.listing = Some(self.listing()?);
        }
        let start = self.offset.load(Ordering::Relaxed) as usize;
        let listing = position.listing.as_ref().expect("filled above");
        let mut out = Vec::new();
        let mut next = start;
        for entry in listing.iter().skip(start) {
            let record = Self::dirent(entry, next as u64 + 1);
            if out.len() + record.len() > capacity {
                if out.is_empty() {
                    return Err(Errno::EINVAL);
                }
                break;
            }
            out.extend_from_slice(&record);
            next += 1;
        }
        self.offset.store(next as u64, Ordering::Relaxed);
        Ok(out)
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        if !self.writable() || self.kind != FileKind::Regular {
            return Err(Errno::EINVAL);
        }
        self.location.inode().set_attr(SetAttr {
            size: Some(size),
            ..SetAttr::default()
        })
    }

    fn sync(&self) -> Result<(), Errno> {
        Ok(())
    }
}

impl Drop for OpenFile {
    /// The last close of a description drops its flock and OFD locks.
    fn drop(&mut self) {
        super::locks::table().release_owner(super::locks::Owner::Description(self as *const OpenFile as usize));
    }
}

impl OpenFile {
    fn set_offset(&self, position: &mut Position, offset: i64) -> Result<u64, Errno> {
        if self.kind == FileKind::Directory && offset == 0 {
            position.listing = None;
        }
        self.offset.store(offset as u64, Ordering::Relaxed);
        Ok(offset as u64)
    }
}
