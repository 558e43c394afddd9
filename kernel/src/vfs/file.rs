//! Files as the application sees them: every open file description is a
//! [`File`].

use std::any::Any;

use nix::errno::Errno;

use crate::abi::structs::Stat;
use crate::mm::SharedPiece;
use crate::vfs::caller::Caller;
use crate::vfs::terminal::Terminal;

/// An open file description.
///
/// I/O moves data through kernel buffers: the system-call layer copies to
/// and from application memory, so no file holds the memory manager while
/// it blocks. Blocking operations sleep through their [`Caller`] (a
/// [`crate::sync::Block`]), which returns EINTR when a signal arrives.
pub trait File: Send + Sync {
    /// Reads into `buf`, at `offset` or at the file position when `None`.
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno>;
    /// Writes `data`, at `offset` or at the file position when `None`.
    fn write(&self, caller: &dyn Caller, data: &[u8], offset: Option<u64>) -> Result<usize, Errno>;
    /// fstat(2) of the file.
    fn stat(&self) -> Result<Stat, Errno>;
    /// The file status flags (O_ACCMODE, O_APPEND, O_NONBLOCK, …) as
    /// F_GETFL reports them.
    fn status_flags(&self) -> Result<u32, Errno>;
    /// F_SETFL: changes O_APPEND/O_NONBLOCK/… where the file supports it.
    fn set_status_flags(&self, _flags: u32) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// F_GETPIPE_SZ; files that are not pipes answer EBADF.
    fn pipe_size(&self) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    /// F_SETPIPE_SZ: returns the capacity actually set.
    fn set_pipe_size(&self, _size: usize) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    /// Readiness for poll(2): the POLL* bits that hold now.
    fn poll(&self) -> u16;
    /// Where a waiter learns that readiness may have changed; None for host
    /// files, whose readiness is polled.
    fn wait_queue(&self) -> Option<&crate::sync::WaitQueue> {
        None
    }
    /// lseek(2); pipes and other streams answer ESPIPE.
    fn seek(&self, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }
    /// The file position /proc/PID/fdinfo shows. It must not wait for a
    /// read, write or seek of the file in progress: that may be the very
    /// read generating the text (fd N reading /proc/self/fdinfo/N, which
    /// holds fd N's position lock), as Linux's fdinfo reads f_pos without
    /// f_pos_lock.
    fn fdinfo_position(&self) -> u64 {
        self.seek(0, libc::SEEK_CUR).unwrap_or(0)
    }
    /// Where the file was opened, for files found by path: the dirfd of
    /// *at calls, fchdir, /proc/self/fd.
    fn location(&self) -> Option<&crate::vfs::Location> {
        None
    }
    /// getdents64(2): the next entries as linux_dirent64 records, at most
    /// `capacity` bytes; EINVAL when not even one fits.
    fn getdents(&self, _capacity: usize) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// ftruncate(2).
    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// fsync(2) and fdatasync(2); files with nothing to sync say EINVAL.
    fn sync(&self) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// ioctl(2) on behalf of `caller`; files without ioctls answer ENOTTY,
    /// as Linux does.
    fn ioctl(&self, _caller: &dyn Caller, _request: u64, _arg: u64) -> Result<u64, Errno> {
        Err(Errno::ENOTTY)
    }
    /// Whether readiness means anything for the file; epoll refuses files
    /// that answer no (regular files) with EPERM.
    fn pollable(&self) -> bool {
        true
    }
    /// mmap(2) of a file with no name (a memfd) of `len` bytes from
    /// `offset` (both page multiples): the memory-file pieces that hold
    /// them, in order. `shared_write` asks for a writable MAP_SHARED
    /// mapping. Files found by path map through their inode instead
    /// (`Inode::shared_pages`); files that cannot be mapped answer ENODEV.
    fn mmap(&self, _offset: u64, _len: u64, _shared_write: bool) -> Result<Vec<SharedPiece>, Errno> {
        Err(Errno::ENODEV)
    }
    /// What /proc/PID/fd/N links to (`anon_inode:[eventfd]`, `/memfd:x
    /// (deleted)`), when the kernel can name it.
    fn link_name(&self) -> Option<String> {
        None
    }
    /// The file itself, for callers that need its type: epoll_ctl looks
    /// for epoll instances, F_ADD_SEALS for memfds.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
    /// The terminal this file is a side of, if opening it may make it a
    /// controlling terminal (a pty master is not).
    fn terminal(&self) -> Option<std::sync::Arc<dyn Terminal>> {
        None
    }
}
