//! Clocks and sleeping.
//!
//! The wall and monotonic clocks are the host's, read by the kernel; CPU
//! clocks measure the application thread on its platform.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use zerocopy::IntoBytes;

use super::context::TaskCtx;
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::abi::structs::{Timespec, Timeval};
use crate::sync::Blocking;
use crate::sys;
use crate::task::{Restart, Task};

/// Which clock a clockid names.
enum Clock {
    /// A host clock read for the application: REALTIME, MONOTONIC, …
    Host(libc::clockid_t),
    /// The calling process's CPU time (all its threads).
    ProcessCpu,
    /// The calling thread's CPU time.
    ThreadCpu,
}

fn clock(id: i32) -> Result<Clock, Errno> {
    match id {
        libc::CLOCK_REALTIME
        | libc::CLOCK_MONOTONIC
        | libc::CLOCK_MONOTONIC_RAW
        | libc::CLOCK_REALTIME_COARSE
        | libc::CLOCK_MONOTONIC_COARSE
        | libc::CLOCK_BOOTTIME
        | libc::CLOCK_TAI => Ok(Clock::Host(id)),
        libc::CLOCK_PROCESS_CPUTIME_ID => Ok(Clock::ProcessCpu),
        libc::CLOCK_THREAD_CPUTIME_ID => Ok(Clock::ThreadCpu),
        _ => Err(Errno::EINVAL),
    }
}

/// The host clock `id` now; every clock `clock` accepts exists on the host.
fn host_time(id: libc::clockid_t) -> Timespec {
    sys::time::clock_gettime(id).unwrap_or_default()
}

/// The time a valid timespec measures: one [`read_timespec`] checked, or a
/// host clock's reading (Linux keeps even the realtime clock at or after
/// the epoch).
pub(super) fn duration(ts: &Timespec) -> Duration {
    let secs = u64::try_from(ts.tv_sec).expect("a valid timespec's seconds are not negative");
    let nanos = u32::try_from(ts.tv_nsec).expect("a valid timespec's nanoseconds are below 1e9");
    Duration::new(secs, nanos)
}

/// Reads and validates a user timespec.
pub(super) fn read_timespec(task: &TaskCtx, addr: UserAddr) -> Result<Timespec, Errno> {
    let ts: Timespec = task.mm().read_pod(addr)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(ts)
}

/// Reads a user timeval as the time it measures; negative seconds, or
/// microseconds outside 0..1e6, are EINVAL.
pub(super) fn read_timeval(task: &TaskCtx, addr: UserAddr) -> Result<Duration, Errno> {
    let tv: Timeval = task.mm().read_pod(addr)?;
    let (Ok(secs), Ok(micros)) = (u64::try_from(tv.tv_sec), u32::try_from(tv.tv_usec)) else {
        return Err(Errno::EINVAL);
    };
    if micros >= 1_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(secs, micros * 1000))
}

/// Implements clock_gettime(2).
pub fn clock_gettime(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let now = match clock(args.int(0))? {
        Clock::Host(id) => host_time(id),

        Clock::ProcessCpu => Timespec::from_duration(task.tasks().process_cpu(task.pid())),
        Clock::ThreadCpu => Timespec::from_duration(task.cpu_time()),
    };
    task.mm().write_pod(args.addr(1), &now)?;
    Ok(0)
}

/// Implements clock_getres(2).
pub fn clock_getres(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let resolution = match clock(args.int(0))? {
        Clock::Host(id) => sys::time::clock_getres(id)?,
        Clock::ProcessCpu | Clock::ThreadCpu => Timespec { tv_sec: 0, tv_nsec: 1 },
    };
    if args.u64(1) != 0 {
        task.mm().write_pod(args.addr(1), &resolution)?;
    }
    Ok(0)
}

/// Implements gettimeofday(2).
pub fn gettimeofday(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    if args.u64(0) != 0 {
        let now = host_time(libc::CLOCK_REALTIME);
        let tv = Timeval {
            tv_sec: now.tv_sec,
            tv_usec: now.tv_nsec / 1000,
        };
        task.mm().write_pod(args.addr(0), &tv)?;
    }
    if args.u64(1) != 0 {
        // struct timezone: minutes west of Greenwich and DST type, both 0
        // as on a Linux host whose sys_tz was never set.
        task.mm().write_pod(args.addr(1), &0u64)?;
    }
    Ok(0)
}

/// Implements time(2).
pub fn time(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let now = host_time(libc::CLOCK_REALTIME).tv_sec;
    if args.u64(0) != 0 {
        task.mm().write_pod(args.addr(0), &now)?;
    }
    Ok(u64::try_from(now).expect("Linux keeps the realtime clock at or after the epoch"))
}

/// Sleeps until `deadline` (on `clock`), interruptibly. Interrupted, it
/// stores the time left in `remaining` (if given) and arranges to go on
/// through restart_syscall(2) if no handler runs.
fn sleep_until(task: &mut TaskCtx, clock: libc::clockid_t, deadline: Instant, remaining: UserAddr) -> SyscallResult {
    let blocker: &Task = task;
    match blocker.block_on::<()>(None, Some(deadline), || None) {
        Err(Errno::ETIMEDOUT) => Ok(0),
        Err(Errno::EINTR) => {
            if !remaining.is_null() {
                let left = deadline.saturating_duration_since(Instant::now());
                task.mm().write_pod(remaining, &Timespec::from_duration(left))?;
            }
            task.set_restart(Restart::Sleep { clock, deadline });
            Err(Errno::EINTR)
        }
        other => other.map(|()| 0),
    }
}

/// The monotonic instant at which `clock` reads `target`.
pub(super) fn instant_of(clock: libc::clockid_t, target: &Timespec) -> Instant {
    let now = host_time(clock);
    let ahead = duration(target).saturating_sub(duration(&now));
    Instant::now() + ahead
}

/// Implements nanosleep(2).
pub fn nanosleep(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let request = read_timespec(task, args.addr(0))?;
    let deadline = Instant::now() + duration(&request);
    sleep_until(task, libc::CLOCK_MONOTONIC, deadline, args.addr(1))
}

/// Implements clock_nanosleep(2).
pub fn clock_nanosleep(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (id, flags) = (args.int(0), args.int(1));
    let id = match clock(id)? {
        Clock::Host(id @ (libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI)) => id,
        Clock::ThreadCpu => return Err(Errno::EINVAL),
        _ => return Err(Errno::EOPNOTSUPP),
    };
    let request = read_timespec(task, args.addr(2))?;
    if flags & libc::TIMER_ABSTIME != 0 {
        let deadline = instant_of(id, &request);
        // An absolute sleep has no time left to report.
        sleep_until(task, id, deadline, UserAddr::NULL)
    } else {
        sleep_until(task, id, Instant::now() + duration(&request), args.addr(3))
    }
}

/// Implements restart_syscall(2): goes on with a sleep a signal without a
/// handler interrupted.
pub fn restart_syscall(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    match task.take_restart_sleep() {
        Some((clock, deadline)) => sleep_until(task, clock, deadline, UserAddr::NULL),
        None => Err(Errno::EINTR),
    }
}

/// Implements times(2): CPU time in clock ticks (USER_HZ 100); system time
/// is counted as zero, the kernel's work is not the process's on cordon.
pub fn times(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // A clock_t; saturating, though no CPU time or uptime comes near.
    let ticks = |d: Duration| i64::try_from(d.as_millis() / 10).unwrap_or(i64::MAX);
    if args.u64(0) != 0 {
        let children = task.tasks().children_cpu(task.pid());
        let tms: [i64; 4] = [ticks(task.tasks().process_cpu(task.pid())), 0, ticks(children), 0];
        let bytes: Vec<u8> = tms.iter().flat_map(|v| v.to_le_bytes()).collect();
        task.mm().copy_out(args.addr(0), &bytes)?;
    }
    let uptime = task.core().boot_time.elapsed();
    Ok(u64::try_from(ticks(uptime)).expect("ticks are not negative"))
}

/// Implements getrusage(2): user CPU time, for the thread, the process or
/// its reaped children.
pub fn getrusage(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let cpu = match args.int(0) {
        libc::RUSAGE_SELF => task.tasks().process_cpu(task.pid()),
        libc::RUSAGE_THREAD => task.cpu_time(),
        libc::RUSAGE_CHILDREN => task.tasks().children_cpu(task.pid()),
        _ => return Err(Errno::EINVAL),
    };
    // ru_utime, the first field; the rest of struct rusage is zero.
    let mut rusage = [0u8; 144];
    rusage[..16].copy_from_slice(Timeval::from_duration(cpu).as_bytes());
    task.mm().copy_out(args.addr(1), &rusage)?;
    Ok(0)
}
