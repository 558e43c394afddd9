//! Waiting for readiness: poll, ppoll, select, pselect6.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::context::TaskCtx;
use super::time::{duration, read_timespec, read_timeval};
use crate::abi::UserAddr;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;
use crate::abi::signal::SigSet;
use crate::abi::structs::Timeval;
use crate::fsimpl::HOST_POLL_INTERVAL;
use crate::vfs::File;

use crate::sync::Blocking;
use crate::task::{Restart, Task};

/// Always reported, whether asked for or not.
const ALWAYS: u16 = (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) as u16;

/// One fd being waited on.
struct Watch {
    fd: i32,
    events: u16,
    file: Option<Arc<dyn File>>,
}

/// Waits until one of `watches` is ready, the deadline passes or a signal
/// arrives. Returns the revents of each watch.
fn wait_ready(task: &mut TaskCtx, watches: &[Watch], deadline: Option<Instant>) -> Result<Vec<u16>, Errno> {
    let check = || -> Vec<u16> {
        watches
            .iter()
            .map(|watch| match &watch.file {
                None if watch.fd >= 0 => libc::POLLNVAL as u16,
                None => 0,
                Some(file) => file.poll() & (watch.events | ALWAYS),
            })
            .collect()
    };
    let queues: Vec<_> = watches
        .iter()
        .filter_map(|watch| watch.file.as_ref()?.wait_queue())
        .collect();
    let polls_host = watches
        .iter()
        .any(|watch| watch.file.as_ref().is_some_and(|file| file.wait_queue().is_none()));
    let blocker: &Task = task;
    loop {
        let tick = if polls_host {
            Some(Instant::now() + HOST_POLL_INTERVAL)
        } else {
            None
        };
        let until = match (deadline, tick) {
            (Some(deadline), Some(tick)) => Some(deadline.min(tick)),
            (deadline, tick) => deadline.or(tick),
        };
        let result = blocker.block_on_any(&queues, until, || {
            let ready = check();
            ready.iter().any(|&revents| revents != 0).then_some(Ok(ready))
        });
        match result {
            Err(Errno::ETIMEDOUT) if deadline.is_none_or(|deadline| Instant::now() < deadline) => continue,
            Err(Errno::ETIMEDOUT) => return Ok(check()),
            other => return other,
        }
    }
}

/// Reads the `count` struct pollfd at `addr`; poll and ppoll take the
/// count as an unsigned int, as Linux does.
fn read_pollfds(task: &TaskCtx, addr: UserAddr, count: u32) -> Result<Vec<Watch>, Errno> {
    if u64::from(count) > task.limit(libc::RLIMIT_NOFILE) {
        return Err(Errno::EINVAL);
    }
    let count = usize::try_from(count).map_err(|_| Errno::EINVAL)?;
    let mut raw = vec![0u8; count * 8];
    task.mm().copy_in(addr, &mut raw)?;
    let fds = task.fds();
    Ok(raw
        .chunks_exact(8)
        .map(|entry| {
            let fd = i32::from_le_bytes(entry[0..4].try_into().expect("4 bytes"));
            let events = u16::from_le_bytes(entry[4..6].try_into().expect("2 bytes"));
            Watch {
                fd,
                events,
                file: if fd >= 0 { fds.get(fd).ok() } else { None },
            }
        })
        .collect())
}

fn write_revents(task: &TaskCtx, addr: UserAddr, revents: &[u16]) -> Result<u64, Errno> {
    let mm = task.mm();
    for (i, value) in revents.iter().enumerate() {
        mm.copy_out(addr + usize_to_u64(i) * 8 + 6, &value.to_le_bytes())?;
    }
    Ok(usize_to_u64(revents.iter().filter(|&&value| value != 0).count()))
}

/// Swaps in the mask of ppoll/pselect6 (and epoll_pwait) for the wait; the
/// old one comes back after a handler (or at once if none runs), as with
/// sigsuspend.
pub(super) fn apply_wait_mask(task: &mut TaskCtx, mask: Option<SigSet>) {
    if let Some(mask) = mask {
        task.set_temporary_mask(mask);
    }
}

pub(super) fn read_sigmask(task: &TaskCtx, addr: UserAddr, size: u64) -> Result<Option<SigSet>, Errno> {
    if addr.is_null() {
        return Ok(None);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(task.mm().read_pod(addr)?))
}

fn finish(task: &mut TaskCtx, result: Result<u64, Errno>, restart: Restart) -> SyscallResult {
    if result == Err(Errno::EINTR) {
        task.set_restart(restart);
    } else {
        task.end_temporary_mask();
    }
    result
}

/// Implements poll(2).
pub fn poll(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let watches = read_pollfds(task, args.addr(0), args.u32(1))?;
    // A negative timeout waits for ever.
    let deadline = u64::try_from(args.int(2))
        .ok()
        .map(|millis| Instant::now() + Duration::from_millis(millis));
    let result = wait_ready(task, &watches, deadline).and_then(|revents| write_revents(task, args.addr(0), &revents));
    finish(task, result, Restart::IfNoHandler)
}

/// Implements ppoll(2).
pub fn ppoll(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let watches = read_pollfds(task, args.addr(0), args.u32(1))?;
    let deadline = if args.u64(2) != 0 {
        Some(Instant::now() + duration(&read_timespec(task, args.addr(2))?))
    } else {
        None
    };
    let mask = read_sigmask(task, args.addr(3), args.u64(4))?;
    apply_wait_mask(task, mask);
    let result = wait_ready(task, &watches, deadline).and_then(|revents| write_revents(task, args.addr(0), &revents));
    finish(task, result, Restart::IfNoHandler)
}

const SELECT_READ: u16 = (libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLHUP | libc::POLLERR) as u16;
const SELECT_WRITE: u16 = (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLERR) as u16;
const SELECT_EXCEPT: u16 = libc::POLLPRI as u16;

/// The three fd sets of select, as bitmaps of `nfds` bits.
fn read_fdset(task: &TaskCtx, addr: UserAddr, nfds: usize) -> Result<Option<Vec<u8>>, Errno> {
    if addr.is_null() {
        return Ok(None);
    }
    let mut bits = vec![0u8; nfds.div_ceil(64) * 8];
    task.mm().copy_in(addr, &mut bits)?;
    Ok(Some(bits))
}

fn is_set(bits: &Option<Vec<u8>>, fd: usize) -> bool {
    bits.as_ref().is_some_and(|bits| bits[fd / 8] & (1 << (fd % 8)) != 0)
}

/// The core of select and pselect6: returns the number of ready bits.
fn do_select(task: &mut TaskCtx, nfds: i32, sets: [UserAddr; 3], deadline: Option<Instant>) -> Result<u64, Errno> {
    // nfds is an int: negative is EINVAL, as is one past the fd limit.
    let nfds = usize::try_from(nfds).map_err(|_| Errno::EINVAL)?;
    if usize_to_u64(nfds) > task.limit(libc::RLIMIT_NOFILE).max(1024) {
        return Err(Errno::EINVAL);
    }
    let [read_set, write_set, except_set] = [
        read_fdset(task, sets[0], nfds)?,
        read_fdset(task, sets[1], nfds)?,
        read_fdset(task, sets[2], nfds)?,
    ];
    let mut watches = Vec::new();
    let mut watched_fds = Vec::new();
    for fd in 0..nfds {
        let mut events = 0;
        if is_set(&read_set, fd) {
            events |= SELECT_READ;
        }
        if is_set(&write_set, fd) {
            events |= SELECT_WRITE;
        }
        if is_set(&except_set, fd) {
            events |= SELECT_EXCEPT;
        }
        if events != 0 {
            let number = i32::try_from(fd).expect("below nfds, an int");
            let file = task.fds().get(number).map_err(|_| Errno::EBADF)?;
            watches.push(Watch {
                fd: number,
                events,
                file: Some(file),
            });
            watched_fds.push(fd);
        }
    }
    let revents = wait_ready(task, &watches, deadline)?;
    let mut out = [
        read_set.map(|b| vec![0u8; b.len()]),
        write_set.map(|b| vec![0u8; b.len()]),
        except_set.map(|b| vec![0u8; b.len()]),
    ];
    let mut count = 0;
    // watched_fds[i] is the fd of watches[i], whose readiness is revents[i].
    for ((&fd, watch), &ready) in watched_fds.iter().zip(&watches).zip(&revents) {
        for (set, mask) in out.iter_mut().zip([SELECT_READ, SELECT_WRITE, SELECT_EXCEPT]) {
            if let Some(bits) = set {
                let asked = watch.events & mask != 0;
                if asked && ready & mask != 0 {
                    bits[fd / 8] |= 1 << (fd % 8);
                    count += 1;
                }
            }
        }
    }
    for (set, addr) in out.iter().zip(sets) {
        if let Some(bits) = set {
            task.mm().copy_out(addr, bits)?;
        }
    }
    Ok(count)
}

/// Implements select(2); the timeout is updated with the time left, as
/// Linux does.
pub fn select(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let timeout = args.addr(4);
    let deadline = if !timeout.is_null() {
        Some(Instant::now() + read_timeval(task, timeout)?)
    } else {
        None
    };
    let result = do_select(task, args.int(0), [args.addr(1), args.addr(2), args.addr(3)], deadline);
    if let Some(deadline) = deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = task.mm().write_pod(timeout, &Timeval::from_duration(left));
    }
    finish(task, result, Restart::IfNoHandler)
}

/// Implements pselect6(2).
pub fn pselect6(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let deadline = if args.u64(4) != 0 {
        Some(Instant::now() + duration(&read_timespec(task, args.addr(4))?))
    } else {
        None
    };
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    let mask = if args.u64(5) != 0 {
        // Two statements: the first guard of `task.mm()` would otherwise
        // still hold the memory manager's lock when the second takes it.
        let set = UserAddr::new(task.mm().read_pod(args.addr(5))?);
        let set_len: u64 = task.mm().read_pod(args.addr(5) + 8)?;
        read_sigmask(task, set, set_len)?
    } else {
        None
    };
    apply_wait_mask(task, mask);
    let result = do_select(task, args.int(0), [args.addr(1), args.addr(2), args.addr(3)], deadline);
    finish(task, result, Restart::IfNoHandler)
}
