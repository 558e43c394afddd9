//! timerfd_create(2): timerfd_create, timerfd_settime, timerfd_gettime.

use std::sync::Arc;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::file::install;
use super::time::{duration, read_timespec};
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::abi::structs::Timespec;
use crate::kernel::timerfd::{TimerFd, TimerSetting};

/// Implements timerfd_create(2).
pub fn timerfd_create(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (clock, flags) = (args.int(0), args.int(1));
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME => {}
        // Waking the machine needs CAP_WAKE_ALARM, which no container has.
        libc::CLOCK_REALTIME_ALARM | libc::CLOCK_BOOTTIME_ALARM => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    if flags & !(libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let timer = TimerFd::new(task.kernel, clock, flags & libc::TFD_NONBLOCK != 0);
    install(task, Arc::new(timer), flags & libc::TFD_CLOEXEC != 0)
}

/// Writes a struct itimerspec: the interval first, then the value.
fn write_itimerspec(task: &TaskCtx, addr: UserAddr, setting: TimerSetting) -> Result<(), Errno> {
    let mm = task.mm();
    mm.write_pod(addr, &Timespec::from_duration(setting.interval))?;
    mm.write_pod(addr + 16, &Timespec::from_duration(setting.value))
}

/// Implements timerfd_settime(2). TFD_TIMER_CANCEL_ON_SET is accepted; the
/// sandbox cannot set the clock, so a read never ends with ECANCELED.
pub fn timerfd_settime(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (fd, flags, new, old) = (args.int(0), args.int(1), args.addr(2), args.addr(3));
    let setting = TimerSetting {
        interval: duration(&read_timespec(task, new)?),
        value: duration(&read_timespec(task, new + 16)?),
    };
    if flags & !(libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = task.fds().get(fd)?;
    let timer = TimerFd::of(&*file).ok_or(Errno::EINVAL)?;
    let previous = timer.set(setting, flags & libc::TFD_TIMER_ABSTIME != 0);
    if !old.is_null() {
        write_itimerspec(task, old, previous)?;
    }
    Ok(0)
}

/// Implements timerfd_gettime(2).
pub fn timerfd_gettime(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let file = task.fds().get(args.int(0))?;
    let setting = TimerFd::of(&*file).ok_or(Errno::EINVAL)?.get();
    write_itimerspec(task, args.addr(1), setting)?;
    Ok(0)
}
