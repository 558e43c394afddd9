//! Host files: the container's rootfs and bind mounts, read through fds.
//!
//! Every node holds an `O_PATH` fd. A child is opened from its parent's fd,
//! one component at a time, with openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS) and O_NOFOLLOW: the host
//! never resolves a symlink or a `..` for the application (the VFS does,
//! inside the container's root), so no host path outside the tree is ever
//! named. Under the memory overlay host nodes are only read; a host tree
//! mounted directly (`--overlay=none`, bind mounts) can also be written.

pub mod stdio;
pub mod terminal;

use std::any::Any;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use std::sync::{Arc, OnceLock};

use nix::errno::Errno;

use crate::abi::structs::{Stat, Statfs, Timespec};
use crate::sys;
use crate::vfs::caller::Caller;
use crate::vfs::{DirEntry, FileKind, Inode, NewAttr, NewNode, RenameFlags, SetAttr};

/// Opens `name` (one component) beneath `dir` with openat2, refusing
/// symlinks, magic links and escapes.
fn open_beneath(dir: BorrowedFd<'_>, name: &[u8], flags: i32) -> Result<OwnedFd, Errno> {
    if name.is_empty() || name.contains(&b'/') || name == b".." {
        return Err(Errno::EINVAL);
    }
    let c_name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow::new()
        .flags(OFlag::from_bits_retain(flags | libc::O_CLOEXEC | libc::O_NOFOLLOW))
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS | ResolveFlag::RESOLVE_NO_SYMLINKS);
    loop {
        match nix::fcntl::openat2(dir, c_name.as_c_str(), how) {
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            result => return result,
        }
    }
}

fn fstat(fd: &OwnedFd) -> Result<Stat, Errno> {
    nix::sys::stat::fstat(fd.as_fd()).map(Stat::from)
}

/// Reopens `fd` itself as O_PATH: a directory through ".", anything else
/// (a file bind mount) as a duplicate.
fn open_beneath_self(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    open_self(fd, libc::O_PATH).or_else(|_| nix::unistd::dup(fd))
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
    /// A read-write fd of a regular file, opened on first write.
    writer: OnceLock<OwnedFd>,
}

impl HostNode {
    /// Wraps a host fd handed to the kernel (the rootfs, a bind mount
    /// source; a directory or a file, any open mode) as the root of a tree.
    ///
    /// A file (a single-file bind mount) has no parent to be reopened from:
    /// it is read and written through `fd` itself, which must then be open
    /// for reading (and writing, for a writable mount), not O_PATH.
    pub fn from_fd(fd: &OwnedFd) -> Result<Arc<HostNode>, Errno> {
        let path_fd = open_beneath_self(fd.as_fd())?;
        let node = HostNode::new(path_fd, None)?;
        let st = fstat(fd)?;
        let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFREG && flags & libc::O_PATH == 0 {
            let direct = || nix::unistd::dup(fd);
            if flags & libc::O_ACCMODE != libc::O_WRONLY {
                let _ = node.reader.set(direct()?);
            }
            if flags & libc::O_ACCMODE != libc::O_RDONLY {
                let _ = node.writer.set(direct()?);
            }
        }
        Ok(node)
    }

    fn new(fd: OwnedFd, origin: Option<(Arc<HostNode>, Vec<u8>)>) -> Result<Arc<HostNode>, Errno> {
        let st = fstat(&fd)?;
        Ok(Arc::new(HostNode {
            fd,
            origin,
            ino: (st.st_dev, st.st_ino),
            reader: OnceLock::new(),
            writer: OnceLock::new(),
        }))
    }

    /// The child `name`, as a host node.
    pub fn lookup_host(self: &Arc<Self>, name: &[u8]) -> Result<Arc<HostNode>, Errno> {
        let fd = open_beneath(self.fd.as_fd(), name, libc::O_PATH)?;
        HostNode::new(fd, Some((Arc::clone(self), name.to_vec())))
    }

    /// The entries of a host directory.
    pub fn list(&self) -> Result<Vec<DirEntry>, Errno> {
        let fd = open_self(self.fd.as_fd(), libc::O_RDONLY | libc::O_DIRECTORY)?;
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

    /// A read-write fd of a regular file, opened on first write from the
    /// parent and checked to be the file that was looked up.
    fn writer(&self) -> Result<&OwnedFd, Errno> {
        if let Some(fd) = self.writer.get() {
            return Ok(fd);
        }
        let (parent, name) = self.origin.as_ref().ok_or(Errno::EISDIR)?;
        // O_NONBLOCK: a FIFO swapped in under the name must not block the
        // open; the identity check below then refuses it.
        let fd = open_beneath(
            parent.fd.as_fd(),
            name,
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_NOCTTY,
        )?;
        let st = fstat(&fd)?;
        if (st.st_dev, st.st_ino) != self.ino {
            return Err(Errno::ESTALE);
        }
        Ok(self.writer.get_or_init(|| fd))
    }

    /// chmod through the node's own fd (fchmodat2 with AT_EMPTY_PATH): no
    /// name is resolved on the host.
    fn chmod(&self, mode: u32) -> Result<(), Errno> {
        sys::fs::chmod_fd(self.fd.as_fd(), mode & 0o7777)
    }

    /// chown through the node's own fd; u32::MAX leaves an id unchanged.
    fn chown(&self, uid: u32, gid: u32) -> Result<(), Errno> {
        let uid = (uid != u32::MAX).then(|| Uid::from_raw(uid));
        let gid = (gid != u32::MAX).then(|| Gid::from_raw(gid));
        nix::unistd::fchownat(self.fd.as_fd(), c"", uid, gid, AtFlags::AT_EMPTY_PATH)
    }

    /// The read-only fd of a regular file, opened on first use from the
    /// parent and checked to be the file that was looked up.
    fn reader(&self) -> Result<&OwnedFd, Errno> {
        if let Some(fd) = self.reader.get() {
            return Ok(fd);
        }
        let fd = match &self.origin {
            // O_NONBLOCK as in `writer`.
            Some((parent, name)) => open_beneath(
                parent.fd.as_fd(),
                name,
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
            )?,
            None => open_self(self.fd.as_fd(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)?,
        };
        let st = fstat(&fd)?;
        if (st.st_dev, st.st_ino) != self.ino {
            return Err(Errno::ESTALE);
        }
        Ok(self.reader.get_or_init(|| fd))
    }
}

/// Reopens a directory fd (".", beneath itself) with `flags`.
fn open_self(fd: BorrowedFd<'_>, flags: i32) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::from_bits_retain(flags | libc::O_CLOEXEC))
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(fd, c".", how)
}

/// What a host node answers for the inodes built on it.
impl HostNode {
    pub fn stat(&self) -> Result<Stat, Errno> {
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

    pub fn statfs(&self) -> Result<Statfs, Errno> {
        sys::fs::fstatfs(self.fd.as_fd())
    }
}

/// A host tree mounted directly: the root with `--overlay=none`, or a bind
/// mount. Each node is a [`HostNode`] that hands out its children. Changes
/// (when the tree is writable) go to the host with *at calls relative to
/// the fds the nodes hold, one component at a time, and never follow a
/// symlink: creating, removing and renaming act on the names themselves,
/// and attributes change through the node's own O_PATH fd.
pub struct HostTree {
    node: Arc<HostNode>,
    writable: bool,
}

impl HostTree {
    pub fn new(node: Arc<HostNode>, writable: bool) -> Arc<HostTree> {
        Arc::new(HostTree { node, writable })
    }

    fn check_writable(&self) -> Result<(), Errno> {
        if self.writable { Ok(()) } else { Err(Errno::EROFS) }
    }

    fn dir_fd(&self) -> BorrowedFd<'_> {
        self.node.fd.as_fd()
    }

    /// The host tree node behind an inode of this kind (rename, link).
    fn other<'a>(&self, inode: &'a Arc<dyn Inode>) -> Result<&'a HostTree, Errno> {
        inode.as_any().downcast_ref::<HostTree>().ok_or(Errno::EXDEV)
    }
}

/// A name as a C string for the *at calls (callers pass single components).
fn c_name(name: &[u8]) -> Result<CString, Errno> {
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
        return Err(Errno::EINVAL);
    }
    CString::new(name).map_err(|_| Errno::EINVAL)
}

impl Inode for HostTree {
    fn stat(&self) -> Result<Stat, Errno> {
        self.node.stat()
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        Ok(HostTree::new(self.node.lookup_host(name)?, self.writable))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        self.node.list()
    }

    fn readlink(&self, _caller: &dyn Caller) -> Result<Vec<u8>, Errno> {
        self.node.readlink()
    }

    fn read_at(&self, _caller: &dyn Caller, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.node.read_at(buf, offset)
    }

    fn write_at(&self, data: &[u8], offset: u64) -> Result<usize, Errno> {
        self.check_writable()?;
        let fd = self.node.writer()?;
        loop {
            match nix::sys::uio::pwrite(fd, data, offset as i64) {
                Err(Errno::EINTR) => continue,
                result => return result,
            }
        }
    }

    fn create(&self, name: &[u8], node: NewNode, attr: NewAttr) -> Result<Arc<dyn Inode>, Errno> {
        self.check_writable()?;
        let c = c_name(name)?;
        let dir = self.dir_fd();
        let mode = attr.mode & 0o7777;
        let made = match &node {
            NewNode::Regular => {
                // Mode and owner go through the fd the create returned: the
                // name may already lead elsewhere (another thread renaming
                // a hard link over it), and must not be trusted.
                let fd = open_beneath(
                    dir,
                    name,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NONBLOCK,
                )?;
                nix::sys::stat::fchmod(&fd, nix::sys::stat::Mode::from_bits_truncate(mode))?;
                nix::unistd::fchown(
                    &fd,
                    Some(nix::unistd::Uid::from_raw(attr.uid)),
                    Some(nix::unistd::Gid::from_raw(attr.gid)),
                )?;
                return Ok(HostTree::new(self.node.lookup_host(name)?, self.writable));
            }
            NewNode::Directory => nix::sys::stat::mkdirat(dir, c.as_c_str(), Mode::from_bits_truncate(mode)),
            NewNode::Symlink(target) => {
                let target = CString::new(target.clone()).map_err(|_| Errno::EINVAL)?;
                nix::unistd::symlinkat(target.as_c_str(), dir, c.as_c_str())
            }
            NewNode::Fifo => {
                nix::sys::stat::mknodat(dir, c.as_c_str(), SFlag::S_IFIFO, Mode::from_bits_truncate(mode), 0)
            }
            // Device nodes are never made on the host.
            NewNode::CharDevice(_) => Err(Errno::EPERM),
        };
        made?;
        let child = self.node.lookup_host(name)?;
        // What the name leads to now must be what was just made: of that
        // kind, one link (two for a directory), ours; not a hard link of
        // someone else's file swapped in by a racing rename.
        let st = child.stat()?;
        let expected = match node {
            NewNode::Directory => (libc::S_IFDIR, 2),
            NewNode::Symlink(_) => (libc::S_IFLNK, 1),
            _ => (libc::S_IFIFO, 1),
        };
        if (st.st_mode & libc::S_IFMT, st.st_nlink) != expected || st.st_uid != nix::unistd::geteuid().as_raw() {
            return Err(Errno::EEXIST);
        }
        if !matches!(node, NewNode::Symlink(_)) {
            // The host's umask applied at creation; set the mode asked for.
            child.chmod(mode)?;
        }
        child.chown(attr.uid, attr.gid)?;
        Ok(HostTree::new(child, self.writable))
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        self.check_writable()?;
        let target = self.other(target)?;
        let c = c_name(name)?;
        // linkat of the target's own O_PATH fd (AT_EMPTY_PATH): no name of
        // it is looked up again on the host.
        nix::unistd::linkat(
            target.node.fd.as_fd(),
            c"",
            self.dir_fd(),
            c.as_c_str(),
            AtFlags::AT_EMPTY_PATH,
        )
    }

    fn unlink(&self, name: &[u8], directory: bool) -> Result<(), Errno> {
        self.check_writable()?;
        let c = c_name(name)?;
        let flags = if directory {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        nix::unistd::unlinkat(self.dir_fd(), c.as_c_str(), flags)
    }

    fn rename(&self, name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8], flags: RenameFlags) -> Result<(), Errno> {
        self.check_writable()?;
        let target = self.other(new_dir)?;
        let (from, to) = (c_name(name)?, c_name(new_name)?);
        let mut host_flags = nix::fcntl::RenameFlags::empty();
        if flags.no_replace {
            host_flags |= nix::fcntl::RenameFlags::RENAME_NOREPLACE;
        }
        if flags.exchange {
            host_flags |= nix::fcntl::RenameFlags::RENAME_EXCHANGE;
        }
        nix::fcntl::renameat2(
            self.dir_fd(),
            from.as_c_str(),
            target.dir_fd(),
            to.as_c_str(),
            host_flags,
        )
    }

    fn set_attr(&self, attr: SetAttr) -> Result<(), Errno> {
        self.check_writable()?;
        if let Some(mode) = attr.mode {
            self.node.chmod(mode)?;
        }
        if attr.uid.is_some() || attr.gid.is_some() {
            self.node
                .chown(attr.uid.unwrap_or(u32::MAX), attr.gid.unwrap_or(u32::MAX))?;
        }
        if let Some(size) = attr.size {
            nix::unistd::ftruncate(self.node.writer()?, size as i64)?;
        }
        if attr.atime.is_some() || attr.mtime.is_some() {
            let omit = Timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            };
            let times = [attr.atime.unwrap_or(omit), attr.mtime.unwrap_or(omit)];
            sys::fs::set_times_fd(self.node.fd.as_fd(), &times)?;
        }
        Ok(())
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        self.node.statfs()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
