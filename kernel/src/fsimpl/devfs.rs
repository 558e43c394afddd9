//! The sandbox's /dev: a tmpfs holding the device nodes containers expect,
//! and the character devices those nodes open.
//!
//! A device node is only a name with a device number (as mknod makes it);
//! opening one goes to the caller's device opener (`ops::Devices`), so a
//! node made elsewhere with the same number is the same device. The memory
//! devices are opened by [`open_device`] here; /dev/tty and /dev/ptmx by
//! `crate::vfs::terminal`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;

use super::memfs::MemFs;
use crate::abi::structs::Stat;
use crate::memory::MemoryFile;
use crate::vfs::File;
use crate::vfs::Location;
use crate::vfs::caller::Caller;
use crate::vfs::{Inode, NewAttr, NewNode};

/// The character devices the sandbox serves, by (major, minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Device {
    Null,
    Zero,
    Full,
    Random,
}

impl Device {
    fn from_rdev(rdev: u64) -> Option<Device> {
        match (libc::major(rdev), libc::minor(rdev)) {
            (1, 3) => Some(Device::Null),
            (1, 5) => Some(Device::Zero),
            (1, 7) => Some(Device::Full),
            (1, 8 | 9) => Some(Device::Random),
            _ => None,
        }
    }
}

/// The nodes of a fresh /dev: name, major, minor, mode.
const NODES: &[(&str, u32, u32, u32)] = &[
    ("null", 1, 3, 0o666),
    ("zero", 1, 5, 0o666),
    ("full", 1, 7, 0o666),
    ("random", 1, 8, 0o666),
    ("urandom", 1, 9, 0o666),
    ("tty", 5, 0, 0o666),
    ("console", 5, 1, 0o620),
    ("ptmx", 5, 2, 0o666),
];

/// The links of a fresh /dev.
const LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("core", "/proc/kcore"),
];

/// A populated /dev.
pub fn root(memory: Arc<MemoryFile>, dev: u64) -> Arc<dyn Inode> {
    let root = MemFs::tmpfs(memory, dev, 64 << 20, 0o755);
    let attr = |mode| NewAttr { mode, uid: 0, gid: 0 };
    for &(name, major, minor, mode) in NODES {
        let rdev = libc::makedev(major, minor);
        root.create(name.as_bytes(), NewNode::CharDevice(rdev), attr(mode))
            .expect("a fresh tmpfs takes new names");
    }
    for &(name, target) in LINKS {
        root.create(
            name.as_bytes(),
            NewNode::Symlink(target.as_bytes().to_vec()),
            attr(0o777),
        )
        .expect("a fresh tmpfs takes new names");
    }
    root.create(b"pts", NewNode::Directory, attr(0o755))
        .expect("a fresh tmpfs takes new names");
    root.create(b"shm", NewNode::Directory, attr(0o1777))
        .expect("a fresh tmpfs takes new names");
    root
}

/// Opens the memory device `rdev` named at `location` (terminals are
/// `crate::vfs::terminal`'s); ENXIO for a number no device has.
pub fn open_device(location: Location, rdev: u64, flags: i32) -> Result<Arc<dyn File>, Errno> {
    let device = Device::from_rdev(rdev).ok_or(Errno::ENXIO)?;
    Ok(Arc::new(DeviceFile {
        location,
        device,
        flags: AtomicU32::new(flags as u32),
    }))
}

/// An open character device.
struct DeviceFile {
    location: Location,
    device: Device,
    flags: AtomicU32,
}

impl File for DeviceFile {
    fn read(&self, _caller: &dyn Caller, buf: &mut [u8], _offset: Option<u64>) -> Result<usize, Errno> {
        match self.device {
            Device::Null => Ok(0),
            Device::Zero | Device::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Device::Random => crate::sys::random::fill(buf, 0),
        }
    }

    fn write(&self, _caller: &dyn Caller, data: &[u8], _offset: Option<u64>) -> Result<usize, Errno> {
        match self.device {
            Device::Full => Err(Errno::ENOSPC),
            _ => Ok(data.len()),
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.location.stat()
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags.load(Ordering::Relaxed))
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        let keep = self.flags.load(Ordering::Relaxed) & libc::O_ACCMODE as u32;
        self.flags.store(
            keep | (flags & (libc::O_APPEND | libc::O_NONBLOCK) as u32),
            Ordering::Relaxed,
        );
        Ok(())
    }

    fn poll(&self) -> u16 {
        (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM) as u16
    }

    /// Devices accept any position and stay at 0, as Linux's null and zero do.
    fn seek(&self, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Ok(0)
    }

    fn location(&self) -> Option<&Location> {
        Some(&self.location)
    }
}
