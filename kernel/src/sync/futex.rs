//! Futexes (futex(2)): wait queues keyed by the futex word's place in the
//! memory file.
//!
//! Lock order: the table's lock (`FutexTable::queues`: every waiter, by
//! key) before the memory manager of the caller (futex(2) reads or updates
//! the word with both held, so that no wake falls between the check and the
//! queueing) and before the wakers it notifies (`Waker::sequence`); a
//! memory manager is never held while taking it.
//!
//! Every application page lives in the memory file, so the file offset of a
//! word names it uniquely: private futexes of different processes never
//! collide (their pages are distinct), and shared mappings reach the same
//! offset from every process, which is what shared futexes need.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::Waker;

/// One sleeper on a futex.
pub struct Waiter {
    waker: Arc<Waker>,
    bitset: u32,
    /// Set by the waker, under the table lock.
    woken: Arc<AtomicBool>,
}

/// All futex wait queues of the sandbox.
#[derive(Default)]
pub struct FutexTable {
    queues: Mutex<HashMap<u64, Vec<Waiter>>>,
}

/// A queued wait; dropping it leaves the queue if no wake came.
pub struct FutexWait<'a> {
    table: &'a FutexTable,
    key: u64,
    woken: Arc<AtomicBool>,
}

impl FutexWait<'_> {
    pub fn woken(&self) -> bool {
        self.woken.load(Ordering::SeqCst)
    }
}

impl Drop for FutexWait<'_> {
    fn drop(&mut self) {
        let mut queues = self.table.lock();
        if let Some(queue) = queues.get_mut(&self.key) {
            queue.retain(|waiter| !Arc::ptr_eq(&waiter.woken, &self.woken));
            if queue.is_empty() {
                queues.remove(&self.key);
            }
        }
    }
}

impl FutexTable {
    pub fn lock(&self) -> MutexGuard<'_, HashMap<u64, Vec<Waiter>>> {
        self.queues.lock().expect("futex table poisoned")
    }

    /// Queues a waiter on `key`. The caller holds the table lock (`queues`)
    /// from its check of the futex word until here, so no wake is lost.
    pub fn enqueue<'a>(
        &'a self,
        queues: &mut HashMap<u64, Vec<Waiter>>,
        key: u64,
        bitset: u32,
        waker: &Arc<Waker>,
    ) -> FutexWait<'a> {
        let woken = Arc::new(AtomicBool::new(false));
        queues.entry(key).or_default().push(Waiter {
            waker: Arc::clone(waker),
            bitset,
            woken: Arc::clone(&woken),
        });
        FutexWait {
            table: self,
            key,
            woken,
        }
    }

    /// Wakes up to `count` waiters on `key` whose bitset meets `bitset`.
    pub fn wake(&self, key: u64, count: usize, bitset: u32) -> usize {
        Self::wake_locked(&mut self.lock(), key, count, bitset)
    }

    pub fn wake_locked(queues: &mut HashMap<u64, Vec<Waiter>>, key: u64, count: usize, bitset: u32) -> usize {
        let Some(queue) = queues.get_mut(&key) else { return 0 };
        let mut woken = 0;
        queue.retain(|waiter| {
            if woken < count && waiter.bitset & bitset != 0 {
                waiter.woken.store(true, Ordering::SeqCst);
                waiter.waker.notify();
                woken += 1;
                false
            } else {
                true
            }
        });
        if queue.is_empty() {
            queues.remove(&key);
        }
        woken
    }

    /// Wakes up to `wake` waiters on `from` and moves up to `requeue` of the
    /// rest to `to`; returns how many were woken plus moved.
    pub fn requeue_locked(
        queues: &mut HashMap<u64, Vec<Waiter>>,
        from: u64,
        to: u64,
        wake: usize,
        requeue: usize,
    ) -> usize {
        let woken = Self::wake_locked(queues, from, wake, u32::MAX);
        let Some(queue) = queues.get_mut(&from) else {
            return woken;
        };
        let moving: Vec<Waiter> = queue.drain(..requeue.min(queue.len())).collect();
        if queue.is_empty() {
            queues.remove(&from);
        }
        let moved = moving.len();
        queues.entry(to).or_default().extend(moving);
        woken + moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_respects_count_and_bitset() {
        let table = FutexTable::default();
        let a = Waker::new();
        let b = Waker::new();
        let (wait_a, wait_b) = {
            let mut queues = table.lock();
            (
                table.enqueue(&mut queues, 8, 0b01, &a),
                table.enqueue(&mut queues, 8, 0b10, &b),
            )
        };
        assert_eq!(table.wake(8, 10, 0b10), 1);
        assert!(!wait_a.woken());
        assert!(wait_b.woken());
        assert_eq!(table.wake(8, 10, u32::MAX), 1);
        assert!(wait_a.woken());
    }

    #[test]
    fn a_dropped_wait_leaves_the_queue() {
        let table = FutexTable::default();
        let a = Waker::new();
        {
            let mut queues = table.lock();
            let _wait = table.enqueue(&mut queues, 8, u32::MAX, &a);
            drop(queues);
        }
        assert_eq!(table.wake(8, 1, u32::MAX), 0);
    }
}
