//! The files of /proc about the whole sandbox: self and thread-self,
//! uptime, loadavg, stat, meminfo, cpuinfo, version, filesystems, mounts,
//! and the sysctls programs read under /proc/sys.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::report::ticks;
use super::{ProcFs, cpuinfo};
use crate::abi::limits::NR_OPEN;
use crate::kernel::Kernel;
use crate::task::Life;
use crate::vfs::Inode;
use crate::vfs::caller::Caller;
use crate::vfs::synthetic::{SynthFile, SynthLink};

/// The entries of /proc that are not processes.
pub(super) fn entries(fs: &ProcFs) -> Vec<(Vec<u8>, Arc<dyn Inode>)> {
    let dev = fs.dev;
    let text = |path: &str, text: &str| -> Arc<dyn Inode> { SynthFile::text(dev, path, text.to_string()) };
    let link = |path: &str, target: fn(&dyn Caller) -> String| -> Arc<dyn Inode> {
        SynthLink::computed(dev, path, Box::new(move |reader| Ok(target(reader).into_bytes())))
    };
    let random = fs.dir(
        "/proc/sys/kernel/random",
        vec![
            (
                "boot_id",
                fs.file("/proc/sys/kernel/random/boot_id", |_| format!("{}\n", boot_id())),
            ),
            (
                "uuid",
                fs.file("/proc/sys/kernel/random/uuid", |_| format!("{}\n", uuid())),
            ),
        ],
    );
    let kernel = fs.dir(
        "/proc/sys/kernel",
        vec![
            (
                "hostname",
                fs.file("/proc/sys/kernel/hostname", |k| {
                    format!("{}\n", String::from_utf8_lossy(&k.uts().hostname))
                }),
            ),
            (
                "osrelease",
                text(
                    "/proc/sys/kernel/osrelease",
                    &format!("{}\n", crate::abi::version::RELEASE),
                ),
            ),
            ("ostype", text("/proc/sys/kernel/ostype", "Linux\n")),
            ("pid_max", text("/proc/sys/kernel/pid_max", "4194304\n")),
            ("ngroups_max", text("/proc/sys/kernel/ngroups_max", "65536\n")),
            ("random", random),
            (
                "yama",
                fs.dir(
                    "/proc/sys/kernel/yama",
                    // ptrace reaches only descendants, as Yama's scope 1.
                    vec![(
                        "ptrace_scope",
                        text(
                            "/proc/sys/kernel/yama/ptrace_scope",
                            "1
",
                        ),
                    )],
                ),
            ),
        ],
    );
    let vm = fs.dir(
        "/proc/sys/vm",
        vec![("overcommit_memory", text("/proc/sys/vm/overcommit_memory", "0\n"))],
    );
    let files = fs.dir(
        "/proc/sys/fs",
        vec![
            ("file-max", text("/proc/sys/fs/file-max", "9223372036854775807\n")),
            ("nr_open", text("/proc/sys/fs/nr_open", &format!("{NR_OPEN}\n"))),
        ],
    );
    let sys = fs.dir("/proc/sys", vec![("fs", files), ("kernel", kernel), ("vm", vm)]);
    let entries: Vec<(&str, Arc<dyn Inode>)> = vec![
        ("self", link("/proc/self", |reader| reader.pid().to_string())),
        (
            "thread-self",
            link("/proc/thread-self", |reader| {
                format!("{}/task/{}", reader.pid(), reader.tid())
            }),
        ),
        ("mounts", SynthLink::fixed(dev, "/proc/mounts", "self/mounts")),
        ("cpuinfo", fs.file("/proc/cpuinfo", |k| cpuinfo::text(k.core.cpus))),
        ("filesystems", text("/proc/filesystems", FILESYSTEMS)),
        ("loadavg", fs.file("/proc/loadavg", loadavg)),
        ("meminfo", fs.file("/proc/meminfo", meminfo)),
        ("stat", fs.file("/proc/stat", stat)),
        ("uptime", fs.file("/proc/uptime", uptime)),
        (
            "version",
            text(
                "/proc/version",
                &format!("Linux version {} (cordon) #1 SMP\n", crate::abi::version::RELEASE),
            ),
        ),
        ("sys", sys),
    ];
    entries
        .into_iter()
        .map(|(name, inode)| (name.as_bytes().to_vec(), inode))
        .collect()
}

/// The filesystem types a mount could name.
const FILESYSTEMS: &str = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\toverlay\nnodev\tdevpts\n";

/// Random bytes as a version 4 UUID.
fn uuid() -> String {
    let mut bytes = [0u8; 16];
    // The host's random source does not fail for 16 bytes without flags.
    let _ = crate::sys::random::fill(&mut bytes, 0);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// One UUID for the life of the sandbox process, which runs one kernel.
fn boot_id() -> &'static str {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    BOOT_ID.get_or_init(uuid)
}

/// CPU time every process has used (live, zombie, and reaped ones
/// through their parents).
fn busy_time(kernel: &Kernel) -> Duration {
    kernel
        .core
        .tasks
        .pids()
        .into_iter()
        .filter_map(|pid| kernel.core.tasks.snapshot(pid))
        .map(|process| match process.life {
            Life::Zombie { cpu, .. } => cpu,
            _ => process.cpu_time() + process.children_cpu,
        })
        .sum()
}

/// /proc/uptime: seconds since the sandbox booted, and idle CPU seconds.
fn uptime(kernel: &Kernel) -> String {
    let up = kernel.core.boot_time.elapsed();
    let idle = (up * kernel.core.cpus as u32).saturating_sub(busy_time(kernel));
    format!("{:.2} {:.2}\n", up.as_secs_f64(), idle.as_secs_f64())
}

/// /proc/loadavg: no load averages are kept; the runnable and total
/// thread counts and the last pid are real.
fn loadavg(kernel: &Kernel) -> String {
    let (running, total) = kernel.core.tasks.thread_counts();
    format!("0.00 0.00 0.00 {running}/{total} {}\n", kernel.core.tasks.last_pid())
}

/// /proc/stat: application time as user time, the rest idle, spread evenly
/// over the virtual CPUs.
fn stat(kernel: &Kernel) -> String {
    let cpus = kernel.core.cpus.max(1) as u32;
    let up = kernel.core.boot_time.elapsed();
    let user = busy_time(kernel);
    let idle = (up * cpus).saturating_sub(user);
    let line = |name: &str, user: Duration, idle: Duration| {
        format!("{name} {} 0 0 {} 0 0 0 0 0 0\n", ticks(user), ticks(idle))
    };
    let mut text = line("cpu ", user, idle);
    for cpu in 0..cpus {
        text.push_str(&line(&format!("cpu{cpu}"), user / cpus, idle / cpus));
    }
    let boot = crate::vfs::now().tv_sec as u64 - up.as_secs();
    let (running, _) = kernel.core.tasks.thread_counts();
    text.push_str(&format!(
        "intr 0\nctxt 0\nbtime {boot}\nprocesses {}\nprocs_running {running}\nprocs_blocked 0\n\
         softirq 0 0 0 0 0 0 0 0 0 0 0\n",
        kernel.core.tasks.last_pid()
    ));
    text
}

/// /proc/meminfo: the host's memory as the total (as a container sees it),
/// the sandbox's memory file as what is used.
fn meminfo(kernel: &Kernel) -> String {
    let total = nix::sys::sysinfo::sysinfo().map_or(0, |info| info.ram_total());
    let used = kernel.core.memory_file.usage().min(total);
    let free = total - used;
    let lines: [(&str, u64); 47] = [
        ("MemTotal:", total),
        ("MemFree:", free),
        ("MemAvailable:", free),
        ("Buffers:", 0),
        ("Cached:", 0),
        ("SwapCached:", 0),
        ("Active:", used),
        ("Inactive:", 0),
        ("Active(anon):", used),
        ("Inactive(anon):", 0),
        ("Active(file):", 0),
        ("Inactive(file):", 0),
        ("Unevictable:", 0),
        ("Mlocked:", 0),
        ("SwapTotal:", 0),
        ("SwapFree:", 0),
        ("Zswap:", 0),
        ("Zswapped:", 0),
        ("Dirty:", 0),
        ("Writeback:", 0),
        ("AnonPages:", used),
        ("Mapped:", 0),
        ("Shmem:", 0),
        ("KReclaimable:", 0),
        ("Slab:", 0),
        ("SReclaimable:", 0),
        ("SUnreclaim:", 0),
        ("KernelStack:", 0),
        ("PageTables:", 0),
        ("SecPageTables:", 0),
        ("NFS_Unstable:", 0),
        ("Bounce:", 0),
        ("WritebackTmp:", 0),
        ("CommitLimit:", total),
        ("Committed_AS:", used),
        ("VmallocTotal:", 34_359_738_367 << 10),
        ("VmallocUsed:", 0),
        ("VmallocChunk:", 0),
        ("Percpu:", 0),
        ("HardwareCorrupted:", 0),
        ("AnonHugePages:", 0),
        ("ShmemHugePages:", 0),
        ("ShmemPmdMapped:", 0),
        ("FileHugePages:", 0),
        ("FilePmdMapped:", 0),
        ("Hugetlb:", 0),
        ("DirectMap4k:", total),
    ];
    let mut text = String::new();
    for (name, bytes) in lines {
        text.push_str(&format!("{name:<16}{:>8} kB\n", bytes >> 10));
        if name == "FilePmdMapped:" {
            text.push_str(
                "HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\n\
                 HugePages_Surp:        0\nHugepagesize:       2048 kB\n",
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert_eq!(boot_id(), boot_id());
    }
}
