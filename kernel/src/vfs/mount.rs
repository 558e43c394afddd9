//! Mounts and the sandbox's mount namespace, built from the spec.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use super::dentry::{Dentry, Location};
use super::devpts::{self, DevptsOptions};
use super::host::{HostNode, HostTree};
use super::lookup::{Follow, Resolver};
use super::memfs::MemFs;
use super::{Inode, NewAttr, NewNode, devfs, procfs, sysfs};
use crate::abi::Credentials;
use crate::kernel::Kernel;

use crate::memory::MemoryFile;

/// Per-mount flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountFlags {
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

/// A mounted filesystem: its root, where it is mounted, its flags.
pub struct Mount {
    pub id: u32,
    pub root: Arc<Dentry>,
    /// The mount and dentry this mount covers; None for the namespace root.
    mountpoint: Option<(Weak<Mount>, Arc<Dentry>)>,
    pub flags: MountFlags,
    /// The filesystem type /proc/mounts shows ("overlay", "tmpfs", "proc").
    pub fs_type: &'static str,
    /// The source /proc/mounts shows.
    pub source: String,
    /// Guards the mounts on dentries of this one, in mount order.
    children: Mutex<Vec<Arc<Mount>>>,
    /// Held across a rename between two directories of this mount (Linux's
    /// s_vfs_rename_mutex): the tree's shape cannot change between the
    /// checks that a directory does not move beneath itself and the move,
    /// and two such renames never lock directories in opposite orders.
    pub rename_lock: Mutex<()>,
}

impl Mount {
    /// Where this mount is attached, as a location in its parent.
    pub fn mountpoint(&self) -> Option<Location> {
        let (parent, dentry) = self.mountpoint.as_ref()?;
        Some(Location {
            mount: parent.upgrade()?,
            dentry: Arc::clone(dentry),
        })
    }

    /// The most recent mount on `dentry` of this mount, if any.
    fn mounted_on(&self, dentry: &Arc<Dentry>) -> Option<Arc<Mount>> {
        let children = self.children.lock().expect("mount children poisoned");
        children
            .iter()
            .rev()
            .find(|child| child.mountpoint.as_ref().is_some_and(|(_, d)| Arc::ptr_eq(d, dentry)))
            .cloned()
    }
}

/// A filesystem the spec asks for at a path.
#[derive(Debug)]
pub enum MountSource {
    /// A host directory or file (a bind mount), written through unless the
    /// mount is read-only.
    Bind(OwnedFd),
    /// A tmpfs of at most `size` bytes whose root has `mode`.
    Tmpfs {
        size: Option<u64>,
        mode: u32,
    },
    Proc,
    Sysfs,
    /// The sandbox's /dev: device nodes, /dev/pts and /dev/shm.
    Devfs,
    /// The pseudo-terminal replicas, usually at /dev/pts.
    Devpts(DevptsOptions),
}

/// One entry of the spec's mounts.
#[derive(Debug)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub destination: String,
    pub source: MountSource,
    pub flags: MountFlags,
}

/// Every mount of the sandbox, with the root they hang from.
pub struct MountNamespace {
    root: Location,
    /// Guards the list of mounts, in mount order (for /proc/mounts).
    mounts: Mutex<Vec<(Arc<Mount>, String)>>,
    next_id: AtomicU32,
    /// Device numbers handed to filesystems.
    next_dev: AtomicU32,
}

impl MountNamespace {
    /// The root: the host directory `dir` under a memory overlay, or the
    /// host tree itself when `overlay` is false.
    pub fn new(memory: &Arc<MemoryFile>, dir: &OwnedFd, overlay: bool, flags: MountFlags) -> Result<Self, Errno> {
        let host = HostNode::from_fd(dir)?;
        let next_dev = AtomicU32::new(1);
        let (inode, fs_type): (Arc<dyn Inode>, _) = if overlay {
            let dev = next_device(&next_dev);
            (MemFs::overlay(Arc::clone(memory), dev, host)?, "overlay")
        } else {
            // A read-only root refuses the application's writes through the
            // mount's flag; the tree itself stays writable so that missing
            // mount points can be made, as runc makes them before it
            // remounts the root read-only.
            (HostTree::new(host, true), "bind")
        };
        let mount = Arc::new(Mount {
            id: 1,
            root: Dentry::root(inode),
            mountpoint: None,
            flags,
            fs_type,
            // Not "rootfs": tools (busybox and GNU df) skip that name, which
            // Linux gives its initial ramfs.
            source: fs_type.into(),
            children: Mutex::new(Vec::new()),
            rename_lock: Mutex::new(()),
        });
        let root = Location {
            dentry: Arc::clone(&mount.root),
            mount: Arc::clone(&mount),
        };
        Ok(MountNamespace {
            root,
            mounts: Mutex::new(vec![(mount, "/".into())]),
            next_id: AtomicU32::new(2),
            next_dev,
        })
    }

    pub fn root(&self) -> Location {
        self.root.clone()
    }

    /// Every mount with the path it was mounted at, in mount order.
    pub fn mounts(&self) -> Vec<(Arc<Mount>, String)> {
        self.mounts.lock().expect("mount list poisoned").clone()
    }

    /// The mount covering `location`, followed down through stacked mounts.
    pub fn enter_mounts(location: Location) -> Location {
        let mut here = location;
        while let Some(mount) = here.mount.mounted_on(&here.dentry) {
            here = Location {
                dentry: Arc::clone(&mount.root),
                mount,
            };
        }
        here
    }

    /// Whether a mount sits on `location` (which cannot then be removed or
    /// renamed: EBUSY).
    pub fn mounted_here(location: &Location) -> bool {
        location.mount.mounted_on(&location.dentry).is_some()
    }

    /// Mounts `spec` on its destination, creating the mount point (a
    /// directory, or an empty file for a file bind mount) when the root
    /// lacks it, as runc does.
    pub fn mount(
        &self,
        spec: MountSpec,
        memory: &Arc<MemoryFile>,
        kernel: &Weak<Kernel>,
        cpus: usize,
    ) -> Result<(), Errno> {
        let dev = next_device(&self.next_dev);
        let (inode, fs_type, source): (Arc<dyn Inode>, _, String) = match spec.source {
            MountSource::Bind(fd) => (
                HostTree::new(HostNode::from_fd(&fd)?, !spec.flags.readonly),
                "bind",
                "bind".into(),
            ),
            MountSource::Tmpfs { size, mode } => (
                MemFs::tmpfs(Arc::clone(memory), dev, size.unwrap_or_else(default_tmpfs_size), mode),
                "tmpfs",
                "tmpfs".into(),
            ),
            MountSource::Proc => (procfs::root(kernel.clone(), dev), "proc", "proc".into()),
            MountSource::Sysfs => (sysfs::root(dev, cpus), "sysfs", "sysfs".into()),
            MountSource::Devfs => (devfs::root(Arc::clone(memory), dev), "tmpfs", "devfs".into()),
            MountSource::Devpts(options) => (devpts::root(kernel.clone(), dev, options), "devpts", "devpts".into()),
        };
        let want_dir = inode.stat()?.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let point = self.make_mountpoint(&spec.destination, want_dir)?;
        let mount = Arc::new(Mount {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            root: Dentry::root(inode),
            mountpoint: Some((Arc::downgrade(&point.mount), Arc::clone(&point.dentry))),
            flags: spec.flags,
            fs_type,
            source,
            children: Mutex::new(Vec::new()),
            rename_lock: Mutex::new(()),
        });
        point
            .mount
            .children
            .lock()
            .expect("mount children poisoned")
            .push(Arc::clone(&mount));
        self.mounts
            .lock()
            .expect("mount list poisoned")
            .push((mount, spec.destination));
        Ok(())
    }

    /// The init's working directory: `cwd` resolved from the root, made
    /// when missing, as runc does.
    pub fn working_directory(&self, cwd: &str) -> Result<Location, Errno> {
        let location = self.make_mountpoint(cwd, true)?;
        if !location.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(location)
    }

    /// Resolves `path` from the root, making missing components.
    fn make_mountpoint(&self, path: &str, want_dir: bool) -> Result<Location, Errno> {
        let root_creds = Credentials::default();
        let resolver = Resolver {
            root: self.root(),
            cwd: self.root(),
            credentials: &root_creds,
        };
        let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
        let mut here = self.root();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            match resolver.resolve_from(&here, part.as_bytes(), Follow::Always) {
                Ok(found) => here = found,
                Err(Errno::ENOENT) => {
                    let node = if want_dir || !last {
                        NewNode::Directory
                    } else {
                        NewNode::Regular
                    };
                    let attr = NewAttr {
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                    };
                    here.inode().create(part.as_bytes(), node, attr)?;
                    here = resolver.resolve_from(&here, part.as_bytes(), Follow::Always)?;
                }
                Err(errno) => return Err(errno),
            }
        }
        Ok(here)
    }
}

/// The size of a tmpfs mounted without `size=`: half of the host's memory,
/// Linux's default.
fn default_tmpfs_size() -> u64 {
    nix::sys::sysinfo::sysinfo().map_or(u64::MAX, |info| info.ram_total() / 2)
}

fn next_device(counter: &AtomicU32) -> u64 {
    libc::makedev(0, counter.fetch_add(1, Ordering::Relaxed) + 64)
}
