//! epoll(7): epoll_create, epoll_create1, epoll_ctl, epoll_wait,
//! epoll_pwait, epoll_pwait2.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::context::TaskCtx;
use super::file::install;
use super::poll::{apply_wait_mask, read_sigmask};
use super::time::{duration, read_timespec};
use crate::abi::UserAddr;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;
use crate::fsimpl::{EpollEvent, EpollFile, HOST_POLL_INTERVAL};

use crate::sync::Blocking;
use crate::task::Task;

/// The most events one wait returns (Linux's EP_MAX_EVENTS, INT_MAX over
/// the size of an event).
const MAX_EVENTS: usize = i32::MAX as usize / EpollEvent::SIZE;

fn create(task: &TaskCtx, cloexec: bool) -> SyscallResult {
    install(task, Arc::new(EpollFile::default()), cloexec)
}

/// Implements epoll_create(2): the size is a hint that must be positive.
pub fn epoll_create(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    if args.int(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    create(task, false)
}

/// Implements epoll_create1(2).
pub fn epoll_create1(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.int(0);
    if flags & !libc::EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    create(task, flags & libc::EPOLL_CLOEXEC != 0)
}

/// Implements epoll_ctl(2).
pub fn epoll_ctl(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (epfd, op, fd, event_addr) = (args.int(0), args.int(1), args.int(2), args.addr(3));
    // The event is read first, as Linux does; DEL ignores it.
    let event = if op != libc::EPOLL_CTL_DEL {
        let mut bytes = [0u8; EpollEvent::SIZE];
        task.mm().copy_in(event_addr, &mut bytes)?;
        EpollEvent::from_bytes(&bytes)
    } else {
        EpollEvent { events: 0, data: 0 }
    };
    let (epoll_file, target) = {
        let fds = task.fds();
        (fds.get(epfd)?, fds.get(fd)?)
    };
    if !target.pollable() {
        return Err(Errno::EPERM);
    }
    let epoll = EpollFile::of(&*epoll_file).ok_or(Errno::EINVAL)?;
    if std::ptr::addr_eq(Arc::as_ptr(&epoll_file), Arc::as_ptr(&target)) {
        return Err(Errno::EINVAL);
    }
    match op {
        libc::EPOLL_CTL_ADD => epoll.add(fd, &target, event)?,
        libc::EPOLL_CTL_MOD => epoll.modify(fd, &target, event)?,
        libc::EPOLL_CTL_DEL => epoll.delete(fd, &target)?,
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

/// The core of the epoll_wait family: waits until `deadline` (None: no
/// limit) for events and stores them at `events_addr`.
///
/// A signal ends the wait with EINTR, which is never restarted, not even
/// for SA_RESTART handlers (signal(7)).
fn wait(task: &TaskCtx, epfd: i32, events_addr: UserAddr, max: i32, deadline: Option<Instant>) -> SyscallResult {
    // maxevents is an int: negative, zero or past EP_MAX_EVENTS is EINVAL.
    let max = usize::try_from(max)
        .ok()
        .filter(|max| (1..=MAX_EVENTS).contains(max))
        .ok_or(Errno::EINVAL)?;
    let file = task.fds().get(epfd)?;
    let epoll = EpollFile::of(&*file).ok_or(Errno::EINVAL)?;
    // Unwritable memory is found before events are taken and lost.
    let len = usize_to_u64(max * EpollEvent::SIZE);
    task.mm().check(events_addr, len, true)?;
    let events = collect_or_wait(task, epoll, max, deadline)?;
    let bytes: Vec<u8> = events.iter().flat_map(|event| event.to_bytes()).collect();
    task.mm().copy_out(events_addr, &bytes)?;
    Ok(usize_to_u64(events.len()))
}

fn collect_or_wait(
    task: &TaskCtx,
    epoll: &EpollFile,
    max: usize,
    deadline: Option<Instant>,
) -> Result<Vec<EpollEvent>, Errno> {
    let blocker: &Task = task;
    loop {
        // A zero timeout, or one that has run out, takes what is there.
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(epoll.collect(max));
        }
        let tick = epoll.polls_host_files().then(|| Instant::now() + HOST_POLL_INTERVAL);
        let until = match (deadline, tick) {
            (Some(deadline), Some(tick)) => Some(deadline.min(tick)),
            (deadline, tick) => deadline.or(tick),
        };
        let result = blocker.block_on(Some(epoll.queue()), until, || {
            let events = epoll.collect(max);
            (!events.is_empty()).then_some(Ok(events))
        });
        match result {
            Err(Errno::ETIMEDOUT) => continue,
            other => return other,
        }
    }
}

/// The deadline of a timeout in milliseconds; negative waits forever.
fn millis_deadline(timeout: i32) -> Option<Instant> {
    u64::try_from(timeout)
        .ok()
        .map(|ms| Instant::now() + Duration::from_millis(ms))
}

/// Puts the caller's mask back unless a signal interrupted the wait; then
/// signal delivery restores it after the handler.
fn restore_mask(task: &mut TaskCtx, result: SyscallResult) -> SyscallResult {
    if result != Err(Errno::EINTR) {
        task.end_temporary_mask();
    }
    result
}

/// Implements epoll_wait(2).
pub fn epoll_wait(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let deadline = millis_deadline(args.int(3));
    wait(task, args.int(0), args.addr(1), args.int(2), deadline)
}

/// Implements epoll_pwait(2): epoll_wait with a signal mask for the wait.
pub fn epoll_pwait(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let deadline = millis_deadline(args.int(3));
    let mask = read_sigmask(task, args.addr(4), args.u64(5))?;
    apply_wait_mask(task, mask);
    let result = wait(task, args.int(0), args.addr(1), args.int(2), deadline);
    restore_mask(task, result)
}

/// Implements epoll_pwait2(2): epoll_pwait with a timespec timeout.
pub fn epoll_pwait2(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let deadline = match args.addr(3) {
        addr if addr.is_null() => None,
        addr => Some(Instant::now() + duration(&read_timespec(task, addr)?)),
    };
    let mask = read_sigmask(task, args.addr(4), args.u64(5))?;
    apply_wait_mask(task, mask);
    let result = wait(task, args.int(0), args.addr(1), args.int(2), deadline);
    restore_mask(task, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_timeouts_wait_forever() {
        assert!(millis_deadline(-1).is_none());
        assert!(millis_deadline(-7).is_none());
        assert!(millis_deadline(0).is_some_and(|deadline| deadline <= Instant::now()));
    }
}
