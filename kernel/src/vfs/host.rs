//! Host files: the container's rootfs and bind mounts, read through fds.
//!
//! Every node holds an `O_PATH` fd. A child is opened from its parent's fd,
//! one component at a time, with openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS) and O_NOFOLLOW: the host
//! never resolves a symlink or a `..` for the application (the VFS does,
//! inside the container's root), so no host path outside the tree is ever
//! named. Host nodes are read-only; writes go to the memory overlay above.

use std::any::Any;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

use nix::errno::Errno;

use super::{DirEntry, FileKind, Inode};

/// Opens `name` (one component) beneath `dir` with openat2, refusing
/// symlinks, magic links and escapes.
fn open_beneath(dir: RawFd, name: &[u8], flags: i32) -> Result<OwnedFd, Errno> {
    if name.is_empty() || name.contains(&b'/') || name == b".." {
        return Err(Errno::EINVAL);
    }
    let c_name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: open_how is plain integers; zero is a valid start.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_SYMLINKS;
    loop {
        // SAFETY: openat2 reads the name and the open_how struct, both
        // valid for the call; the returned fd is owned below.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                c_name.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: fd was just returned by openat2 and is owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        match Errno::last() {
            Errno::EINTR | Errno::EAGAIN => continue,
            errno => return Err(errno),
        }
    }
}

fn fstat(fd: &OwnedFd) -> Result<libc::stat, Errno> {
    nix::sys::stat::fstat(fd.as_fd())
}

/// Reopens `fd` itself as O_PATH (".", beneath itself).
fn open_beneath_self(fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: open_how is plain integers; zero is a valid start.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: as in open_beneath.
    let new = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            fd,
            c".".as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if new < 0 {
        // Not a directory: keep a duplicate of the fd itself.
        return nix::unistd::dup(
            // SAFETY: the caller's fd is open for the duration of this call.
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        );
    }
    // SAFETY: new was just returned by openat2 and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

/// A file, directory or symlink of the host.
pub struct HostNode {
    /// O_PATH, O_NOFOLLOW: names the node without opening it.
    fd: OwnedFd,
    /// The parent and this node's name in it: regular files are reopened
    /// for reading from there (an O_PATH fd cannot be reopened without
    /// /proc's magic links).
    origin: Option<(Arc<HostNode>, Vec<u8>)>,
    /// The identity the node had when looked up; a reopen must find the
    /// same file.
    ino: (u64, u64),
    /// A read-only fd of a regular file, opened on first read.
    reader: OnceLock<OwnedFd>,
}

impl HostNode {
    /// Wraps a host fd handed to the kernel (the rootfs, a bind mount
    /// source; a directory or a file, any open mode) as the root of a tree.
    pub fn from_fd(fd: &OwnedFd) -> Result<Arc<HostNode>, Errno> {
        let path_fd = open_beneath_self(fd.as_raw_fd())?;
        HostNode::new(path_fd, None)
    }

    fn new(fd: OwnedFd, origin: Option<(Arc<HostNode>, Vec<u8>)>) -> Result<Arc<HostNode>, Errno> {
        let st = fstat(&fd)?;
        Ok(Arc::new(HostNode {
            fd,
            origin,
            ino: (st.st_dev, st.st_ino),
            reader: OnceLock::new(),
        }))
    }

    /// The child `name`, as a host node.
    pub fn lookup_host(self: &Arc<Self>, name: &[u8]) -> Result<Arc<HostNode>, Errno> {
        let fd = open_beneath(self.fd.as_raw_fd(), name, libc::O_PATH)?;
        HostNode::new(fd, Some((Arc::clone(self), name.to_vec())))
    }

    /// The entries of a host directory.
    pub fn list(&self) -> Result<Vec<DirEntry>, Errno> {
        let fd = open_self(self.fd.as_raw_fd(), libc::O_RDONLY | libc::O_DIRECTORY)?;
        let mut dir = nix::dir::Dir::from_fd(fd)?;
        let mut entries = Vec::new();
        for entry in dir.iter() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let kind = match entry.file_type() {
                Some(nix::dir::Type::Directory) => FileKind::Directory,
                Some(nix::dir::Type::Symlink) => FileKind::Symlink,
                Some(nix::dir::Type::Fifo) => FileKind::Fifo,
                Some(nix::dir::Type::CharacterDevice) => FileKind::CharDevice,
                Some(nix::dir::Type::BlockDevice) => FileKind::BlockDevice,
                Some(nix::dir::Type::Socket) => FileKind::Socket,
                _ => FileKind::Regular,
            };
            entries.push(DirEntry {
                name: name.to_vec(),
                ino: entry.ino(),
                kind,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The read-only fd of a regular file, opened on first use from the
    /// parent and checked to be the file that was looked up.
    fn reader(&self) -> Result<&OwnedFd, Errno> {
        if let Some(fd) = self.reader.get() {
            return Ok(fd);
        }
        let fd = match &self.origin {
            Some((parent, name)) => open_beneath(parent.fd.as_raw_fd(), name, libc::O_RDONLY)?,
            None => open_self(self.fd.as_raw_fd(), libc::O_RDONLY)?,
        };
        let st = fstat(&fd)?;
        if (st.st_dev, st.st_ino) != self.ino {
            return Err(Errno::ESTALE);
        }
        Ok(self.reader.get_or_init(|| fd))
    }
}

/// Reopens a directory fd (".", beneath itself) with `flags`.
fn open_self(fd: RawFd, flags: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: open_how is plain integers; zero is a valid start.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: as in open_beneath.
    let new = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            fd,
            c".".as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if new < 0 {
        return Err(Errno::last());
    }
    // SAFETY: new was just returned by openat2 and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

/// What a host node answers for the inodes built on it.
impl HostNode {
    pub fn stat(&self) -> Result<libc::stat, Errno> {
        fstat(&self.fd)
    }

    pub fn readlink(&self) -> Result<Vec<u8>, Errno> {
        let target = nix::fcntl::readlinkat(self.fd.as_fd(), c"")?;
        Ok(target.into_encoded_bytes())
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let fd = self.reader()?;
        loop {
            match nix::sys::uio::pread(fd, buf, offset as i64) {
                Err(Errno::EINTR) => continue,
                result => return result,
            }
        }
    }

    pub fn statfs(&self) -> Result<libc::statfs, Errno> {
        // SAFETY: statfs is plain integers; zero is a valid value.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: fstatfs writes the struct just made; the fd is open.
        if unsafe { libc::fstatfs(self.fd.as_raw_fd(), &mut st) } < 0 {
            return Err(Errno::last());
        }
        Ok(st)
    }
}

/// A host tree mounted directly (a read-only bind mount): each node is a
/// [`HostNode`] that can hand out its children.
pub struct HostTree {
    node: Arc<HostNode>,
}

impl HostTree {
    pub fn new(node: Arc<HostNode>) -> Arc<HostTree> {
        Arc::new(HostTree { node })
    }
}

impl Inode for HostTree {
    fn stat(&self) -> Result<libc::stat, Errno> {
        self.node.stat()
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        Ok(HostTree::new(self.node.lookup_host(name)?))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        self.node.list()
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        self.node.readlink()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.node.read_at(buf, offset)
    }

    fn create(&self, _: &[u8], _: super::NewNode, _: super::NewAttr) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::EROFS)
    }

    fn link(&self, _: &[u8], _: &Arc<dyn Inode>) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn unlink(&self, _: &[u8], _: bool) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn rename(&self, _: &[u8], _: &Arc<dyn Inode>, _: &[u8], _: super::RenameFlags) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn set_attr(&self, _: super::SetAttr) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn statfs(&self) -> Result<libc::statfs, Errno> {
        self.node.statfs()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
