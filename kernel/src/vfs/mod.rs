//! The virtual filesystem (DESIGN.md §3.4): inodes, dentries, mounts, path
//! resolution and the open files that name them.
//!
//! Lock order, each lock before those indented under it:
//!
//! - a mount's `rename_lock` (one rename or rmdir of the mount at a time)
//!   - a dentry's `children` (its cache of live children), held across the
//!     filesystem's lookup
//!     - the filesystem's locks: a memfs directory's entries (a parent's
//!       before a child's), then nodes' `meta`; for /proc the task set's
//!       lock and a process's fd table; for /dev/pts the pty table's
//!   - a mount's `children` (the mounts on its dentries)
//! - an open file's `position` (its reads, writes and seeks one at a time),
//!   held across the inode's read and write
//!   - the filesystem's locks (a memfs file's data) and, for /proc, the
//!     task set's lock and a process's memory manager, fd table and fs
//!     context; never another open file's `position`
//! - an fd table (`Task::fds`)
//!   - whatever a file's drop takes, for the files it drops
//!     (`close_on_exec`, an fd replaced by dup2)
//! - the task set's lock
//!   - a terminal's `Control` (`terminal`)
//!
//! Leaves, under which nothing is taken: a dentry's `place`, a namespace's
//! `mounts`, the lock table's `files` (`locks`).
//!
//! Every filesystem implements [`Inode`]; the rest of the kernel reaches
//! files only through a [`Location`] (a mount and a dentry) found by
//! [`lookup`]. Filesystems:
//! - `host`: directories and files of the host, opened one component at a
//!   time beneath a directory fd (never by a host path);
//! - `memfs`: files in sandbox memory; with a host directory beneath it, it
//!   is the overlay that keeps the application's writes off the host rootfs,
//!   without one it is tmpfs;
//! - `devfs`, `devpts`, `procfs`, `sysfs`: synthetic.

pub mod anon_inode;
pub mod caller;
mod dentry;
mod fd_table;
mod file;
pub mod locks;
pub mod lookup;
mod mount;
mod open_file;
pub mod ops;
pub mod status_flags;
pub mod synthetic;
pub mod terminal;

use std::any::Any;
use std::sync::Arc;

use nix::errno::Errno;

pub use dentry::{Dentry, Location};
pub use fd_table::FdTable;
pub use mount::{DeviceNumbers, MountFlags, MountNamespace};
pub use open_file::OpenFile;

use crate::abi::Credentials;
use crate::abi::capability::Capability;
use crate::abi::structs::{Stat, Statfs, Timespec};
use crate::vfs::caller::Caller;
pub use file::File;

/// Linux's MAXSYMLINKS: how many symlinks one resolution may follow.
pub const MAX_SYMLINKS: u32 = 40;
/// NAME_MAX: the longest file name.
pub const NAME_MAX: usize = 255;

/// What a directory entry is, as getdents64 reports it (DT_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

impl FileKind {
    /// The kind an st_mode names.
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Directory,
            libc::S_IFLNK => FileKind::Symlink,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFCHR => FileKind::CharDevice,
            libc::S_IFBLK => FileKind::BlockDevice,
            libc::S_IFSOCK => FileKind::Socket,
            _ => FileKind::Regular,
        }
    }

    /// The S_IFMT bits of this kind.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileKind::Regular => libc::S_IFREG,
            FileKind::Directory => libc::S_IFDIR,
            FileKind::Symlink => libc::S_IFLNK,
            FileKind::Fifo => libc::S_IFIFO,
            FileKind::CharDevice => libc::S_IFCHR,
            FileKind::BlockDevice => libc::S_IFBLK,
            FileKind::Socket => libc::S_IFSOCK,
        }
    }

    /// The DT_* value getdents64 reports.
    pub fn dirent_type(self) -> u8 {
        match self {
            FileKind::Regular => libc::DT_REG,
            FileKind::Directory => libc::DT_DIR,
            FileKind::Symlink => libc::DT_LNK,
            FileKind::Fifo => libc::DT_FIFO,
            FileKind::CharDevice => libc::DT_CHR,
            FileKind::BlockDevice => libc::DT_BLK,
            FileKind::Socket => libc::DT_SOCK,
        }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: FileKind,
}

/// What a new directory entry is to be.
#[derive(Debug, Clone)]
pub enum NewNode {
    Regular,
    Directory,
    Symlink(Vec<u8>),
    Fifo,
    /// A character device with this device number (mknod).
    CharDevice(u64),
}

/// The owner, mode and times of a node being created.
#[derive(Debug, Clone, Copy)]
pub struct NewAttr {
    /// Permission bits (already masked by the umask).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A change of attributes (chmod, chown, utimensat, truncate).
#[derive(Debug, Clone, Copy, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}

/// renameat2's flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenameFlags {
    pub no_replace: bool,
    pub exchange: bool,
}

/// A file, directory or link of some filesystem.
///
/// Operations a filesystem does not support keep their default, which
/// answers as Linux does for such a file (ENOTDIR on a non-directory, EPERM
/// or EROFS where the filesystem refuses changes).
pub trait Inode: Send + Sync + Any {
    /// stat(2) of the node. st_dev names its filesystem, st_ino the node.
    fn stat(&self) -> Result<Stat, Errno>;

    /// The child `name` (never "." or ".."; the VFS walks those itself).
    fn lookup(&self, _name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Every entry but "." and "..", in a stable order.
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// The target of a symlink.
    fn readlink(&self, _caller: &dyn Caller) -> Result<Vec<u8>, Errno> {
        Err(Errno::EINVAL)
    }

    /// Where following a "magic link" of /proc (exe, cwd, root, fd/N)
    /// leads: straight to a location, as Linux's nd_jump_link does, rather
    /// than by walking the text `readlink` shows. `link` is where the link
    /// itself was found. None for an ordinary symlink.
    fn follow_link(&self, _caller: &dyn Caller, _link: &Location) -> Result<Option<Location>, Errno> {
        Ok(None)
    }

    /// Reads file data at `offset`; 0 at or past the end.
    fn read_at(&self, _caller: &dyn Caller, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    /// Writes file data at `offset`, growing the file as needed.
    fn write_at(&self, _data: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    /// The node's own pages for a MAP_SHARED mapping of `[offset, offset +
    /// len)` (page-aligned): only files whose data lives in the memory file
    /// have them; others answer ENODEV.
    fn shared_pages(&self, _offset: u64, _len: u64) -> Result<Vec<crate::mm::SharedPiece>, Errno> {
        Err(Errno::ENODEV)
    }

    /// Writes data at the end of the file, as one step with finding the
    /// end (O_APPEND); returns the bytes written and the offset after them.
    fn append(&self, data: &[u8]) -> Result<(usize, u64), Errno> {
        let end = self.stat()?.st_size as u64;
        let written = self.write_at(data, end)?;
        Ok((written, end + written as u64))
    }

    /// fallocate(FALLOC_FL_PUNCH_HOLE): zeros `offset..offset + len` within
    /// the file, freeing whole pages.
    fn punch_hole(&self, _offset: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// Opens a node whose files are not plain data (FIFOs, synthetic files
    /// computed at open); opening may wait (a FIFO waits for its other end).
    /// `None`: the VFS's generic [`OpenFile`] over
    /// `read_at`/`write_at`/`readdir` serves it.
    fn open(&self, _location: &Location, _flags: i32, _caller: &dyn Caller) -> Result<Option<Arc<dyn File>>, Errno> {
        Ok(None)
    }

    /// Makes the entry `name` in this directory.
    fn create(&self, _name: &[u8], _node: NewNode, _attr: NewAttr) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::EPERM)
    }

    /// link(2): a new entry `name` for `target`, which is on this filesystem.
    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// unlink(2), or rmdir(2) when `directory`.
    fn unlink(&self, _name: &[u8], _directory: bool) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// rename(2) of `name` here to `new_name` in `new_dir` (same filesystem).
    fn rename(
        &self,
        _name: &[u8],
        _new_dir: &Arc<dyn Inode>,
        _new_name: &[u8],
        _flags: RenameFlags,
    ) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// chmod, chown, utimensat, truncate.
    fn set_attr(&self, _attr: SetAttr) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// statfs(2) of the filesystem.
    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(synthetic_statfs(0x0102_1994))
    }

    /// getxattr(2); filesystems without extended attributes say ENOTSUP.
    fn get_xattr(&self, _name: &[u8]) -> Result<Vec<u8>, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// setxattr(2) (`value` None: removexattr).
    fn set_xattr(&self, _name: &[u8], _value: Option<&[u8]>, _flags: i32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// listxattr(2).
    fn list_xattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// The node as `Any`, so a filesystem can recognise its own nodes
    /// (rename and link across directories).
    fn as_any(&self) -> &dyn Any;
}

/// (st_dev, st_ino): what makes two inodes the same file.
pub fn identity(inode: &dyn Inode) -> Option<(u64, u64)> {
    inode.stat().ok().map(|st| (st.st_dev, st.st_ino))
}

/// A statfs answer for filesystems with no real capacity.
pub fn synthetic_statfs(magic: i64) -> Statfs {
    Statfs {
        f_type: magic,
        f_bsize: 4096,
        f_namelen: NAME_MAX as i64,
        f_frsize: 4096,
        ..Statfs::default()
    }
}

/// The empty stat every filesystem starts from.
pub fn empty_stat() -> Stat {
    Stat::default()
}

/// The access a check asks for (the bits of access(2)'s mode).
pub const MAY_READ: u32 = 4;
pub const MAY_WRITE: u32 = 2;
pub const MAY_EXEC: u32 = 1;

/// Linux's generic_permission: the owner, group or other bits for the
/// filesystem ids, then the capabilities that override them:
/// CAP_DAC_OVERRIDE (everything but executing a file no one may execute)
/// and CAP_DAC_READ_SEARCH (reading files, reading and searching
/// directories).
pub fn check_access(st: &Stat, creds: &Credentials, want: u32) -> Result<(), Errno> {
    let bits = if st.st_uid == creds.fsuid {
        (st.st_mode >> 6) & 7
    } else if creds.in_group(st.st_gid) {
        (st.st_mode >> 3) & 7
    } else {
        st.st_mode & 7
    };
    if want & !bits == 0 {
        return Ok(());
    }
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if creds.has(Capability::DAC_OVERRIDE) && (want & MAY_EXEC == 0 || is_dir || st.st_mode & 0o111 != 0) {
        return Ok(());
    }
    let reads_or_searches = if is_dir {
        want & MAY_WRITE == 0
    } else {
        want == MAY_READ
    };
    if creds.has(Capability::DAC_READ_SEARCH) && reads_or_searches {
        return Ok(());
    }
    Err(Errno::EACCES)
}

/// Now, as a timespec on the realtime clock.
pub fn now() -> Timespec {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timespec {
        tv_sec: now.as_secs() as i64,
        tv_nsec: i64::from(now.subsec_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_of(mode: u32, uid: u32, gid: u32) -> Stat {
        let mut st = empty_stat();
        st.st_mode = mode;
        st.st_uid = uid;
        st.st_gid = gid;
        st
    }

    #[test]
    fn access_follows_owner_group_other_and_root() {
        let user = Credentials::new(1000, 1000, vec![27]);
        let root = Credentials::default();
        let file = stat_of(libc::S_IFREG | 0o640, 1000, 27);
        assert_eq!(check_access(&file, &user, MAY_READ | MAY_WRITE), Ok(()));
        assert_eq!(check_access(&file, &user, MAY_EXEC), Err(Errno::EACCES));
        let other = Credentials::new(1001, 1001, vec![27]);
        assert_eq!(check_access(&file, &other, MAY_READ), Ok(()));
        assert_eq!(check_access(&file, &other, MAY_WRITE), Err(Errno::EACCES));
        assert_eq!(check_access(&file, &root, MAY_WRITE), Ok(()));
        assert_eq!(check_access(&file, &root, MAY_EXEC), Err(Errno::EACCES));
        let dir = stat_of(libc::S_IFDIR | 0o700, 1000, 1000);
        assert_eq!(check_access(&dir, &root, MAY_EXEC), Ok(()));
        assert_eq!(check_access(&dir, &other, MAY_EXEC), Err(Errno::EACCES));
    }

    #[test]
    fn root_is_privileged_by_its_capabilities_only() {
        let file = stat_of(libc::S_IFREG | 0o600, 1000, 1000);
        let mut root = Credentials::default();
        root.caps.effective.remove(Capability::DAC_OVERRIDE);
        assert_eq!(
            check_access(&file, &root, MAY_READ),
            Ok(()),
            "CAP_DAC_READ_SEARCH reads"
        );
        assert_eq!(check_access(&file, &root, MAY_WRITE), Err(Errno::EACCES));
        root.caps.effective.remove(Capability::DAC_READ_SEARCH);
        assert_eq!(check_access(&file, &root, MAY_READ), Err(Errno::EACCES));
        let mut reader = Credentials::new(1001, 1001, vec![]);
        reader.caps.effective.insert(Capability::DAC_READ_SEARCH);
        let dir = stat_of(libc::S_IFDIR | 0o700, 1000, 1000);
        assert_eq!(check_access(&dir, &reader, MAY_READ | MAY_EXEC), Ok(()));
        assert_eq!(check_access(&dir, &reader, MAY_WRITE), Err(Errno::EACCES));
    }
}
