//! futex(2).
//!
//! Lock order: the futex table's lock (`FutexTable::queues`) before the
//! caller's memory manager: WAIT and CMP_REQUEUE read the word, WAKE_OP
//! changes it, with both held, so no wake falls between the check and the
//! queueing.

use std::time::Instant;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::time::{duration, read_timespec};
use crate::abi::UserAddr;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;
use crate::sync::Blocking;
use crate::sync::futex::FutexTable;
use crate::task::Restart;

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAKE_OP: i32 = 5;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;

/// Implements futex(2): WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP,
/// WAIT_BITSET and WAKE_BITSET, private or shared; the PI operations are
/// ENOSYS.
pub fn futex(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (uaddr, op, val) = (args.addr(0), args.int(1), args.u32(2));
    let command = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && command != FUTEX_WAIT && command != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS);
    }
    match command {
        FUTEX_WAIT => wait(task, uaddr, val, args.addr(3), u32::MAX, false, realtime),
        FUTEX_WAIT_BITSET => wait(task, uaddr, val, args.addr(3), args.u32(5), true, realtime),
        FUTEX_WAKE => wake(task, uaddr, val, u32::MAX),
        FUTEX_WAKE_BITSET => wake(task, uaddr, val, args.u32(5)),
        FUTEX_REQUEUE => requeue(task, uaddr, args.addr(4), val, args.u32(3), None),
        FUTEX_CMP_REQUEUE => requeue(task, uaddr, args.addr(4), val, args.u32(3), Some(args.u32(5))),
        FUTEX_WAKE_OP => wake_op(task, uaddr, args.addr(4), val, args.u32(3), args.u32(5)),
        _ => Err(Errno::ENOSYS),
    }
}

/// FUTEX_WAIT(_BITSET): sleeps while the word holds `val`.
fn wait(
    task: &mut TaskCtx,
    uaddr: UserAddr,
    val: u32,
    timeout: UserAddr,
    bitset: u32,
    absolute: bool,
    realtime: bool,
) -> SyscallResult {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        let ts = read_timespec(task, timeout)?;
        Some(if absolute {
            let clock = if realtime {
                libc::CLOCK_REALTIME
            } else {
                libc::CLOCK_MONOTONIC
            };
            super::time::instant_of(clock, &ts)
        } else {
            Instant::now() + duration(&ts)
        })
    };
    let futexes: &FutexTable = &task.core().futexes;
    let queued = {
        let mut queues = futexes.lock();
        let mm = task.mm();
        let key = mm.futex_key(uaddr)?;
        let current: u32 = mm.read_pod(uaddr)?;
        drop(mm);
        if current != val {
            return Err(Errno::EAGAIN);
        }
        futexes.enqueue(&mut queues, key, bitset, task.waker())
    };
    let result = task.block_on(None, deadline, || queued.woken().then_some(Ok(())));
    drop(queued);
    match result {
        Ok(()) => Ok(0),
        Err(Errno::EINTR) => {
            if deadline.is_none() {
                task.set_restart(Restart::UnlessHandled);
            }
            Err(Errno::EINTR)
        }
        Err(errno) => Err(errno),
    }
}

fn wake(task: &mut TaskCtx, uaddr: UserAddr, count: u32, bitset: u32) -> SyscallResult {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let key = task.mm().futex_key(uaddr)?;
    Ok(usize_to_u64(task.core().futexes.wake(key, count as usize, bitset)))
}

fn requeue(
    task: &mut TaskCtx,
    from: UserAddr,
    to: UserAddr,
    wake: u32,
    requeue: u32,
    expected: Option<u32>,
) -> SyscallResult {
    // Linux takes both counts as ints: a negative one is EINVAL.
    if i32::try_from(wake).is_err() || i32::try_from(requeue).is_err() {
        return Err(Errno::EINVAL);
    }
    let futexes = &task.core().futexes;
    let mut queues = futexes.lock();
    let mm = task.mm();
    let (from_key, to_key) = (mm.futex_key(from)?, mm.futex_key(to)?);
    if let Some(expected) = expected {
        let current: u32 = mm.read_pod(from)?;
        if current != expected {
            return Err(Errno::EAGAIN);
        }
    }
    drop(mm);
    let moved = FutexTable::requeue_locked(&mut queues, from_key, to_key, wake as usize, requeue as usize);
    Ok(usize_to_u64(moved))
}

/// FUTEX_WAKE_OP: changes the word at `uaddr2` as `encoded` says, wakes
/// waiters on `uaddr`, and on `uaddr2` too if the old value passes the
/// encoded comparison.
fn wake_op(
    task: &mut TaskCtx,
    uaddr: UserAddr,
    uaddr2: UserAddr,
    wake1: u32,
    wake2: u32,
    encoded: u32,
) -> SyscallResult {
    let shift = encoded & (8 << 28) != 0;
    let op = (encoded >> 28) & 7;
    let cmp = (encoded >> 24) & 15;
    let mut oparg = (encoded >> 12) & 0xfff;
    let cmparg = i32::try_from(encoded & 0xfff).expect("masked to 12 bits");
    if shift {
        oparg = 1u32.checked_shl(oparg).unwrap_or(0);
    }
    let update = |old: u32| match op {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        _ => old ^ oparg,
    };
    if op > 4 || cmp > 5 {
        return Err(Errno::ENOSYS);
    }
    let futexes = &task.core().futexes;
    let mut queues = futexes.lock();
    let mm = task.mm();
    let (key1, key2) = (mm.futex_key(uaddr)?, mm.futex_key(uaddr2)?);
    // The comparison is of the word as the C int Linux reads it.
    let old = i32::from_ne_bytes(mm.atomic_update_u32(uaddr2, update)?.to_ne_bytes());
    drop(mm);
    let mut woken = FutexTable::wake_locked(&mut queues, key1, wake1 as usize, u32::MAX);
    let passes = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => old < cmparg,
        3 => old <= cmparg,
        4 => old > cmparg,
        _ => old >= cmparg,
    };
    if passes {
        woken += FutexTable::wake_locked(&mut queues, key2, wake2 as usize, u32::MAX);
    }
    Ok(usize_to_u64(woken))
}
