//! Files as the application sees them: open file descriptions behind the
//! [`File`] trait, and the per-process [`FdTable`].
//!
//! For now the only files are host fds the kernel was handed (the
//! container's stdio); the VFS arrives with the filesystems issue.

mod fd_table;
mod host;

pub use fd_table::FdTable;
pub use host::HostFile;

use nix::errno::Errno;

use crate::memory::MemoryManager;

/// An open file description.
///
/// I/O goes through host iovecs that point straight into application memory
/// (see `MemoryManager::host_iovecs`), so data is never copied twice.
pub trait File: Send + Sync {
    /// Reads into `iov`, at `offset` or at the file position when `None`.
    fn read(&self, iov: &[libc::iovec], offset: Option<u64>) -> Result<usize, Errno>;
    /// Writes from `iov`, at `offset` or at the file position when `None`.
    fn write(&self, iov: &[libc::iovec], offset: Option<u64>) -> Result<usize, Errno>;
    /// fstat(2) of the file.
    fn stat(&self) -> Result<libc::stat, Errno>;
    /// The file status flags (O_ACCMODE, O_APPEND, O_NONBLOCK, …) as
    /// F_GETFL reports them.
    fn status_flags(&self) -> Result<u32, Errno>;
    /// ioctl(2); files without ioctls answer ENOTTY, as Linux does.
    fn ioctl(&self, _mm: &MemoryManager, _request: u64, _arg: u64) -> Result<u64, Errno> {
        Err(Errno::ENOTTY)
    }
}
