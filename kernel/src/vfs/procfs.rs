//! /proc, synthetic: it shows only the sandbox's processes, with the pids
//! they see, and system files describing the sandbox rather than the host.

use std::cell::Cell;
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use super::Inode;
use super::synthetic::{Entries, SynthDir, SynthFile, SynthLink};
use crate::kernel::Kernel;

/// PROC_SUPER_MAGIC.
const PROC_MAGIC: i64 = 0x9fa0;

thread_local! {
    /// The (pid, tid) of the task this OS thread runs: /proc/self names it.
    /// Every application thread has its own OS thread, so this is exact.
    static CALLER: Cell<(i32, i32)> = const { Cell::new((0, 0)) };
}

/// Records which task runs on this thread (at each system call).
pub fn set_caller(pid: i32, tid: i32) {
    CALLER.with(|caller| caller.set((pid, tid)));
}

fn caller() -> (i32, i32) {
    CALLER.with(Cell::get)
}

/// The root of a proc mount.
pub fn root(kernel: Weak<Kernel>, dev: u64) -> Arc<dyn Inode> {
    let fixed = fixed_entries(&kernel, dev);
    let entries: Entries = Box::new(move || {
        let mut entries = fixed.clone();
        if let Some(kernel) = kernel.upgrade() {
            for pid in kernel.tasks.pids() {
                entries.push((pid.to_string().into_bytes(), process_dir(&kernel, dev, pid)));
            }
        }
        entries
    });
    Arc::new(ProcRoot(SynthDir::new(dev, "/proc", 0o555, entries)))
}

/// /proc's root directory, which reports PROC_SUPER_MAGIC.
struct ProcRoot(Arc<SynthDir>);

impl Inode for ProcRoot {
    fn stat(&self) -> Result<libc::stat, Errno> {
        self.0.stat()
    }
    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        self.0.lookup(name)
    }
    fn readdir(&self) -> Result<Vec<super::DirEntry>, Errno> {
        self.0.readdir()
    }
    fn statfs(&self) -> Result<libc::statfs, Errno> {
        Ok(super::synthetic_statfs(PROC_MAGIC))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The entries of /proc that are not processes.
fn fixed_entries(kernel: &Weak<Kernel>, dev: u64) -> Vec<(Vec<u8>, Arc<dyn Inode>)> {
    let text = |path: &str, text: String| -> Arc<dyn Inode> { SynthFile::text(dev, path, text) };
    let with_kernel = |path: &str, f: fn(&Kernel) -> String| -> Arc<dyn Inode> {
        let kernel = kernel.clone();
        SynthFile::new(
            dev,
            path,
            Box::new(move || Ok(f(&*kernel.upgrade().ok_or(Errno::ESRCH)?).into_bytes())),
        )
    };
    let kernel_dir: Vec<(Vec<u8>, Arc<dyn Inode>)> = vec![
        (
            b"hostname".to_vec(),
            with_kernel("/proc/sys/kernel/hostname", |k| format!("{}\n", k.config.hostname)),
        ),
        (
            b"osrelease".to_vec(),
            text(
                "/proc/sys/kernel/osrelease",
                format!("{}\n", crate::syscalls::KERNEL_RELEASE),
            ),
        ),
        (b"ostype".to_vec(), text("/proc/sys/kernel/ostype", "Linux\n".into())),
        (
            b"pid_max".to_vec(),
            text("/proc/sys/kernel/pid_max", "4194304\n".into()),
        ),
        (
            b"ngroups_max".to_vec(),
            text("/proc/sys/kernel/ngroups_max", "65536\n".into()),
        ),
    ];
    let sys: Vec<(Vec<u8>, Arc<dyn Inode>)> = vec![(b"kernel".to_vec(), dir(dev, "/proc/sys/kernel", kernel_dir))];
    vec![
        (
            b"self".to_vec(),
            SynthLink::new(dev, "/proc/self", Box::new(|| Ok(caller().0.to_string().into_bytes()))),
        ),
        (
            b"thread-self".to_vec(),
            SynthLink::new(
                dev,
                "/proc/thread-self",
                Box::new(|| {
                    let (pid, tid) = caller();
                    Ok(format!("{pid}/task/{tid}").into_bytes())
                }),
            ),
        ),
        (
            b"mounts".to_vec(),
            SynthLink::new(dev, "/proc/mounts", Box::new(|| Ok(b"self/mounts".to_vec()))),
        ),
        (
            b"uptime".to_vec(),
            with_kernel("/proc/uptime", |k| {
                let up = k.boot_time.elapsed().as_secs_f64();
                format!("{up:.2} {:.2}\n", up * k.cpus as f64)
            }),
        ),
        (
            b"version".to_vec(),
            text(
                "/proc/version",
                format!("Linux version {} (cordon) #1 SMP\n", crate::syscalls::KERNEL_RELEASE),
            ),
        ),
        (
            b"filesystems".to_vec(),
            text(
                "/proc/filesystems",
                "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\toverlay\nnodev\tdevpts\n".into(),
            ),
        ),
        (b"sys".to_vec(), dir(dev, "/proc/sys", sys)),
    ]
}

/// A directory of fixed entries.
fn dir(dev: u64, path: &str, entries: Vec<(Vec<u8>, Arc<dyn Inode>)>) -> Arc<dyn Inode> {
    SynthDir::new(dev, path, 0o555, Box::new(move || entries.clone()))
}

/// /proc/<pid>.
fn process_dir(kernel: &Arc<Kernel>, dev: u64, pid: i32) -> Arc<dyn Inode> {
    let base = format!("/proc/{pid}");
    let weak = Arc::downgrade(kernel);
    let mounts: Arc<dyn Inode> = SynthFile::new(
        dev,
        &format!("{base}/mounts"),
        Box::new(move || Ok(mounts_text(&*weak.upgrade().ok_or(Errno::ESRCH)?))),
    );
    let entries = vec![(b"mounts".to_vec(), mounts)];
    SynthDir::new(dev, &base, 0o555, Box::new(move || entries.clone()))
}

/// The text of /proc/mounts.
fn mounts_text(kernel: &Kernel) -> Vec<u8> {
    let mut text = String::new();
    for (mount, path) in kernel.mounts.mounts() {
        let mode = if mount.flags.readonly { "ro" } else { "rw" };
        text.push_str(&format!("{} {path} {} {mode} 0 0\n", mount.source, mount.fs_type));
    }
    text.into_bytes()
}
