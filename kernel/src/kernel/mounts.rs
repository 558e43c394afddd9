//! The filesystems a container's spec mounts, built into its mount
//! namespace: the root (the host directory under a memory overlay, or the
//! host tree itself) and then each mount in order.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use super::Kernel;
use super::devpts::{self, DevptsOptions};
use super::procfs;
use crate::fsimpl::memfs::MemFs;
use crate::fsimpl::{HostNode, HostTree, devfs, sysfs};
use crate::memory::MemoryFile;
use crate::vfs::{DeviceNumbers, Inode, MountFlags, MountNamespace};

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

/// The namespace of a container whose root is the host directory `dir`:
/// under a memory overlay, or the host tree itself when `overlay` is false.
pub fn root_namespace(
    memory: &Arc<MemoryFile>,
    dir: &OwnedFd,
    overlay: bool,
    flags: MountFlags,
) -> Result<MountNamespace, Errno> {
    let host = HostNode::from_fd(dir)?;
    let devices = DeviceNumbers::default();
    let (inode, fs_type): (Arc<dyn Inode>, _) = if overlay {
        (MemFs::overlay(Arc::clone(memory), devices.next(), host)?, "overlay")
    } else {
        // A read-only root refuses the application's writes through the
        // mount's flag; the tree itself stays writable so that missing
        // mount points can be made, as runc makes them before it
        // remounts the root read-only.
        (HostTree::new(host, true), "bind")
    };
    Ok(MountNamespace::new(inode, fs_type, flags, devices))
}

/// Mounts the filesystem `spec` names in `mounts`.
pub fn mount(
    mounts: &MountNamespace,
    spec: MountSpec,
    memory: &Arc<MemoryFile>,
    kernel: &Weak<Kernel>,
    cpus: usize,
) -> Result<(), Errno> {
    let dev = mounts.new_device();
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
    mounts.mount(spec.destination, inode, spec.flags, fs_type, source)
}

/// The size of a tmpfs mounted without `size=`: half of the host's memory,
/// Linux's default.
fn default_tmpfs_size() -> u64 {
    nix::sys::sysinfo::sysinfo().map_or(u64::MAX, |info| info.ram_total() / 2)
}
