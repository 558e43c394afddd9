//! Building blocks of synthetic filesystems (procfs, sysfs): directories
//! whose entries are computed on lookup, files whose text is generated on
//! read, and symlinks whose targets are computed.

use crate::abi::structs::Stat;
use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use nix::errno::Errno;

use super::caller::Caller;
use super::{DirEntry, FileKind, Inode, SetAttr, empty_stat};

/// The entries of a synthetic directory, computed when asked.
pub type Entries = Box<dyn Fn() -> Vec<(Vec<u8>, Arc<dyn Inode>)> + Send + Sync>;
/// The text of a synthetic file (or the target of a synthetic link),
/// which may depend on who reads it.
pub type Generate = Box<dyn Fn(&dyn Caller) -> Result<Vec<u8>, Errno> + Send + Sync>;
/// What a write to a synthetic file does with the bytes written.
pub type Store = Box<dyn Fn(&[u8]) -> Result<(), Errno> + Send + Sync>;

/// A stable inode number for a synthetic path.
pub fn ino_of(path: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish() | 1
}

/// The owner of a synthetic node: root unless set.
#[derive(Debug, Clone, Copy, Default)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

fn stat(dev: u64, ino: u64, mode: u32, owner: Owner) -> Stat {
    let mut st = empty_stat();
    st.st_dev = dev;
    st.st_ino = ino;
    st.st_mode = mode;
    st.st_uid = owner.uid;
    st.st_gid = owner.gid;
    st.st_nlink = if mode & libc::S_IFMT == libc::S_IFDIR { 2 } else { 1 };
    st.st_blksize = 4096;
    let t = super::now();
    st.st_atime = t.tv_sec;
    st.st_mtime = t.tv_sec;
    st.st_ctime = t.tv_sec;
    st
}

/// A directory of computed entries.
pub struct SynthDir {
    dev: u64,
    ino: u64,
    mode: u32,
    owner: Owner,
    entries: Entries,
}

impl SynthDir {
    pub fn new(dev: u64, path: &str, mode: u32, entries: Entries) -> Arc<SynthDir> {
        Arc::new(Self::build(dev, path, mode, entries))
    }

    /// A directory to finish with [`Self::owner`] before use.
    pub fn build(dev: u64, path: &str, mode: u32, entries: Entries) -> SynthDir {
        SynthDir {
            dev,
            ino: ino_of(path),
            mode: libc::S_IFDIR | mode,
            owner: Owner::default(),
            entries,
        }
    }

    pub fn owner(self, owner: Owner) -> SynthDir {
        SynthDir { owner, ..self }
    }
}

impl Inode for SynthDir {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(stat(self.dev, self.ino, self.mode, self.owner))
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        (self.entries)()
            .into_iter()
            .find(|(entry, _)| entry == name)
            .map(|(_, inode)| inode)
            .ok_or(Errno::ENOENT)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Ok((self.entries)()
            .into_iter()
            .filter_map(|(name, inode)| {
                let st = inode.stat().ok()?;
                Some(DirEntry {
                    name,
                    ino: st.st_ino,
                    kind: FileKind::from_mode(st.st_mode),
                })
            })
            .collect())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A file whose text is generated at each read.
pub struct SynthFile {
    dev: u64,
    ino: u64,
    mode: u32,
    owner: Owner,
    generate: Generate,
    /// Takes writes; None for a read-only file.
    store: Option<Store>,
}

impl SynthFile {
    /// A read-only file (mode 0444).
    pub fn new(dev: u64, path: &str, generate: Generate) -> Arc<SynthFile> {
        Arc::new(Self::build(dev, path, generate))
    }

    /// A read-only file (mode 0444) to finish with [`Self::owner`],
    /// [`Self::mode`] or [`Self::on_write`] before use.
    pub fn build(dev: u64, path: &str, generate: Generate) -> SynthFile {
        SynthFile {
            dev,
            ino: ino_of(path),
            mode: libc::S_IFREG | 0o444,
            owner: Owner::default(),
            generate,
            store: None,
        }
    }

    pub fn owner(self, owner: Owner) -> SynthFile {
        SynthFile { owner, ..self }
    }

    /// Sets the permission bits.
    pub fn mode(self, mode: u32) -> SynthFile {
        SynthFile {
            mode: libc::S_IFREG | mode,
            ..self
        }
    }

    /// Makes the file writable (mode 0644): each write hands its bytes to
    /// `store`, whatever the offset, as Linux's proc files take them.
    pub fn on_write(self, store: Store) -> SynthFile {
        SynthFile {
            mode: libc::S_IFREG | 0o644,
            store: Some(store),
            ..self
        }
    }

    /// A read-only file holding fixed text.
    pub fn text(dev: u64, path: &str, text: String) -> Arc<SynthFile> {
        Self::new(dev, path, Box::new(move |_| Ok(text.clone().into_bytes())))
    }
}

impl Inode for SynthFile {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(stat(self.dev, self.ino, self.mode, self.owner))
    }

    fn read_at(&self, caller: &dyn Caller, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let text = (self.generate)(caller)?;
        let Some(rest) = text.get(offset as usize..) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn write_at(&self, data: &[u8], _offset: u64) -> Result<usize, Errno> {
        let store = self.store.as_ref().ok_or(Errno::EINVAL)?;
        store(data)?;
        Ok(data.len())
    }

    /// Truncation (an `O_TRUNC` open for writing) changes nothing.
    fn set_attr(&self, attr: SetAttr) -> Result<(), Errno> {
        let only_size = attr.mode.is_none()
            && attr.uid.is_none()
            && attr.gid.is_none()
            && attr.atime.is_none()
            && attr.mtime.is_none();
        if only_size && self.store.is_some() {
            return Ok(());
        }
        Err(Errno::EPERM)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A symlink whose target is fixed, or computed for each reader.
pub struct SynthLink {
    dev: u64,
    ino: u64,
    target: LinkTarget,
}

enum LinkTarget {
    Fixed(Vec<u8>),
    Computed(Generate),
}

impl SynthLink {
    /// A link to `target`.
    pub fn fixed(dev: u64, path: &str, target: &str) -> Arc<SynthLink> {
        Self::build(dev, path, LinkTarget::Fixed(target.as_bytes().to_vec()))
    }

    /// A link whose target `target` computes for its reader.
    pub fn computed(dev: u64, path: &str, target: Generate) -> Arc<SynthLink> {
        Self::build(dev, path, LinkTarget::Computed(target))
    }

    fn build(dev: u64, path: &str, target: LinkTarget) -> Arc<SynthLink> {
        Arc::new(SynthLink {
            dev,
            ino: ino_of(path),
            target,
        })
    }
}

impl Inode for SynthLink {
    /// The size of a fixed link is its target's; a computed one shows 0,
    /// as /proc/self does on Linux.
    fn stat(&self) -> Result<Stat, Errno> {
        let mut st = stat(self.dev, self.ino, libc::S_IFLNK | 0o777, Owner::default());
        if let LinkTarget::Fixed(target) = &self.target {
            st.st_size = target.len() as i64;
        }
        Ok(st)
    }

    fn readlink(&self, caller: &dyn Caller) -> Result<Vec<u8>, Errno> {
        match &self.target {
            LinkTarget::Fixed(target) => Ok(target.clone()),
            LinkTarget::Computed(target) => target(caller),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
