//! /proc, synthetic (proc(5)): it shows only the sandbox's processes, with
//! the pids they see, and system files describing the sandbox rather than
//! the host.
//!
//! Lock order: a file's text is generated under the reader's open-file
//! `position`, and a directory's entry looked up under its dentry's
//! `children`; both come before every lock taken here. A file locks a
//! process's shared parts (memory, fd table, fs context, limits) only after
//! its snapshot is copied out of the task set (whose lock is let go of),
//! one at a time, and it never takes another open file's `position`
//! (fdinfo reads the position without it).
//!
//! - `process`: /proc/PID and /proc/PID/task/TID, their links (exe, cwd,
//!   root, fd/N) and directories (fd, fdinfo, task);
//! - `report`: the text of a process's files (stat, status, statm, limits…);
//! - `maps`: maps and smaps;
//! - `system`: the files about the whole sandbox (meminfo, cpuinfo, stat,
//!   sys/…), and `mounts`: mounts and mountinfo.
//!
//! Files are generated at each read from a [`ProcessSnapshot`] copied out
//! of the task set.
//!
//! [`ProcessSnapshot`]: crate::task::ProcessSnapshot

mod cpuinfo;
mod maps;
mod mounts;
mod process;
mod report;
mod system;

use std::sync::{Arc, Weak};

use nix::errno::Errno;

use crate::abi::capability::Capability;
use crate::abi::credentials::{AccessIds, Credentials};
use crate::abi::structs::{Stat, Statfs};
use crate::kernel::Kernel;
use crate::vfs::caller::Caller;
use crate::vfs::synthetic::{Generate, Owner, SynthDir, SynthFile, ino_of};
use crate::vfs::{DirEntry, FileKind, Inode};

/// PROC_SUPER_MAGIC.
const PROC_MAGIC: i64 = 0x9fa0;

/// Whether `caller` may see the links and private files of a process
/// running with `target`'s credentials (Linux asks for ptrace read access
/// with the filesystem ids; a process that is not dumpable takes
/// CAP_SYS_PTRACE).
fn may_inspect(caller: &dyn Caller, target: &Credentials, dumpable: bool) -> bool {
    let creds = caller.credentials();
    creds.may_access(target, AccessIds::Filesystem) && (dumpable || creds.has(Capability::SYS_PTRACE))
}

/// What every node of one proc mount needs: the kernel (weakly: the kernel
/// owns the mount) and the mount's device number.
#[derive(Clone)]
struct ProcFs {
    kernel: Weak<Kernel>,
    dev: u64,
}

impl ProcFs {
    fn kernel(&self) -> Result<Arc<Kernel>, Errno> {
        self.kernel.upgrade().ok_or(Errno::ESRCH)
    }

    /// A file whose text `text` computes from the kernel at each read.
    fn file(&self, path: &str, text: fn(&Kernel) -> String) -> Arc<dyn Inode> {
        let kernel = self.kernel.clone();
        let generate: Generate = Box::new(move |_| Ok(text(&*kernel.upgrade().ok_or(Errno::ESRCH)?).into_bytes()));
        SynthFile::new(self.dev, path, generate)
    }

    /// A directory of fixed entries.
    fn dir(&self, path: &str, entries: Vec<(&str, Arc<dyn Inode>)>) -> Arc<dyn Inode> {
        let entries: Vec<(Vec<u8>, Arc<dyn Inode>)> = entries
            .into_iter()
            .map(|(name, inode)| (name.as_bytes().to_vec(), inode))
            .collect();
        SynthDir::new(self.dev, path, 0o555, Box::new(move || entries.clone()))
    }

    /// A directory with an owner and mode, whose entries `entries` lists
    /// at each lookup.
    fn owned_dir(
        &self,
        path: &str,
        mode: u32,
        owner: Owner,
        entries: impl Fn() -> Vec<(Vec<u8>, Arc<dyn Inode>)> + Send + Sync + 'static,
    ) -> Arc<dyn Inode> {
        Arc::new(SynthDir::build(self.dev, path, mode, Box::new(entries)).owner(owner))
    }
}

/// The root of a proc mount.
pub fn root(kernel: Weak<Kernel>, dev: u64) -> Arc<dyn Inode> {
    let fs = ProcFs { kernel, dev };
    let fixed = system::entries(&fs);
    Arc::new(ProcRoot { fs, fixed })
}

/// /proc itself: the system entries and one directory per process. A
/// thread's directory is found by its tid but not listed, as on Linux.
struct ProcRoot {
    fs: ProcFs,
    fixed: Vec<(Vec<u8>, Arc<dyn Inode>)>,
}

/// A decimal pid as Linux spells it: no sign, no leading zero.
fn parse_id(name: &[u8]) -> Option<i32> {
    if name.first() == Some(&b'0') {
        return None;
    }
    parse_number(name)
}

/// A decimal number of digits only (fd numbers may be "0").
fn parse_number(name: &[u8]) -> Option<i32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse::<i32>().ok()
}

impl Inode for ProcRoot {
    fn stat(&self) -> Result<Stat, Errno> {
        let mut st = crate::vfs::empty_stat();
        st.st_dev = self.fs.dev;
        st.st_ino = ino_of("/proc");
        st.st_mode = libc::S_IFDIR | 0o555;
        st.st_nlink = 2;
        st.st_blksize = 4096;
        let now = crate::vfs::now();
        st.st_atime = now.tv_sec;
        st.st_mtime = now.tv_sec;
        st.st_ctime = now.tv_sec;
        Ok(st)
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if let Some((_, inode)) = self.fixed.iter().find(|(entry, _)| entry == name) {
            return Ok(Arc::clone(inode));
        }
        let id = parse_id(name).ok_or(Errno::ENOENT)?;
        let kernel = self.fs.kernel()?;
        if kernel.core.tasks.pgid(id).is_ok() {
            return process::directory(&self.fs, id, None);
        }
        match kernel.core.tasks.tgid(id) {
            Some(tgid) => process::directory(&self.fs, tgid, Some(id)),
            None => Err(Errno::ENOENT),
        }
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let mut entries: Vec<DirEntry> = self
            .fixed
            .iter()
            .filter_map(|(name, inode)| {
                let st = inode.stat().ok()?;
                Some(DirEntry {
                    name: name.clone(),
                    ino: st.st_ino,
                    kind: FileKind::from_mode(st.st_mode),
                })
            })
            .collect();
        let kernel = self.fs.kernel()?;
        entries.extend(kernel.core.tasks.pids().into_iter().map(|pid| DirEntry {
            name: pid.to_string().into_bytes(),
            ino: ino_of(&format!("/proc/{pid}")),
            kind: FileKind::Directory,
        }));
        Ok(entries)
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(crate::vfs::synthetic_statfs(PROC_MAGIC))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_plain_decimal() {
        assert_eq!(parse_id(b"42"), Some(42));
        assert_eq!(parse_id(b"042"), None);
        assert_eq!(parse_id(b"+4"), None);
        assert_eq!(parse_id(b"-4"), None);
        assert_eq!(parse_id(b"self"), None);
        assert_eq!(parse_id(b"99999999999"), None);
    }
}
