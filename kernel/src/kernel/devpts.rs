//! devpts: /dev/pts, the directory of live pseudo-terminal replicas. `ptmx`
//! opens a new master; `N` is the replica of pty N for as long as its
//! master is open. Both are character devices: opening them goes through
//! the caller's device opener, like any device node.

use std::any::Any;
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use crate::abi::structs::{Stat, Statfs, Timespec};
use crate::kernel::Kernel;
use crate::kernel::pty::replica_rdev;
use crate::vfs::{DirEntry, FileKind, Inode, empty_stat};

/// DEVPTS_SUPER_MAGIC.
const DEVPTS_MAGIC: i64 = 0x1cd1;

/// The mount options of a devpts (mount(8): ptmxmode=, mode=, gid=).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevptsOptions {
    /// The permission bits of `ptmx` (Linux's default is 0000).
    pub ptmx_mode: u32,
    /// The permission bits of new replicas.
    pub mode: u32,
    /// The group of new replicas; None: the opener's group.
    pub gid: Option<u32>,
}

impl Default for DevptsOptions {
    fn default() -> Self {
        DevptsOptions {
            ptmx_mode: 0,
            mode: 0o600,
            gid: None,
        }
    }
}

/// The root of a devpts mount.
pub fn root(kernel: Weak<Kernel>, dev: u64, options: DevptsOptions) -> Arc<dyn Inode> {
    Arc::new(DevptsRoot { kernel, dev, options })
}

struct DevptsRoot {
    kernel: Weak<Kernel>,
    dev: u64,
    options: DevptsOptions,
}

impl DevptsRoot {
    fn node(&self, name: &[u8]) -> Option<PtsNode> {
        if name == b"ptmx" {
            return Some(PtsNode {
                dev: self.dev,
                ino: 2,
                rdev: libc::makedev(5, 2),
                mode: self.options.ptmx_mode,
                owner: (0, 0),
                time: crate::vfs::now(),
            });
        }
        let index = parse_index(name)?;
        let pty = self.kernel.upgrade()?.ptys.live(index)?;
        let (uid, gid) = pty.owner();
        Some(PtsNode {
            dev: self.dev,
            ino: u64::from(index) + 3,
            rdev: replica_rdev(index),
            mode: self.options.mode,
            owner: (uid, self.options.gid.unwrap_or(gid)),
            time: pty.created(),
        })
    }
}

impl Inode for DevptsRoot {
    fn stat(&self) -> Result<Stat, Errno> {
        let mut st = empty_stat();
        st.st_dev = self.dev;
        st.st_ino = 1;
        st.st_mode = libc::S_IFDIR | 0o755;
        st.st_nlink = 2;
        st.st_blksize = 4096;
        Ok(st)
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        self.node(name)
            .map(|node| Arc::new(node) as Arc<dyn Inode>)
            .ok_or(Errno::ENOENT)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let mut entries = vec![DirEntry {
            name: b"ptmx".to_vec(),
            ino: 2,
            kind: FileKind::CharDevice,
        }];
        if let Some(kernel) = self.kernel.upgrade() {
            entries.extend(kernel.ptys.live_indices().into_iter().map(|index| DirEntry {
                name: index.to_string().into_bytes(),
                ino: u64::from(index) + 3,
                kind: FileKind::CharDevice,
            }));
        }
        Ok(entries)
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(crate::vfs::synthetic_statfs(DEVPTS_MAGIC))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The index a replica's name spells: decimal digits, no leading zero.
fn parse_index(name: &[u8]) -> Option<u32> {
    let canonical = !name.is_empty() && name.iter().all(u8::is_ascii_digit) && (name == b"0" || name[0] != b'0');
    canonical
        .then(|| std::str::from_utf8(name).ok()?.parse().ok())
        .flatten()
}

/// `ptmx` or a replica: a device node.
struct PtsNode {
    dev: u64,
    ino: u64,
    rdev: u64,
    mode: u32,
    owner: (u32, u32),
    time: Timespec,
}

impl Inode for PtsNode {
    fn stat(&self) -> Result<Stat, Errno> {
        let mut st = empty_stat();
        st.st_dev = self.dev;
        st.st_ino = self.ino;
        st.st_mode = libc::S_IFCHR | self.mode;
        st.st_nlink = 1;
        st.st_uid = self.owner.0;
        st.st_gid = self.owner.1;
        st.st_rdev = self.rdev;
        st.st_blksize = 1024;
        st.st_atime = self.time.tv_sec;
        st.st_mtime = self.time.tv_sec;
        st.st_ctime = self.time.tv_sec;
        Ok(st)
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(crate::vfs::synthetic_statfs(DEVPTS_MAGIC))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptmx_is_listed_and_numbers_need_a_live_pty() {
        let root = DevptsRoot {
            kernel: Weak::new(),
            dev: 7,
            options: DevptsOptions::default(),
        };
        let names: Vec<Vec<u8>> = root.readdir().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, vec![b"ptmx".to_vec()]);
        let ptmx = root.lookup(b"ptmx").unwrap().stat().unwrap();
        assert_eq!(ptmx.st_rdev, libc::makedev(5, 2));
        assert_eq!(ptmx.st_mode, libc::S_IFCHR);
        assert!(matches!(root.lookup(b"0"), Err(Errno::ENOENT)));
        assert!(matches!(root.lookup(b"00"), Err(Errno::ENOENT)));
        assert_eq!(parse_index(b"17"), Some(17));
        assert_eq!(parse_index(b"0"), Some(0));
        assert_eq!(parse_index(b"+1"), None);
        assert_eq!(parse_index(b"01"), None);
        assert_eq!(parse_index(b""), None);
    }
}
