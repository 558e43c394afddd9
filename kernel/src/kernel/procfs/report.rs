//! The text of a process's files: stat, statm, status, cmdline, environ,
//! auxv, comm, limits, io, cgroup, oom_score(_adj) and fdinfo/N, in the
//! formats of Linux's fs/proc/array.c and base.c.
//!
//! Lock order: as for all of /proc (`procfs`): the text is made from a
//! snapshot, locking one of a process's parts (memory, fd table, fs
//! context, limits) at a time.

use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::maps::MemoryUsage;
use super::process::Target;
use crate::abi::ExitStatus;
use crate::abi::UserAddr;
use crate::abi::credentials::Credentials;
use crate::abi::limits::{RLIM_INFINITY, RLIM_NLIMITS, ResourceLimits};
use crate::mm::MemoryManager;
use crate::task::Life;

/// USER_HZ: the unit of times in /proc.
const CLOCK_TICKS: u128 = 100;
const PAGE: u64 = 4096;

pub(super) fn ticks(time: Duration) -> u64 {
    (time.as_millis() * CLOCK_TICKS / 1000) as u64
}

/// Time from the sandbox's boot to `at`, in clock ticks.
fn since_boot(target: &Target, at: Instant) -> u64 {
    ticks(at.saturating_duration_since(target.kernel.core.boot_time))
}

/// The state letter and word of stat and status.
fn state(target: &Target) -> (char, &'static str) {
    match target.process.life {
        Life::Zombie { .. } => ('Z', "zombie"),
        Life::Stopped { .. } => ('T', "stopped"),
        Life::Running => match target.task() {
            Some(task) if task.sleeping => ('S', "sleeping"),
            _ => ('R', "running"),
        },
    }
}

/// CPU time of the thread, or of the whole process.
fn cpu_time(target: &Target) -> Duration {
    if let Life::Zombie { cpu, .. } = target.process.life {
        return cpu;
    }
    match target.thread {
        Some(_) => target.task().map_or(Duration::ZERO, |task| task.cpu_time()),
        None => target.process.cpu_time(),
    }
}

/// The memory figures; all zero for a zombie.
fn memory(target: &Target) -> Option<MemoryUsage> {
    let view = target.view()?;
    let mm = view.mm.lock().expect("memory manager poisoned");
    Some(MemoryUsage::of(&target.kernel, &mm))
}

fn rlimits(target: &Target) -> Option<ResourceLimits> {
    let view = target.view()?;
    let limits = view.rlimits.lock().expect("rlimits poisoned").clone();
    Some(limits)
}

/// A device number as /proc/PID/stat shows it (Linux's new_encode_dev).
fn encode_device(device: u64) -> u64 {
    let (major, minor) = (u64::from(libc::major(device)), u64::from(libc::minor(device)));
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// /proc/PID/stat (proc_pid_stat(5)).
pub(super) fn stat(target: &Target) -> Result<Vec<u8>, Errno> {
    let process = &target.process;
    let (state, _) = state(target);
    let memory = memory(target);
    let usage = memory.unwrap_or_default();
    let rss_limit = rlimits(target).map_or(RLIM_INFINITY, |limits| limits.soft(libc::RLIMIT_RSS));
    let started = target.task().map_or(process.started, |task| task.started);
    let task = target.task();
    let pending = process.pending | task.map_or(0, |task| task.pending);
    let blocked = task.map_or(0, |task| task.blocked);
    // The image's addresses are shown only while the process has memory.
    let image = process.image.as_ref().filter(|_| memory.is_some());
    let image_field = |f: fn(&crate::task::ProcessImage) -> u64| image.map_or(0, |image| f(image));
    let exit_code = match process.life {
        Life::Zombie {
            status: ExitStatus::Exited(code),
            ..
        } => i32::from(code) << 8,
        Life::Zombie {
            status: ExitStatus::Signaled(signal),
            ..
        } => signal,
        _ => 0,
    };
    let fields: Vec<String> = vec![
        process.ppid.to_string(),
        process.pgid.to_string(),
        process.sid.to_string(),
        process
            .terminal
            .map_or(0, |(device, _)| encode_device(device))
            .to_string(),
        process
            .terminal
            .and_then(|(_, foreground)| foreground)
            .unwrap_or(-1)
            .to_string(),
        // flags, minflt, cminflt, majflt, cmajflt
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        ticks(cpu_time(target)).to_string(),
        // stime: time in cordon's kernel is not counted.
        "0".into(),
        ticks(process.children_cpu).to_string(),
        "0".into(),
        // priority, nice
        "20".into(),
        "0".into(),
        process.threads.len().max(1).to_string(),
        "0".into(),
        since_boot(target, started).to_string(),
        usage.size.to_string(),
        (usage.resident / PAGE).to_string(),
        rss_limit.to_string(),
        usage.start_code.to_string(),
        usage.end_code.to_string(),
        image_field(|image| image.start_stack).to_string(),
        // kstkesp, kstkeip
        "0".into(),
        "0".into(),
        pending.to_string(),
        blocked.to_string(),
        process.ignored.to_string(),
        process.caught.to_string(),
        // wchan, nswap, cnswap
        "0".into(),
        "0".into(),
        "0".into(),
        process.exit_signal.to_string(),
        // processor, rt_priority, policy, delayacct_blkio_ticks,
        // guest_time, cguest_time
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        usage.start_data.to_string(),
        usage.end_data.to_string(),
        usage.start_brk.to_string(),
        image_field(|image| image.arg_start).to_string(),
        image_field(|image| image.arg_end).to_string(),
        image_field(|image| image.env_start).to_string(),
        image_field(|image| image.env_end).to_string(),
        exit_code.to_string(),
    ];
    Ok(format!("{} ({}) {state} {}\n", target.id(), target.comm(), fields.join(" ")).into_bytes())
}

/// /proc/PID/statm: sizes in pages.
pub(super) fn statm(target: &Target) -> Result<Vec<u8>, Errno> {
    let usage = memory(target).unwrap_or_default();
    let pages = |bytes: u64| bytes / PAGE;
    Ok(format!(
        "{} {} {} {} 0 {} 0\n",
        pages(usage.size),
        pages(usage.resident),
        pages(usage.resident_image + usage.resident_shared),
        pages(usage.text),
        pages(usage.data + usage.stack)
    )
    .into_bytes())
}

/// A bitmap of `bits` set bits as Linux's %*pb prints it: 32-bit groups
/// in hex, most significant first, separated by commas.
fn cpu_mask(bits: usize) -> String {
    let bits = bits.max(1);
    let groups = bits.div_ceil(32);
    let mut out = Vec::new();
    for group in (0..groups).rev() {
        let in_group = (bits - group * 32).min(32);
        let value: u64 = (1u64 << in_group) - 1;
        if group + 1 == groups {
            out.push(format!("{value:0width$x}", width = in_group.div_ceil(4)));
        } else {
            out.push(format!("{value:08x}"));
        }
    }
    out.join(",")
}

/// The `0-N` list of CPUs 0 to `cpus - 1`.
fn cpu_list(cpus: usize) -> String {
    if cpus <= 1 {
        "0".to_string()
    } else {
        format!("0-{}", cpus - 1)
    }
}

/// /proc/PID/status.
pub(super) fn status(target: &Target) -> Result<Vec<u8>, Errno> {
    let process = &target.process;
    let view = target.view();
    let (letter, word) = state(target);
    let mut text = format!("Name:\t{}\n", target.comm());
    if let Some(view) = &view {
        let umask = view.fs.lock().expect("fs context poisoned").umask;
        text.push_str(&format!("Umask:\t{umask:04o}\n"));
    }
    let creds = view.as_ref().map_or_else(
        || Credentials::new(process.uid, 0, Vec::new()),
        |view| view.credentials.clone(),
    );
    let fd_size = view.as_ref().map_or(0, |view| {
        let fds = view.fds.lock().expect("fd table poisoned");
        let highest = fds.iter().map(|(fd, _, _)| fd as usize + 1).max().unwrap_or(0);
        highest.max(1).next_multiple_of(64)
    });
    // Linux ends the list with a space, even an empty one.
    let groups: String = creds.groups.iter().map(|gid| format!("{gid} ")).collect();
    let groups = if groups.is_empty() { " ".to_owned() } else { groups };
    let id = target.id();
    text.push_str(&format!(
        "State:\t{letter} ({word})\nTgid:\t{pid}\nNgid:\t0\nPid:\t{id}\nPPid:\t{ppid}\nTracerPid:\t{tracer}\n\
         Uid:\t{ruid}\t{euid}\t{suid}\t{fsuid}\nGid:\t{rgid}\t{egid}\t{sgid}\t{fsgid}\nFDSize:\t{fd_size}\n\
         Groups:\t{groups}\nNStgid:\t{pid}\nNSpid:\t{id}\nNSpgid:\t{pgid}\nNSsid:\t{sid}\n",
        pid = process.pid,
        ppid = process.ppid,
        pgid = process.pgid,
        sid = process.sid,
        tracer = target.kernel.core.tasks.tracer_of(id).unwrap_or(0),
        ruid = creds.ruid,
        euid = creds.euid,
        suid = creds.suid,
        fsuid = creds.fsuid,
        rgid = creds.rgid,
        egid = creds.egid,
        sgid = creds.sgid,
        fsgid = creds.fsgid,
    ));
    if let Some(usage) = memory(target) {
        let kb = |bytes: u64| bytes >> 10;
        let anonymous = usage.resident - usage.resident_image - usage.resident_shared;
        let lines: [(&str, u64); 16] = [
            ("VmPeak:", usage.size),
            ("VmSize:", usage.size),
            ("VmLck:", 0),
            ("VmPin:", 0),
            ("VmHWM:", usage.resident),
            ("VmRSS:", usage.resident),
            ("RssAnon:", anonymous),
            ("RssFile:", usage.resident_image),
            ("RssShmem:", usage.resident_shared),
            ("VmData:", usage.data),
            ("VmStk:", usage.stack),
            ("VmExe:", usage.text),
            ("VmLib:", 0),
            ("VmPTE:", 0),
            ("VmSwap:", 0),
            ("HugetlbPages:", 0),
        ];
        for (name, bytes) in lines {
            text.push_str(&format!("{name}\t{:>8} kB\n", kb(bytes)));
        }
        text.push_str("CoreDumping:\t0\nTHP_enabled:\t1\n");
    }
    let task = target.task();
    let thread_pending = task.map_or(0, |task| task.pending);
    let blocked = task.map_or(0, |task| task.blocked);
    let queued = (thread_pending | process.pending).count_ones();
    let queue_limit = rlimits(target).map_or(0, |limits| limits.soft(libc::RLIMIT_SIGPENDING));
    let caps = &creds.caps;
    let (seccomp_mode, seccomp_filters) = view.as_ref().map_or((0, 0), |view| {
        let seccomp = view.seccomp.lock().expect("seccomp state poisoned");
        (seccomp.mode().number(), seccomp.filter_count())
    });
    let cpus = target.kernel.core.cpus;
    text.push_str(&format!(
        "Threads:\t{threads}\nSigQ:\t{queued}/{queue_limit}\nSigPnd:\t{thread_pending:016x}\n\
         ShdPnd:\t{shared:016x}\nSigBlk:\t{blocked:016x}\nSigIgn:\t{ignored:016x}\n\
         SigCgt:\t{caught:016x}\nCapInh:\t{inheritable:016x}\nCapPrm:\t{permitted:016x}\n\
         CapEff:\t{effective:016x}\nCapBnd:\t{bounding:016x}\nCapAmb:\t{ambient:016x}\n\
         NoNewPrivs:\t{no_new_privs}\nSeccomp:\t{seccomp_mode}\nSeccomp_filters:\t{seccomp_filters}\n\
         Cpus_allowed:\t{mask}\nCpus_allowed_list:\t{list}\n\
         Mems_allowed:\t1\nMems_allowed_list:\t0\n\
         voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n",
        threads = process.threads.len().max(1),
        shared = process.pending,
        ignored = process.ignored,
        caught = process.caught,
        inheritable = caps.inheritable.bits(),
        permitted = caps.permitted.bits(),
        effective = caps.effective.bits(),
        bounding = caps.bounding.bits(),
        ambient = caps.ambient.bits(),
        no_new_privs = u8::from(creds.no_new_privs),
        mask = cpu_mask(cpus),
        list = cpu_list(cpus),
    ));
    Ok(text.into_bytes())
}

/// Reads `[start, end)` of the target's memory; empty for a zombie.
fn read_range(target: &Target, range: impl Fn(&crate::task::ProcessImage) -> (u64, u64)) -> Vec<u8> {
    let (Some(view), Some(image)) = (target.view(), target.process.image.as_ref()) else {
        return Vec::new();
    };
    let (start, end) = range(image);
    if end <= start {
        return Vec::new();
    }
    let mm = view.mm.lock().expect("memory manager poisoned");
    read_memory(&mm, start, end)
}

/// What can be read of `[start, end)`, stopping at the first page that
/// cannot.
fn read_memory(mm: &MemoryManager, start: u64, end: u64) -> Vec<u8> {
    let mut data = vec![0u8; (end - start) as usize];
    if mm.copy_in(UserAddr::new(start), &mut data).is_ok() {
        return data;
    }
    let mut read = 0;
    while (read as u64) < end - start {
        let at = start + read as u64;
        let chunk = ((at | (PAGE - 1)) + 1).min(end) - at;
        if mm
            .copy_in(UserAddr::new(at), &mut data[read..read + chunk as usize])
            .is_err()
        {
            break;
        }
        read += chunk as usize;
    }
    data.truncate(read);
    data
}

/// /proc/PID/cmdline: the argument strings, each ending in NUL.
pub(super) fn cmdline(target: &Target) -> Result<Vec<u8>, Errno> {
    Ok(read_range(target, |image| (image.arg_start, image.arg_end)))
}

/// /proc/PID/environ.
pub(super) fn environ(target: &Target) -> Result<Vec<u8>, Errno> {
    Ok(read_range(target, |image| (image.env_start, image.env_end)))
}

/// /proc/PID/auxv: the auxiliary vector as the program got it.
pub(super) fn auxv(target: &Target) -> Result<Vec<u8>, Errno> {
    let Some(image) = target.process.image.as_ref() else {
        return Ok(Vec::new());
    };
    Ok(image
        .auxv
        .iter()
        .flat_map(|(key, value)| key.to_ne_bytes().into_iter().chain(value.to_ne_bytes()))
        .collect())
}

pub(super) fn comm(target: &Target) -> Result<Vec<u8>, Errno> {
    Ok(format!("{}\n", target.comm()).into_bytes())
}

/// One process, in the root of the unified hierarchy.
pub(super) fn cgroup(_target: &Target) -> Result<Vec<u8>, Errno> {
    Ok(b"0::/\n".to_vec())
}

/// No process is ever chosen by an out-of-memory killer here.
pub(super) fn oom_score(_target: &Target) -> Result<Vec<u8>, Errno> {
    Ok(b"0\n".to_vec())
}

pub(super) fn oom_score_adj(target: &Target) -> Result<Vec<u8>, Errno> {
    Ok(format!("{}\n", target.process.oom_score_adj).into_bytes())
}

/// I/O accounting is not kept: every count is zero.
pub(super) fn io(_target: &Target) -> Result<Vec<u8>, Errno> {
    Ok(b"rchar: 0\nwchar: 0\nsyscr: 0\nsyscw: 0\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n".to_vec())
}

/// The names and units of /proc/PID/limits, by RLIMIT_* number.
const LIMITS: [(&str, &str); RLIM_NLIMITS] = [
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
];

/// /proc/PID/limits.
pub(super) fn limits(target: &Target) -> Result<Vec<u8>, Errno> {
    let limits = rlimits(target).unwrap_or_default();
    let mut text = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for (resource, (name, unit)) in LIMITS.iter().enumerate() {
        let limit = limits.get(resource as u32)?;
        let value = |v: u64| {
            if v == RLIM_INFINITY {
                "unlimited".to_string()
            } else {
                v.to_string()
            }
        };
        text.push_str(&format!(
            "{name:<25} {:<20} {:<20} ",
            value(limit.soft),
            value(limit.hard)
        ));
        if unit.is_empty() {
            text.push('\n');
        } else {
            text.push_str(&format!("{unit:<10}\n"));
        }
    }
    Ok(text.into_bytes())
}

/// /proc/PID/fdinfo/N.
pub(super) fn fdinfo(target: &Target, fd: i32) -> Result<Vec<u8>, Errno> {
    let view = target.view().ok_or(Errno::ENOENT)?;
    let (file, cloexec) = {
        let fds = view.fds.lock().expect("fd table poisoned");
        (
            fds.get(fd).map_err(|_| Errno::ENOENT)?,
            fds.cloexec(fd).unwrap_or(false),
        )
    };
    let position = file.fdinfo_position();
    let mut flags = file.status_flags().unwrap_or(0);
    if cloexec {
        flags |= libc::O_CLOEXEC as u32;
    }
    let mount = file.location().map_or(0, |location| location.mount.id);
    let ino = file.stat().map_or(0, |st| st.st_ino);
    Ok(format!("pos:\t{position}\nflags:\t0{flags:o}\nmnt_id:\t{mount}\nino:\t{ino}\n").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_masks_print_like_linux_bitmaps() {
        assert_eq!(cpu_mask(1), "1");
        assert_eq!(cpu_mask(8), "ff");
        assert_eq!(cpu_mask(12), "fff");
        assert_eq!(cpu_mask(32), "ffffffff");
        assert_eq!(cpu_mask(36), "f,ffffffff");
        assert_eq!(cpu_list(1), "0");
        assert_eq!(cpu_list(4), "0-3");
    }

    #[test]
    fn ticks_are_hundredths() {
        assert_eq!(ticks(Duration::from_millis(1234)), 123);
    }
}
