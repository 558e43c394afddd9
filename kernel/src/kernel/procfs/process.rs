//! /proc/PID and /proc/PID/task/TID: a process's files, its magic links
//! (exe, cwd, root, fd/N) and its fd, fdinfo and task directories.
//!
//! Lock order: as for all of /proc (`procfs`): the task set's lock to copy
//! a snapshot out, then one of a process's parts (fd table, fs context) at
//! a time.

use std::sync::Arc;

use nix::errno::Errno;

use super::{ProcFs, maps, may_inspect, mounts, parse_number, report};
use crate::abi::credentials::Credentials;
use crate::abi::structs::Stat;
use crate::kernel::Kernel;
use crate::task::{ProcessSnapshot, TaskView, ThreadSnapshot};
use crate::vfs::File;
use crate::vfs::caller::Caller;
use crate::vfs::synthetic::{Owner, SynthFile, ino_of};
use crate::vfs::{Dentry, DirEntry, FileKind, Inode, Location, empty_stat};

/// The process (or one of its threads) whose files are read, as the task
/// set knew it at the start of the read, and who reads them.
pub(super) struct Target<'a> {
    pub kernel: Arc<Kernel>,
    pub process: ProcessSnapshot,
    /// The thread of a task/TID directory (or of /proc/TID); None for the
    /// process as a whole.
    pub thread: Option<i32>,
    /// Who reads: paths are shown from its root.
    pub reader: &'a dyn Caller,
}

impl<'a> Target<'a> {
    /// ESRCH once the process (or the thread) is gone, as reads of an open
    /// /proc file of a reaped process answer on Linux.
    fn get(fs: &ProcFs, pid: i32, thread: Option<i32>, reader: &'a dyn Caller) -> Result<Target<'a>, Errno> {
        let kernel = fs.kernel()?;
        let process = kernel.core.tasks.snapshot(pid).ok_or(Errno::ESRCH)?;
        if let Some(tid) = thread {
            process.thread(Some(tid)).ok_or(Errno::ESRCH)?;
        }
        Ok(Target {
            kernel,
            process,
            thread,
            reader,
        })
    }

    /// The id the files speak of: the tid in a thread's directory.
    pub fn id(&self) -> i32 {
        self.thread.unwrap_or(self.process.pid)
    }

    /// The thread whose state the files show (the leader for a process).
    pub fn task(&self) -> Option<&ThreadSnapshot> {
        self.process.thread(self.thread)
    }

    /// Memory, files and fs context; None for a zombie.
    pub fn view(&self) -> Option<Arc<TaskView>> {
        self.process.view(self.thread)
    }

    /// The command name: the thread's, or the one the process kept.
    pub fn comm(&self) -> String {
        self.task()
            .and_then(|task| task.view.as_ref())
            .map_or_else(|| self.process.comm.clone(), |view| view.comm.clone())
    }
}

/// The text of a file.
type Report = fn(&Target) -> Result<Vec<u8>, Errno>;

/// What one entry of a process directory is.
enum Node {
    /// Text anyone may read (0444).
    Public(Report),
    /// Text only the process's owner may read (0400).
    Private(Report),
    Link(LinkTarget),
    /// fd/ (links) or, with true, fdinfo/ (text).
    Fds(bool),
    /// task/: only in a process's own directory.
    Tasks,
    OomScoreAdj,
    /// mem: the address space, for a tracer.
    Mem,
}

/// The entries of /proc/PID, in listing order.
const ENTRIES: &[(&str, Node)] = &[
    ("auxv", Node::Private(report::auxv)),
    ("cgroup", Node::Public(report::cgroup)),
    ("cmdline", Node::Public(report::cmdline)),
    ("comm", Node::Public(report::comm)),
    ("cwd", Node::Link(LinkTarget::Cwd)),
    ("environ", Node::Private(report::environ)),
    ("exe", Node::Link(LinkTarget::Exe)),
    ("fd", Node::Fds(false)),
    ("fdinfo", Node::Fds(true)),
    ("io", Node::Private(report::io)),
    ("limits", Node::Public(report::limits)),
    ("maps", Node::Public(maps::maps)),
    ("mem", Node::Mem),
    ("mountinfo", Node::Public(mounts::mountinfo)),
    ("mounts", Node::Public(mounts::mounts)),
    ("oom_score", Node::Public(report::oom_score)),
    ("oom_score_adj", Node::OomScoreAdj),
    ("root", Node::Link(LinkTarget::Root)),
    ("smaps", Node::Public(maps::smaps)),
    ("stat", Node::Public(report::stat)),
    ("statm", Node::Public(report::statm)),
    ("status", Node::Public(report::status)),
    ("task", Node::Tasks),
];

/// /proc/ID: the directory of process `pid`, or with `thread` the one
/// /proc shows for a thread looked up by its tid.
pub(super) fn directory(fs: &ProcFs, pid: i32, thread: Option<i32>) -> Result<Arc<dyn Inode>, Errno> {
    let process = fs.kernel()?.core.tasks.snapshot(pid).ok_or(Errno::ENOENT)?;
    let (owner, dump_owner) = owners_of(&process);
    let id = thread.unwrap_or(pid);
    let place = Place {
        fs: fs.clone(),
        pid,
        thread,
        owner,
        dump_owner,
    };
    Ok(place.directory(&format!("/proc/{id}"), true))
}

/// Who a process's /proc entries belong to (Linux's task_dump_owner): its
/// effective ids for the world-readable directories (/proc/PID, its
/// task/ entries), and for everything else the same unless the process is
/// not dumpable, when root owns them.
fn owners_of(process: &ProcessSnapshot) -> (Owner, Owner) {
    match process.view(None) {
        Some(view) => {
            let owner = Owner {
                uid: view.credentials.euid,
                gid: view.credentials.egid,
            };
            let dumpable = view.mm.lock().expect("memory manager poisoned").dumpable();
            (owner, if dumpable { owner } else { Owner { uid: 0, gid: 0 } })
        }
        None => {
            let owner = Owner {
                uid: process.uid,
                gid: 0,
            };
            (owner, owner)
        }
    }
}

/// Whose directory an inode belongs to.
#[derive(Clone)]
struct Place {
    fs: ProcFs,
    pid: i32,
    thread: Option<i32>,
    /// The owner of the 0555 directories.
    owner: Owner,
    /// The owner of everything else.
    dump_owner: Owner,
}

impl Place {
    /// The directory at `path`, with task/ when `with_tasks`.
    fn directory(&self, path: &str, with_tasks: bool) -> Arc<dyn Inode> {
        let place = self.clone();
        let base = path.to_string();
        self.fs.owned_dir(path, 0o555, self.owner, move || {
            ENTRIES
                .iter()
                .filter(|(_, node)| with_tasks || !matches!(node, Node::Tasks))
                .map(|(name, node)| (name.as_bytes().to_vec(), place.node(&format!("{base}/{name}"), node)))
                .collect()
        })
    }

    fn node(&self, path: &str, node: &Node) -> Arc<dyn Inode> {
        match *node {
            Node::Public(report) => Arc::new(self.text(path, report)),
            Node::Private(report) => Arc::new(self.text(path, report).mode(0o400)),
            Node::Link(target) => Arc::new(ProcLink {
                place: self.clone(),
                ino: ino_of(path),
                target,
            }),
            Node::Fds(info) => Arc::new(FdDir {
                place: self.clone(),
                path: path.to_string(),
                info,
            }),
            Node::Tasks => self.tasks(path),
            Node::Mem => Arc::new(MemNode {
                place: self.clone(),
                ino: ino_of(path),
            }),
            Node::OomScoreAdj => {
                let place = self.clone();
                Arc::new(
                    self.text(path, report::oom_score_adj)
                        .on_write(Box::new(move |data| place.set_oom_score_adj(data)))
                        .owner(self.dump_owner),
                )
            }
        }
    }

    /// A file of this process whose text `report` makes.
    fn text(&self, path: &str, report: Report) -> SynthFile {
        let place = self.clone();
        let generate =
            Box::new(move |reader: &dyn Caller| report(&Target::get(&place.fs, place.pid, place.thread, reader)?));
        SynthFile::build(self.fs.dev, path, generate).owner(self.dump_owner)
    }

    /// task/: a directory per thread.
    fn tasks(&self, path: &str) -> Arc<dyn Inode> {
        let place = self.clone();
        let base = path.to_string();
        self.fs.owned_dir(path, 0o555, self.owner, move || {
            let Ok(kernel) = place.fs.kernel() else {
                return Vec::new();
            };
            kernel
                .core
                .tasks
                .threads_of(place.pid)
                .into_iter()
                .map(|tid| {
                    let thread = Place {
                        thread: Some(tid),
                        ..place.clone()
                    };
                    let dir = thread.directory(&format!("{base}/{tid}"), false);
                    (tid.to_string().into_bytes(), dir)
                })
                .collect()
        })
    }

    /// A write to oom_score_adj: a number in [-1000, 1000].
    fn set_oom_score_adj(&self, data: &[u8]) -> Result<(), Errno> {
        let value: i32 = std::str::from_utf8(data)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or(Errno::EINVAL)?;
        if !(-1000..=1000).contains(&value) {
            return Err(Errno::EINVAL);
        }
        self.fs.kernel()?.core.tasks.set_oom_score_adj(self.pid, value)
    }

    /// The snapshot, once the caller is known to be allowed to look
    /// through this process's links.
    fn inspect<'a>(&self, caller: &'a dyn Caller) -> Result<Target<'a>, Errno> {
        let target = Target::get(&self.fs, self.pid, self.thread, caller).map_err(|_| Errno::ENOENT)?;
        let (credentials, dumpable) = match target.view() {
            Some(view) => (
                view.credentials.clone(),
                view.mm.lock().expect("memory manager poisoned").dumpable(),
            ),
            None => (Credentials::new(target.process.uid, 0, Vec::new()), true),
        };
        // A process may always look at itself.
        if caller.pid() != self.pid && !may_inspect(caller, &credentials, dumpable) {
            return Err(Errno::EACCES);
        }
        Ok(target)
    }
}

/// What a magic link names.
#[derive(Debug, Clone, Copy)]
enum LinkTarget {
    Exe,
    Cwd,
    Root,
    Fd(i32),
}

/// Where a magic link leads.
enum Reached {
    At(Location),
    /// An open file with no place in the tree (a pipe, a host fd).
    Open(Arc<dyn File>),
}

/// exe, cwd, root and fd/N: readlink shows the path; following them goes
/// to the file itself, even when the path no longer leads there.
struct ProcLink {
    place: Place,
    ino: u64,
    target: LinkTarget,
}

impl ProcLink {
    fn reach(&self, caller: &dyn Caller) -> Result<Reached, Errno> {
        let target = self.place.inspect(caller)?;
        let view = || target.view().ok_or(Errno::ENOENT);
        let reached = match self.target {
            LinkTarget::Exe => {
                let image = target.process.image.as_ref().ok_or(Errno::ENOENT)?;
                Reached::At(image.exe.clone())
            }
            LinkTarget::Cwd => Reached::At(view()?.fs.lock().expect("fs context poisoned").cwd.clone()),
            LinkTarget::Root => Reached::At(view()?.fs.lock().expect("fs context poisoned").root.clone()),
            LinkTarget::Fd(fd) => {
                let file = view()?
                    .fds
                    .lock()
                    .expect("fd table poisoned")
                    .get(fd)
                    .map_err(|_| Errno::ENOENT)?;
                match file.location() {
                    Some(location) => Reached::At(location.clone()),
                    None => Reached::Open(file),
                }
            }
        };
        Ok(reached)
    }
}

/// The stat of a link or directory of `place`, timestamped now as the
/// synthetic nodes are.
fn node_stat(place: &Place, ino: u64, mode: u32) -> Stat {
    let mut st = empty_stat();
    st.st_dev = place.fs.dev;
    st.st_ino = ino;
    st.st_mode = mode;
    st.st_nlink = if mode & libc::S_IFMT == libc::S_IFDIR { 2 } else { 1 };
    st.st_uid = place.dump_owner.uid;
    st.st_gid = place.dump_owner.gid;
    st.st_blksize = 4096;
    let now = crate::vfs::now();
    st.st_atime = now.tv_sec;
    st.st_mtime = now.tv_sec;
    st.st_ctime = now.tv_sec;
    st
}

impl Inode for ProcLink {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(node_stat(&self.place, self.ino, libc::S_IFLNK | 0o777))
    }

    fn readlink(&self, caller: &dyn Caller) -> Result<Vec<u8>, Errno> {
        Ok(match self.reach(caller)? {
            Reached::At(location) => location.path_from(&caller.root()),
            Reached::Open(file) => anonymous_name(file.as_ref()),
        })
    }

    fn follow_link(&self, caller: &dyn Caller, link: &Location) -> Result<Option<Location>, Errno> {
        Ok(Some(match self.reach(caller)? {
            Reached::At(location) => location,
            Reached::Open(file) => Location {
                mount: Arc::clone(&link.mount),
                dentry: Dentry::root(Arc::new(OpenedFile {
                    file,
                    owner: self.place.dump_owner,
                })),
            },
        }))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The name /proc/PID/fd shows for a file with no path, as Linux's
/// d_dname names pipes, sockets and anonymous inodes.
fn anonymous_name(file: &dyn File) -> Vec<u8> {
    // Files that know their name (eventfd, epoll, memfd, …) say it.
    if let Some(name) = file.link_name() {
        return name.into_bytes();
    }
    let Ok(st) = file.stat() else {
        return b"anon_inode:[unknown]".to_vec();
    };
    let name = match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => format!("pipe:[{}]", st.st_ino),
        libc::S_IFSOCK => format!("socket:[{}]", st.st_ino),
        libc::S_IFCHR => "anon_inode:[chardev]".to_string(),
        libc::S_IFREG => "anon_inode:[file]".to_string(),
        _ => "anon_inode:[unknown]".to_string(),
    };
    name.into_bytes()
}

/// What following /proc/PID/fd/N reaches for a file with no place in the
/// tree: opening it gives that same open file description (Linux opens a
/// new one on the same pipe or inode; here the offset and status flags
/// are shared).
struct OpenedFile {
    file: Arc<dyn File>,
    owner: Owner,
}

impl Inode for OpenedFile {
    fn stat(&self) -> Result<Stat, Errno> {
        let mut st = self.file.stat()?;
        st.st_uid = self.owner.uid;
        st.st_gid = self.owner.gid;
        Ok(st)
    }

    fn open(&self, _location: &Location, _flags: i32, _caller: &dyn Caller) -> Result<Option<Arc<dyn File>>, Errno> {
        Ok(Some(Arc::clone(&self.file)))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// fd/ (a link per open fd) and fdinfo/ (a file per open fd).
struct FdDir {
    place: Place,
    path: String,
    /// fdinfo/ rather than fd/.
    info: bool,
}

impl FdDir {
    /// The process's open fds. Who may list them is the directory's mode
    /// (0500, the process's owner) to decide.
    fn open_fds(&self) -> Result<Vec<i32>, Errno> {
        let kernel = self.place.fs.kernel()?;
        let process = kernel.core.tasks.snapshot(self.place.pid).ok_or(Errno::ENOENT)?;
        let Some(view) = process.view(self.place.thread) else {
            return Ok(Vec::new());
        };
        let fds = view.fds.lock().expect("fd table poisoned");
        Ok(fds.iter().map(|(fd, _, _)| fd).collect())
    }

    fn entry(&self, fd: i32) -> Arc<dyn Inode> {
        let path = format!("{}/{fd}", self.path);
        if !self.info {
            return Arc::new(ProcLink {
                place: self.place.clone(),
                ino: ino_of(&path),
                target: LinkTarget::Fd(fd),
            });
        }
        let place = self.place.clone();
        let generate = Box::new(move |reader: &dyn Caller| report::fdinfo(&place.inspect(reader)?, fd));
        Arc::new(
            SynthFile::build(self.place.fs.dev, &path, generate)
                .owner(self.place.dump_owner)
                .mode(0o400),
        )
    }
}

impl Inode for FdDir {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(node_stat(&self.place, ino_of(&self.path), libc::S_IFDIR | 0o500))
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let fd = parse_number(name).ok_or(Errno::ENOENT)?;
        if !self.open_fds()?.contains(&fd) {
            return Err(Errno::ENOENT);
        }
        Ok(self.entry(fd))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let kind = if self.info {
            FileKind::Regular
        } else {
            FileKind::Symlink
        };
        Ok(self
            .open_fds()?
            .into_iter()
            .map(|fd| DirEntry {
                name: fd.to_string().into_bytes(),
                ino: ino_of(&format!("{}/{fd}", self.path)),
                kind,
            })
            .collect())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// /proc/PID/mem: the process's memory at the file offsets of its
/// addresses, whatever their protection (FOLL_FORCE). Opening it takes what
/// attaching a tracer takes (PTRACE_MODE_ATTACH_FSCREDS: the ptrace read
/// rule, and Yama's descendant rule without CAP_SYS_PTRACE).
struct MemNode {
    place: Place,
    ino: u64,
}

impl Inode for MemNode {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(node_stat(&self.place, self.ino, libc::S_IFREG | 0o600))
    }

    fn open(&self, _location: &Location, flags: i32, caller: &dyn Caller) -> Result<Option<Arc<dyn File>>, Errno> {
        let target = self.place.inspect(caller)?;
        let related = caller.pid() == self.place.pid
            || caller.credentials().has(crate::abi::capability::Capability::SYS_PTRACE)
            || target
                .kernel
                .core
                .tasks
                .may_trace_by_relation(caller.pid(), self.place.pid);
        if !related {
            return Err(Errno::EACCES);
        }
        let view = target.view().ok_or(Errno::ENOENT)?;
        Ok(Some(Arc::new(MemFile {
            mm: Arc::clone(&view.mm),
            position: std::sync::Mutex::new(0),
            stat: self.stat()?,
            flags: crate::vfs::status_flags::StatusFlags::with(u32::try_from(flags).unwrap_or(0)),
        })))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// An open /proc/PID/mem.
struct MemFile {
    mm: Arc<std::sync::Mutex<crate::mm::MemoryManager>>,
    position: std::sync::Mutex<u64>,
    stat: Stat,
    flags: crate::vfs::status_flags::StatusFlags,
}

impl MemFile {
    /// Moves bytes page by page from `at`, stopping at the first page that
    /// is not mapped: EIO if that is the first.
    fn transfer(
        &self,
        at: u64,
        len: usize,
        mut piece: impl FnMut(&crate::mm::MemoryManager, u64, usize, usize) -> Result<(), Errno>,
    ) -> Result<usize, Errno> {
        let mm = self.mm.lock().expect("memory manager poisoned");
        let mut done = 0usize;
        while done < len {
            let addr = at.checked_add(done as u64).ok_or(Errno::EIO)?;
            let in_page = (crate::abi::arch::PAGE_SIZE - addr % crate::abi::arch::PAGE_SIZE) as usize;
            let n = in_page.min(len - done);
            if piece(&mm, addr, done, n).is_err() {
                break;
            }
            done += n;
        }
        if done == 0 && len > 0 {
            Err(Errno::EIO)
        } else {
            Ok(done)
        }
    }

    fn position_for(&self, offset: Option<u64>, moved: usize) {
        if offset.is_none() {
            *self.position.lock().expect("mem position poisoned") += moved as u64;
        }
    }
}

impl File for MemFile {
    fn read(&self, _caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
        let at = offset.unwrap_or_else(|| *self.position.lock().expect("mem position poisoned"));
        let len = buf.len();
        let n = self.transfer(at, len, |mm, addr, done, n| mm.peek(addr, &mut buf[done..done + n]))?;
        self.position_for(offset, n);
        Ok(n)
    }

    fn write(&self, _caller: &dyn Caller, data: &[u8], offset: Option<u64>) -> Result<usize, Errno> {
        let at = offset.unwrap_or_else(|| *self.position.lock().expect("mem position poisoned"));
        let n = self.transfer(at, data.len(), |mm, addr, done, n| mm.fill(addr, &data[done..done + n]))?;
        self.position_for(offset, n);
        Ok(n)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.stat)
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags.get())
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        self.flags.set(flags);
        Ok(())
    }

    fn poll(&self) -> u16 {
        (libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLWRNORM) as u16
    }

    /// Offsets are addresses: any 64-bit value, as Linux's
    /// FMODE_UNSIGNED_OFFSET allows.
    fn seek(&self, offset: i64, whence: i32) -> Result<u64, Errno> {
        let mut position = self.position.lock().expect("mem position poisoned");
        let delta = u64::from_ne_bytes(offset.to_ne_bytes());
        *position = match whence {
            libc::SEEK_SET => delta,
            libc::SEEK_CUR => position.wrapping_add(delta),
            _ => return Err(Errno::EINVAL),
        };
        Ok(*position)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
