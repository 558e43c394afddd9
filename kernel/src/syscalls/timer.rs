//! Timers that signal: setitimer, getitimer, alarm, and the POSIX timers
//! (timer_create, timer_settime, timer_gettime, timer_getoverrun,
//! timer_delete).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::context::TaskCtx;
use super::time::{duration, read_timespec, read_timeval};
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::abi::structs::{Timespec, Timeval};
use crate::task::timer::{CpuTimer, Notify, Timer, TimerId};

/// Time left before a timer's next expiry; zero when disarmed. A timer that
/// is due reads as the smallest non-zero value, not as disarmed.
fn remaining(timer: Option<Timer>, smallest: Duration) -> (Duration, Duration) {
    match timer.and_then(|t| t.deadline.map(|deadline| (t.interval, deadline))) {
        None => (timer.map_or(Duration::ZERO, |t| t.interval), Duration::ZERO),
        Some((interval, deadline)) => (
            interval,
            deadline.saturating_duration_since(Instant::now()).max(smallest),
        ),
    }
}

fn check_which(which: i32) -> Result<(), Errno> {
    match which {
        libc::ITIMER_REAL | libc::ITIMER_VIRTUAL | libc::ITIMER_PROF => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

fn set_real(task: &TaskCtx, timer: Option<Timer>) -> Option<Timer> {
    let kernel = Arc::clone(task.core());
    kernel.timers.set(&kernel, task.pid(), TimerId::Real, timer)
}

/// An interval timer as struct itimerval reports it: (interval, value).
fn interval_timer(task: &TaskCtx, which: i32) -> (Duration, Duration) {
    if which == libc::ITIMER_REAL {
        return remaining(
            task.core().timers.get(task.pid(), TimerId::Real),
            Duration::from_micros(1),
        );
    }
    match task.core().timers.get_cpu(task.pid(), which) {
        None => (Duration::ZERO, Duration::ZERO),
        Some(timer) => {
            let used = task.tasks().process_cpu(task.pid());
            (
                timer.interval,
                timer.target.saturating_sub(used).max(Duration::from_micros(1)),
            )
        }
    }
}

fn write_interval_timer(task: &TaskCtx, addr: UserAddr, (interval, value): (Duration, Duration)) -> Result<(), Errno> {
    let mm = task.mm();
    mm.write_pod(addr, &Timeval::from_duration(interval))?;
    mm.write_pod(addr + 16, &Timeval::from_duration(value))
}

/// Implements getitimer(2).
pub fn getitimer(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let which = args.int(0);
    check_which(which)?;
    write_interval_timer(task, args.addr(1), interval_timer(task, which))?;
    Ok(0)
}

/// Implements setitimer(2): ITIMER_REAL on the wall clock, ITIMER_VIRTUAL
/// and ITIMER_PROF on the process's CPU time (checked every 10 ms).
pub fn setitimer(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let which = args.int(0);
    check_which(which)?;
    let new = if args.u64(1) != 0 {
        let interval = read_timeval(task, args.addr(1))?;
        let value = read_timeval(task, args.addr(1) + 16)?;
        (!value.is_zero()).then_some((interval, value))
    } else {
        None
    };
    let old = interval_timer(task, which);
    let kernel = Arc::clone(task.core());
    if which == libc::ITIMER_REAL {
        set_real(
            task,
            new.map(|(interval, value)| Timer::real(Instant::now() + value, interval)),
        );
    } else {
        let signo = if which == libc::ITIMER_VIRTUAL {
            libc::SIGVTALRM
        } else {
            libc::SIGPROF
        };
        let used = task.tasks().process_cpu(task.pid());
        let timer = new.map(|(interval, value)| CpuTimer {
            target: used + value,
            interval,
            signo,
        });
        kernel.timers.set_cpu(&kernel, task.pid(), which, timer);
    }
    if args.u64(2) != 0 {
        write_interval_timer(task, args.addr(2), old)?;
    }
    Ok(0)
}

/// Implements alarm(2).
pub fn alarm(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let seconds = u64::from(args.u32(0));
    let new = (seconds != 0).then(|| Timer::real(Instant::now() + Duration::from_secs(seconds), Duration::ZERO));
    let old = set_real(task, new);
    // Seconds left, rounded to the nearest, and at least 1 if armed.
    let (_, left) = remaining(old, Duration::ZERO);
    if old.and_then(|t| t.deadline).is_none() {
        return Ok(0);
    }
    Ok((left.as_secs() + u64::from(left.subsec_millis() >= 500)).max(1))
}

/// sigevent notify values.
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;

/// The clocks POSIX timers run on.
fn timer_clock(clock: i32) -> Result<libc::clockid_t, Errno> {
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI => Ok(clock),
        // CPU-time timers: see check_which.
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => Err(Errno::ENOTSUP),
        _ => Err(Errno::EINVAL),
    }
}

/// Implements timer_create(2) for SIGEV_SIGNAL, SIGEV_THREAD_ID and
/// SIGEV_NONE.
pub fn timer_create(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let clock = timer_clock(args.int(0))?;
    // Without a sigevent: SIGALRM carrying the timer id.
    let mut value_is_id = true;
    let notify = if args.u64(1) == 0 {
        Notify::Signal {
            signo: libc::SIGALRM,
            value: 0,
            thread: None,
        }
    } else {
        // struct sigevent: sigval (8), signo (4), notify (4), then the
        // union whose first int is the thread id.
        let mut raw = [0u8; 20];
        task.mm().copy_in(args.addr(1), &mut raw)?;
        let value = u64::from_le_bytes(raw[0..8].try_into().expect("8 bytes"));
        let signo = i32::from_le_bytes(raw[8..12].try_into().expect("4 bytes"));
        let how = i32::from_le_bytes(raw[12..16].try_into().expect("4 bytes"));
        let tid = i32::from_le_bytes(raw[16..20].try_into().expect("4 bytes"));
        value_is_id = false;
        match how {
            SIGEV_NONE => Notify::Nothing,
            SIGEV_SIGNAL | SIGEV_THREAD_ID if !crate::abi::signal::valid(signo) => return Err(Errno::EINVAL),
            SIGEV_SIGNAL => Notify::Signal {
                signo,
                value,
                thread: None,
            },
            SIGEV_THREAD_ID if task.tasks().tgid(tid) == Some(task.pid()) => Notify::Signal {
                signo,
                value,
                thread: Some(tid),
            },
            _ => return Err(Errno::EINVAL),
        }
    };
    let kernel = Arc::clone(task.core());
    let id = kernel.timers.create(task.pid(), clock, notify).ok_or(Errno::EAGAIN)?;
    if let (true, Notify::Signal { signo, thread, .. }) = (value_is_id, notify) {
        let timer = kernel.timers.get(task.pid(), TimerId::Posix(id)).expect("just created");
        let notify = Notify::Signal {
            signo,
            value: u64::try_from(id).expect("timer ids count up from 0"),
            thread,
        };
        kernel
            .timers
            .set(&kernel, task.pid(), TimerId::Posix(id), Some(Timer { notify, ..timer }));
    }
    if let Err(errno) = task.mm().write_pod(args.addr(2), &id) {
        kernel.timers.set(&kernel, task.pid(), TimerId::Posix(id), None);
        return Err(errno);
    }
    Ok(0)
}

fn posix_timer(task: &TaskCtx, id: i32) -> Result<Timer, Errno> {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    task.core()
        .timers
        .get(task.pid(), TimerId::Posix(id))
        .ok_or(Errno::EINVAL)
}

fn write_itimerspec(task: &TaskCtx, addr: UserAddr, timer: Option<Timer>) -> Result<(), Errno> {
    let (interval, value) = remaining(timer, Duration::from_nanos(1));
    let mm = task.mm();
    mm.write_pod(addr, &Timespec::from_duration(interval))?;
    mm.write_pod(addr + 16, &Timespec::from_duration(value))
}

/// Implements timer_settime(2); TIMER_ABSTIME on the clock it names.
pub fn timer_settime(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (id, flags, new, old) = (args.int(0), args.int(1), args.addr(2), args.addr(3));
    let timer = posix_timer(task, id)?;
    if flags & !libc::TIMER_ABSTIME != 0 {
        return Err(Errno::EINVAL);
    }
    let interval = duration(&read_timespec(task, new)?);
    let value = read_timespec(task, new + 16)?;
    let deadline = if value.tv_sec == 0 && value.tv_nsec == 0 {
        None
    } else if flags & libc::TIMER_ABSTIME != 0 {
        Some(super::time::instant_of(timer.clock, &value))
    } else {
        Some(Instant::now() + duration(&value))
    };
    if !old.is_null() {
        write_itimerspec(task, old, Some(timer))?;
    }
    let kernel = Arc::clone(task.core());
    kernel.timers.set(
        &kernel,
        task.pid(),
        TimerId::Posix(id),
        Some(Timer {
            deadline,
            interval,
            overrun: 0,
            ..timer
        }),
    );
    Ok(0)
}

/// Implements timer_gettime(2).
pub fn timer_gettime(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let timer = posix_timer(task, args.int(0))?;
    write_itimerspec(task, args.addr(1), Some(timer))?;
    Ok(0)
}

/// Implements timer_getoverrun(2).
pub fn timer_getoverrun(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(posix_timer(task, args.int(0))?.overrun.min(i32::MAX as u32)))
}

/// Implements timer_delete(2).
pub fn timer_delete(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    posix_timer(task, args.int(0))?;
    let kernel = Arc::clone(task.core());
    kernel
        .timers
        .set(&kernel, task.pid(), TimerId::Posix(args.int(0)), None);
    Ok(0)
}
