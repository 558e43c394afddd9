//! Mounts and the mount namespace of a container: which filesystem is
//! mounted where. What a spec's mount builds is the kernel's
//! (`crate::kernel::mounts`).
//!
//! Lock order: a mount's `rename_lock` (one rename or rmdir of the mount at
//! a time) is the outermost lock of a path operation: it comes before the
//! dentry and filesystem locks a rename takes and before a mount's
//! `children` (the mounts on its dentries, which `mounted_here` checks).
//! `children` and the namespace's `mounts` (every mount in order, for
//! /proc/mounts) are leaves, each taken alone.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use super::caller::Internal;
use super::dentry::{Dentry, Location};
use super::lookup::Follow;
use super::{Inode, NewAttr, NewNode};
use crate::abi::Credentials;

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

/// Every mount of the sandbox, with the root they hang from.
pub struct MountNamespace {
    root: Location,
    /// Guards the list of mounts, in mount order (for /proc/mounts).
    mounts: Mutex<Vec<(Arc<Mount>, String)>>,
    next_id: AtomicU32,
    /// Device numbers handed to filesystems.
    devices: DeviceNumbers,
}

impl MountNamespace {
    /// A namespace whose root is `inode`, a filesystem of type `fs_type`;
    /// `devices` numbers the filesystems mounted in it later.
    pub fn new(inode: Arc<dyn Inode>, fs_type: &'static str, flags: MountFlags, devices: DeviceNumbers) -> Self {
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
        MountNamespace {
            root,
            mounts: Mutex::new(vec![(mount, "/".into())]),
            next_id: AtomicU32::new(2),
            devices,
        }
    }

    /// A device number for a new filesystem of this namespace.
    pub fn new_device(&self) -> u64 {
        self.devices.next()
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

    /// Mounts `inode`, the root of a filesystem of type `fs_type` (from
    /// `source`, as /proc/mounts shows it), on `destination`, creating the
    /// mount point (a directory, or an empty file for a file bind mount)
    /// when the root lacks it, as runc does.
    pub fn mount(
        &self,
        destination: String,
        inode: Arc<dyn Inode>,
        flags: MountFlags,
        fs_type: &'static str,
        source: String,
    ) -> Result<(), Errno> {
        let want_dir = inode.stat()?.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let point = self.make_mountpoint(&destination, want_dir)?;
        let mount = Arc::new(Mount {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            root: Dentry::root(inode),
            mountpoint: Some((Arc::downgrade(&point.mount), Arc::clone(&point.dentry))),
            flags,
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
            .push((mount, destination));
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
        let caller = Internal::new(Credentials::default(), self.root());
        let resolver = caller.resolver(self.root());
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

/// Hands out the device numbers of a namespace's filesystems.
#[derive(Debug)]
pub struct DeviceNumbers(AtomicU32);

impl Default for DeviceNumbers {
    fn default() -> Self {
        DeviceNumbers(AtomicU32::new(1))
    }
}

impl DeviceNumbers {
    /// The next unused number.
    pub fn next(&self) -> u64 {
        libc::makedev(0, self.0.fetch_add(1, Ordering::Relaxed) + 64)
    }
}
