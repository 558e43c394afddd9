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
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

use nix::errno::Errno;

use crate::vfs::caller::Caller;
use crate::vfs::{DirEntry, FileKind, Inode, NewAttr, NewNode, RenameFlags, SetAttr};

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

/// Reopens `fd` itself as O_PATH: a directory through ".", anything else
/// (a file bind mount) as a duplicate.
fn open_beneath_self(fd: RawFd) -> Result<OwnedFd, Errno> {
    open_self(fd, libc::O_PATH).or_else(|_| {
        // SAFETY: the caller's fd is open for the duration of this call.
        nix::unistd::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
    })
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
        let path_fd = open_beneath_self(fd.as_raw_fd())?;
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
            parent.fd.as_raw_fd(),
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
        // SAFETY: fchmodat2 on our own O_PATH fd with an empty path.
        host_result(unsafe {
            libc::syscall(
                libc::SYS_fchmodat2,
                self.fd.as_raw_fd(),
                c"".as_ptr(),
                mode & 0o7777,
                libc::AT_EMPTY_PATH,
            )
        })
    }

    /// chown through the node's own fd; u32::MAX leaves an id unchanged.
    fn chown(&self, uid: u32, gid: u32) -> Result<(), Errno> {
        // SAFETY: fchownat on our own O_PATH fd with an empty path.
        host_result(unsafe { libc::fchownat(self.fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) }.into())
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
                parent.fd.as_raw_fd(),
                name,
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
            )?,
            None => open_self(self.fd.as_raw_fd(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)?,
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

    fn dir_fd(&self) -> RawFd {
        self.node.fd.as_raw_fd()
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

/// A host system call's -1/errno result as a Result.
fn host_result(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

impl Inode for HostTree {
    fn stat(&self) -> Result<libc::stat, Errno> {
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
            NewNode::Directory => {
                // SAFETY: mkdirat on our own directory fd with a NUL-terminated name.
                host_result(unsafe { libc::mkdirat(dir, c.as_ptr(), mode) }.into())
            }
            NewNode::Symlink(target) => {
                let target = CString::new(target.clone()).map_err(|_| Errno::EINVAL)?;
                // SAFETY: symlinkat with two NUL-terminated strings and our own fd.
                host_result(unsafe { libc::symlinkat(target.as_ptr(), dir, c.as_ptr()) }.into())
            }
            NewNode::Fifo => {
                // SAFETY: mknodat of a FIFO on our own directory fd.
                host_result(unsafe { libc::mknodat(dir, c.as_ptr(), libc::S_IFIFO | mode, 0) }.into())
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
        // SAFETY: linkat with our own fds and a NUL-terminated name.
        host_result(
            unsafe {
                libc::linkat(
                    target.node.fd.as_raw_fd(),
                    c"".as_ptr(),
                    self.dir_fd(),
                    c.as_ptr(),
                    libc::AT_EMPTY_PATH,
                )
            }
            .into(),
        )
    }

    fn unlink(&self, name: &[u8], directory: bool) -> Result<(), Errno> {
        self.check_writable()?;
        let c = c_name(name)?;
        let flags = if directory { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: unlinkat with our own directory fd and a NUL-terminated name.
        host_result(unsafe { libc::unlinkat(self.dir_fd(), c.as_ptr(), flags) }.into())
    }

    fn rename(&self, name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8], flags: RenameFlags) -> Result<(), Errno> {
        self.check_writable()?;
        let target = self.other(new_dir)?;
        let (from, to) = (c_name(name)?, c_name(new_name)?);
        let mut raw_flags = 0;
        if flags.no_replace {
            raw_flags |= libc::RENAME_NOREPLACE;
        }
        if flags.exchange {
            raw_flags |= libc::RENAME_EXCHANGE;
        }
        // SAFETY: renameat2 with our own directory fds and NUL-terminated names.
        host_result(unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                self.dir_fd(),
                from.as_ptr(),
                target.dir_fd(),
                to.as_ptr(),
                raw_flags,
            )
        })
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
            let omit = libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            };
            let times = [attr.atime.unwrap_or(omit), attr.mtime.unwrap_or(omit)];
            let fd = self.node.fd.as_raw_fd();
            // SAFETY: utimensat on our own O_PATH fd (AT_EMPTY_PATH) with a
            // two-element timespec array.
            let ret = unsafe { libc::utimensat(fd, c"".as_ptr(), times.as_ptr(), libc::AT_EMPTY_PATH) };
            host_result(ret.into())?;
        }
        Ok(())
    }

    fn statfs(&self) -> Result<libc::statfs, Errno> {
        self.node.statfs()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
